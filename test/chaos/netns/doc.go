// Package netns builds a small network of Linux network namespaces for
// chaos tests, and cuts, slows and loses real packets on it.
//
// New makes, for n nodes, a bridge namespace holding a Linux bridge and one
// namespace per node. Each node namespace has two links:
//
//   - peer0, a veth pair to the bridge, with 10.77.0.<i+1>/24: the peer
//     network, which carries raft, gossip and node-to-node API forwarding.
//     Every fault acts here.
//   - client0, a veth pair to the root namespace, with a /30 of its own in
//     10.78.0.0/16: the client link, by which the test process (the
//     clients) reaches the node whatever the peer network does.
//
// The root namespace's lo also gets a service address (ServiceIP,
// 10.79.<slot>.1), which every node namespace routes over its client link:
// servers the nodes use, such as a git server or an http target, listen
// on it and stay reachable whatever the peer network does. Add makes one
// more node namespace after New, for a node that replaces a failed one.
//
// Faults are nftables rules in the node namespaces (a table inet
// honua_chaos whose input chain drops packets arriving on peer0), and
// delays. Delay puts a tc netem qdisc on peer0 where the kernel has netem;
// where it has not, it adds a table ip honua_delay to the node's namespace
// whose output chain queues what the node sends on the peer network to an
// nfqueue (with bypass, so that packets pass when nothing reads the
// queue), and a goroutine of the test process reads the queue on a
// netlink socket made in that namespace and accepts each packet once its
// delay has passed. The queue rule uses nftables' queue expression, or
// xtables' NFQUEUE target through nft_compat on a kernel without it; the
// nft command writes only the former, so the rule is written with
// github.com/google/nftables (queuerule.go), and the queue is read and
// answered over github.com/mdlayher/netlink (nfqueue.go). Drops
// act on arrival, so a delayed packet that is also dropped is dropped
// after its delay. Heal and HealAll remove faults, the delay's qdisc or
// rule and reader included, and String says what is in force. Everything
// is deleted when the test ends, processes left in the namespaces, queue
// readers and the service address included.
//
// It needs root and the ip, nft and tc commands (Debian packages iproute2
// and nftables); without them New skips the test loudly, or fails it when
// the CI environment variable is true, since CI must run these tests.
// Delay needs netem or nfqueue in the kernel, and returns ErrNoDelay
// with neither.
package netns
