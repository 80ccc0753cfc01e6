package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// TB is the part of testing.TB that New uses.
type TB interface {
	harness.TB
	Skipf(format string, args ...any)
}

// MaxNodes is the most nodes one Net holds, those added by Add included:
// each takes a /30 of the Net's /24 of client links.
const MaxNodes = 63

// The ports honuad listens on inside a node's namespace (NodeConfig). Every
// node has its own namespace, so they are the same for all.
const (
	APIPort    = 7201
	RaftPort   = 7301
	GossipPort = 7401
)

// peerIf and clientIf are the node ends of a node's two links.
const (
	peerIf   = "peer0"
	clientIf = "client0"
)

// Net is a bridge namespace and n node namespaces, and the faults in force
// on the peer network between them. Its methods are safe for concurrent use.
type Net struct {
	t    TB
	pid  int
	slot int // this Net's /24 of client links is 10.78.<slot>.0/24
	bin  tools
	// nodes is replaced, never changed, when Add adds one: read it with
	// list, from any goroutine.
	nodes atomic.Pointer[[]Node]

	mu      sync.Mutex
	closed  bool
	made    []string // namespaces created, bridge first
	service bool     // the service address is on the root namespace's lo
	faults  faults
	applied []string // nft script in force in each node namespace
	flaps   map[int]*flap
	nextID  int
	history []string

	// How Delay delays (delay.go): why tc netem cannot ("" while it can or
	// before it was tried), the mechanism of the last Delay, the queue
	// rule's expression that works (0 before one did), and the nfqueue
	// readers by node.
	noNetem   string
	delayBy   mechanism
	queueExpr queueExpr
	queues    map[int]*queue
}

// Node is one node namespace: its name and its two addresses.
type Node struct {
	// Index is the node's index in the Net, from 0.
	Index int
	// Namespace is the network namespace's name (ip netns).
	Namespace string
	// PeerIP is the node's address on the peer network, 10.77.0.<Index+1>.
	PeerIP string
	// ClientIP is the node's end of its client link, which the test
	// process reaches directly.
	ClientIP string
	// HostIP is the root namespace's end of the client link.
	HostIP string
}

// list returns the nodes; the slice is never changed afterwards.
func (nw *Net) list() []Node {
	if p := nw.nodes.Load(); p != nil {
		return *p
	}
	return nil
}

type tools struct{ ip, nft, tc string }

// Available reports why namespaces cannot be made here (not root, or a
// command missing), or nil.
func Available() error {
	_, err := lookTools()
	return err
}

func lookTools() (tools, error) {
	var b tools
	var missing []string
	for _, c := range []struct {
		name, pkg string
		dst       *string
	}{{"ip", "iproute2", &b.ip}, {"nft", "nftables", &b.nft}, {"tc", "iproute2", &b.tc}} {
		path, err := exec.LookPath(c.name)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", c.name, c.pkg))
			continue
		}
		*c.dst = path
	}
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, fmt.Sprintf("not running as root (euid %d)", os.Geteuid()))
	}
	if len(missing) > 0 {
		problems = append(problems, "missing "+strings.Join(missing, ", "))
	}
	if len(problems) > 0 {
		return b, errors.New(strings.Join(problems, "; ") +
			": the network-partition tests need root and apt-get install iproute2 nftables")
	}
	return b, nil
}

// bannerOnce prints the skip banner once per test binary.
var bannerOnce sync.Once

// New makes a network of n node namespaces and deletes it when the test
// ends, killing whatever still runs in it. Without root or the ip, nft and
// tc commands it skips the test, with a banner on stderr, unless CI=true,
// where it fails it. It fails the test when the network cannot be made.
func New(t TB, n int) *Net {
	t.Helper()
	if n < 1 || n > MaxNodes {
		t.Fatalf("netns.New(%d): want 1 to %d nodes", n, MaxNodes)
	}
	bin, err := lookTools()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("netns: %v (CI=true, so this fails instead of skipping)", err)
		}
		bannerOnce.Do(func() {
			banner := strings.Repeat("!", 78)
			fmt.Fprintf(os.Stderr, "\n%s\n!!! SKIPPING NETWORK-PARTITION TESTS: %v\n%s\n\n", banner, err, banner)
		})
		t.Skipf("SKIPPED, NO NETWORK NAMESPACES: %v", err)
	}
	nw := &Net{t: t, pid: os.Getpid(), bin: bin, flaps: map[int]*flap{}}
	t.Cleanup(func() {
		if err := nw.Close(); err != nil {
			t.Logf("netns cleanup: %v", err)
		}
	})
	if err := nw.create(n); err != nil {
		t.Fatalf("netns: make a network of %d nodes: %v", n, err)
	}
	return nw
}

