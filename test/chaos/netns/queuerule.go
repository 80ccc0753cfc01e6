package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// A node's queue rule lives in a table of its own, ip honua_delay, apart
// from the drop rules of inet honua_chaos (which apply rewrites whole): an
// output chain that sends what the node sends on the peer network to its
// nfqueue, with bypass, so that a packet passes when no reader listens.
// The nft command writes a queue rule only with the kernel's nft_queue
// expression (CONFIG_NFT_QUEUE), which some kernels lack while they have
// xtables' NFQUEUE target through nft_compat, which no nft command writes;
// so the rule is written with google/nftables, with the queue expression
// where the kernel has it and the NFQUEUE target where not.

// netnsDir is where ip netns keeps its named namespaces.
const netnsDir = "/var/run/netns"

// delayTable is the name of the queue rule's table, in family ip.
const delayTable = "honua_delay"

// The delay table and its chain.
var (
	delayTab   = &nftables.Table{Name: delayTable, Family: nftables.TableFamilyIPv4}
	delayChain = &nftables.Chain{
		Name:     "output",
		Table:    delayTab,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookOutput,
		Priority: nftables.ChainPriorityFilter,
	}
)

const (
	ifNameSize = 16 // IFNAMSIZ: meta oifname loads the name padded with zeros
	// ipDaddrOffset is where the destination is in the IPv4 header; the
	// rule compares its first three bytes with 10.77.0.
	ipDaddrOffset = 16

	// NFQUEUE target revision 3 takes struct xt_NFQ_info_v3 {__u16
	// queuenum, queues_total, flags; padded to 8}, in host byte order.
	xtNFQueueRev  = 3
	nfqFlagBypass = 0x1 // NFQ_FLAG_BYPASS
)

// queueExpr is how a rule sends packets to a queue.
type queueExpr int

const (
	exprQueue  queueExpr = iota + 1 // nft_queue: queue num N bypass
	exprTarget                      // xtables NFQUEUE through nft_compat
)

func (e queueExpr) String() string {
	switch e {
	case exprQueue:
		return "nft queue"
	case exprTarget:
		return "xt NFQUEUE via nft_compat"
	}
	return "unknown"
}

// queueRule returns the expressions of the rule
//
//	oifname "peer0" ip daddr 10.77.0.0/24 queue num <num> bypass
//
// with the queue expression e.
func queueRule(num uint16, e queueExpr) []expr.Any {
	name := make([]byte, ifNameSize)
	copy(name, peerIf)
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: ipDaddrOffset, Len: 3},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 77, 0}},
	}
	switch e {
	case exprQueue:
		exprs = append(exprs, &expr.Queue{Num: num, Total: 1, Flag: expr.QueueFlagBypass})
	case exprTarget:
		info := make(xt.Unknown, 8)
		binary.NativeEndian.PutUint16(info[0:], num)
		binary.NativeEndian.PutUint16(info[2:], 1)
		binary.NativeEndian.PutUint16(info[4:], nfqFlagBypass)
		exprs = append(exprs, &expr.Target{Name: "NFQUEUE", Rev: xtNFQueueRev, Info: &info})
	}
	return exprs
}

// addQueueRuleTo queues, on c, the transaction that makes the delay table
// anew, whatever was there: an output chain holding the queue rule.
func addQueueRuleTo(c *nftables.Conn, num uint16, e queueExpr) {
	// Declaring the table first makes deleting it safe.
	c.AddTable(delayTab)
	c.DelTable(delayTab)
	c.AddTable(delayTab)
	c.AddChain(delayChain)
	c.AddRule(&nftables.Rule{Table: delayTab, Chain: delayChain, Exprs: queueRule(num, e)})
}

// nftIn runs on node namespace ns the nf_tables transaction that add
// queues.
func nftIn(ns string, add func(c *nftables.Conn)) error {
	f, err := os.Open(filepath.Join(netnsDir, ns))
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", ns, err)
	}
	defer f.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", ns, err)
	}
	add(c)
	if err := c.Flush(); err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) {
			return fmt.Errorf("%w: nftables in %s: %w", errNoQueue, ns, err)
		}
		return err
	}
	return nil
}

// addQueueRule makes node namespace ns's delay table: with expr if given,
// else with the queue expression, or the NFQUEUE target where the kernel
// has no queue expression. It returns the expression that worked.
func addQueueRule(ns string, num uint16, e queueExpr) (queueExpr, error) {
	try := []queueExpr{exprQueue, exprTarget}
	if e != 0 {
		try = []queueExpr{e}
	}
	var errs []error
	for _, e := range try {
		err := nftIn(ns, func(c *nftables.Conn) { addQueueRuleTo(c, num, e) })
		if err == nil {
			return e, nil
		}
		errs = append(errs, fmt.Errorf("%v: %w", e, err))
		// ENOENT: the kernel has no such expression (or target).
		if errors.Is(err, errNoQueue) ||
			!errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EOPNOTSUPP) {
			return 0, fmt.Errorf("add the queue rule in %s: %w", ns, errors.Join(errs...))
		}
	}
	return 0, fmt.Errorf("%w: add the queue rule in %s: %w", errNoQueue, ns, errors.Join(errs...))
}

// flushQueueRule deletes node namespace ns's queue rule and leaves the
// chain: its hook stays, and so do the packets queued from it
// (unregistering a hook, as deleting the table does, makes the kernel drop
// every packet queued in the namespace). No packet is queued afterwards.
func flushQueueRule(ns string) error {
	if err := nftIn(ns, func(c *nftables.Conn) { c.FlushChain(delayChain) }); err != nil {
		return fmt.Errorf("flush chain ip %s %s in %s: %w", delayTable, delayChain.Name, ns, err)
	}
	return nil
}

// deleteQueueRule deletes node namespace ns's delay table, if there is
// one. Flush its rule and stop its reader first, or the packets it holds
// are dropped.
func deleteQueueRule(ns string) error {
	err := nftIn(ns, func(c *nftables.Conn) {
		c.AddTable(delayTab)
		c.DelTable(delayTab)
	})
	if err != nil {
		return fmt.Errorf("delete table ip %s in %s: %w", delayTable, ns, err)
	}
	return nil
}