// nsName names a namespace of this process's Net in the given slot; the
// pid lets a later run delete what a killed one left behind.
func nsName(pid, slot int, suffix string) string {
	return fmt.Sprintf("honua-%d-%d-%s", pid, slot, suffix)
}

// hostIf names the root namespace's end of node i's client link (at most
// 15 bytes: "hn255c62").
func hostIf(slot, i int) string { return fmt.Sprintf("hn%dc%d", slot, i) }

func (nw *Net) bridgeNS() string { return nsName(nw.pid, nw.slot, "br") }

func (nw *Net) create(n int) error {
	unlock, err := lockSlots()
	if err != nil {
		return err
	}
	defer unlock()
	sweepStale(nw.bin.ip)
	slot, err := freeSlot(nw.bin.ip)
	if err != nil {
		return err
	}
	nw.slot = slot
	ip := nw.bin.ip
	br := nw.bridgeNS()
	if err := nw.addNS(br); err != nil {
		return err
	}
	steps := [][]string{
		{"-n", br, "link", "set", "lo", "up"},
		{"-n", br, "link", "add", "br0", "type", "bridge"},
		{"-n", br, "link", "set", "br0", "up"},
		// A killed run may have left it: replace, not add.
		{"addr", "replace", nw.ServiceIP() + "/32", "dev", "lo"},
	}
	if err := runAll(ip, steps); err != nil {
		return err
	}
	nw.mu.Lock()
	nw.service = true
	nw.mu.Unlock()
	for i := range n {
		if _, err := nw.makeNode(i); err != nil {
			return err
		}
	}
	nodes := nw.list()
	nw.mu.Lock()
	nw.record("made %d node namespaces %s..%s, bridge %s, service address %s",
		n, nodes[0].Namespace, nodes[n-1].Namespace, br, nw.ServiceIP())
	nw.mu.Unlock()
	return nil
}

// makeNode makes node i's namespace and links, and publishes it.
func (nw *Net) makeNode(i int) (Node, error) {
	nd := Node{
		Index:     i,
		Namespace: nsName(nw.pid, nw.slot, "n"+strconv.Itoa(i)),
		PeerIP:    fmt.Sprintf("10.77.0.%d", i+1),
		ClientIP:  fmt.Sprintf("10.78.%d.%d", nw.slot, 4*i+2),
		HostIP:    fmt.Sprintf("10.78.%d.%d", nw.slot, 4*i+1),
	}
	if err := nw.addNS(nd.Namespace); err != nil {
		return nd, err
	}
	port, host := "n"+strconv.Itoa(i), hostIf(nw.slot, i)
	ns, br := nd.Namespace, nw.bridgeNS()
	steps := [][]string{
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "add", peerIf, "type", "veth", "peer", "name", port, "netns", br},
		{"-n", ns, "addr", "add", nd.PeerIP + "/24", "dev", peerIf},
		{"-n", ns, "link", "set", peerIf, "up"},
		{"-n", br, "link", "set", port, "master", "br0"},
		{"-n", br, "link", "set", port, "up"},
		{"link", "add", host, "type", "veth", "peer", "name", clientIf, "netns", ns},
		{"addr", "add", nd.HostIP + "/30", "dev", host},
		{"link", "set", host, "up"},
		{"-n", ns, "addr", "add", nd.ClientIP + "/30", "dev", clientIf},
		{"-n", ns, "link", "set", clientIf, "up"},
		{"-n", ns, "route", "add", nw.ServiceIP() + "/32", "via", nd.HostIP, "dev", clientIf},
	}
	if err := runAll(nw.bin.ip, steps); err != nil {
		return nd, err
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nodes := append(slices.Clone(nw.list()), nd)
	nw.nodes.Store(&nodes)
	nw.applied = append(nw.applied, "")
	return nd, nil
}

// Add makes one more node namespace, as New made the others, and returns
// its index: a node that replaces a failed one runs there. Faults in force
// and running flaps leave it out: it keeps every link.
func (nw *Net) Add() (int, error) {
	nw.mu.Lock()
	closed := nw.closed
	nw.mu.Unlock()
	if closed {
		return 0, errors.New("add a node: the network is deleted")
	}
	i := len(nw.list())
	if i >= MaxNodes {
		return 0, fmt.Errorf("add a node: a network holds at most %d", MaxNodes)
	}
	nd, err := nw.makeNode(i)
	if err != nil {
		return 0, fmt.Errorf("add node %d: %w", i, err)
	}
	nw.mu.Lock()
	nw.record("added node namespace %s", nd.Namespace)
	nw.mu.Unlock()
	return i, nil
}

// ServiceIP returns the service address: an address of the root namespace
// (on its lo, 10.79.<slot>.1) that every node namespace reaches over its
// client link, whatever the peer network does. Servers the nodes use — a
// git server, a stand-in for an http target — listen on it; the test
// process reaches it too. Close removes it.
func (nw *Net) ServiceIP() string { return fmt.Sprintf("10.79.%d.1", nw.slot) }

func (nw *Net) addNS(name string) error {
	if err := run("", nw.bin.ip, "netns", "add", name); err != nil {
		return err
	}
	nw.mu.Lock()
	nw.made = append(nw.made, name)
	nw.mu.Unlock()
	return nil
}

// Close stops every flap and nfqueue reader, kills the processes in the
// namespaces and deletes them. The test's cleanup calls it; calling it
// again does nothing.
func (nw *Net) Close() error {
	nw.stopFlaps()
	nw.mu.Lock()
	if nw.closed {
		nw.mu.Unlock()
		return nil
	}
	nw.closed = true
	// The sockets hold on to their namespaces.
	nw.stopQueues()
	made, service := nw.made, nw.service
	nw.mu.Unlock()
	var errs []error
	for _, ns := range made {
		errs = append(errs, deleteNS(nw.bin.ip, ns))
	}
	if service {
		errs = append(errs, run("", nw.bin.ip, "addr", "del", nw.ServiceIP()+"/32", "dev", "lo"))
	}
	// The kernel destroys the namespaces' veths, the client links' root
	// ends included, once nothing refers to the namespaces: when the
	// timers of the TCP connections the processes left run out (deleteNS
	// shortens them to seconds). A new Net picks a slot whose client links
	// are gone.
	return errors.Join(errs...)
}

// N returns the number of nodes.
func (nw *Net) N() int { return len(nw.list()) }

// Node returns node i's namespace and addresses. Like Exec and NodeConfig,
// it fails the test for an index out of range, so call it from the test's
// goroutine.
func (nw *Net) Node(i int) Node {
	nw.t.Helper()
	nodes := nw.list()
	if i < 0 || i >= len(nodes) {
		nw.t.Fatalf("netns: node %d of %d", i, len(nodes))
	}
	return nodes[i]
}

// Exec returns the command prefix that runs a program in node i's
// namespace: ip netns exec <namespace>. ip execs the program in place, so
// the process started is the program's own and signals reach it.
func (nw *Net) Exec(i int) []string {
	nw.t.Helper()
	return []string{nw.bin.ip, "netns", "exec", nw.Node(i).Namespace}
}

// NodeConfig returns a harness node configuration that runs honuad in node
// i's namespace: raft and gossip on its peer address, the API on all its
// addresses and advertised at its peer address, and reached by the test at
// its client address. Add BootstrapExpect, and --tokens-file or
// --insecure-no-auth (honuad refuses an API on 0.0.0.0 without either).
func (nw *Net) NodeConfig(i int) harness.NodeConfig {
	nw.t.Helper()
	nd := nw.Node(i)
	hp := func(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
	return harness.NodeConfig{
		Exec:          nw.Exec(i),
		HTTPAddr:      hp("0.0.0.0", APIPort),
		RaftAddr:      hp(nd.PeerIP, RaftPort),
		GossipAddr:    hp(nd.PeerIP, GossipPort),
		AdvertiseAddr: nd.PeerIP,
		APIReach:      hp(nd.ClientIP, APIPort),
	}
}

// History returns every change made to the network, oldest first, each
// with the time it was made.
func (nw *Net) History() []string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return append([]string(nil), nw.history...)
}

// record adds a line to the history. Callers hold mu.
func (nw *Net) record(format string, args ...any) {
	nw.history = append(nw.history, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
}
