package netns

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNoDelay is returned by Delay when the kernel can delay no packet: it
// has no netem qdisc (CONFIG_NET_SCH_NETEM), as some VM kernels do not, nor
// an nfqueue to hold packets in (CONFIG_NETFILTER_NETLINK_QUEUE, with
// CONFIG_NFT_QUEUE or CONFIG_NFT_COMPAT and CONFIG_NETFILTER_XT_TARGET_NFQUEUE).
var ErrNoDelay = errors.New("the kernel has neither tc netem nor nfqueue to delay packets with")

// errNoNetem says that tc knows no netem qdisc, errNoQueue that the kernel
// lacks what the nfqueue delay needs.
var (
	errNoNetem = errors.New("the kernel has no tc netem qdisc (CONFIG_NET_SCH_NETEM)")
	errNoQueue = errors.New("the kernel has no nfqueue")
)

// mechanism is how a node's packets are delayed.
type mechanism int

const (
	byNetem   mechanism = iota + 1 // a tc netem qdisc on peer0
	byNFQueue                      // a queue rule and a reader in this process (nfqueue.go)
)

func (m mechanism) String() string {
	switch m {
	case byNetem:
		return "tc netem"
	case byNFQueue:
		return "nfqueue"
	}
	return "none"
}

// delay is the delay of what a node sends on the peer network.
type delay struct {
	d, jitter time.Duration
	by        mechanism
}

// Delay delays every packet node i sends on the peer network by d, plus or
// minus up to jitter, replacing the delay before; d = 0 removes it. It uses
// a tc netem qdisc on peer0 where the kernel has netem, and otherwise
// queues the packets with a rule of node i's namespace (table ip
// honua_delay) to an nfqueue that this process reads and that lets each
// packet go once its time has come; packets may be reordered by jitter. It
// returns ErrNoDelay, wrapped, on a kernel that has neither. Packets a
// drop rule drops (Partition, Loss, ...) are dropped on arrival, after
// their delay.
func (nw *Net) Delay(i int, d, jitter time.Duration) error {
	if err := nw.check(i); err != nil {
		return fmt.Errorf("delay: %w", err)
	}
	if d < 0 || jitter < 0 || jitter > d {
		return fmt.Errorf("delay on %d: %v±%v: want 0 <= jitter <= delay", i, d, jitter)
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.closed {
		return errors.New("delay: the network is deleted")
	}
	nw.faults.init()
	if d == 0 {
		return nw.undelay(i)
	}
	want := delay{d: d, jitter: jitter}
	if nw.noNetem == "" {
		err := nw.netemDelay(i, d, jitter)
		if err == nil {
			want.by = byNetem
			nw.faults.delay[i] = want
			nw.delayBy = want.by
			nw.record("delay on %d: %v±%v (tc netem)", i, d, jitter)
			return nil
		}
		if !errors.Is(err, errNoNetem) {
			return fmt.Errorf("delay on %d: %w", i, err)
		}
		nw.noNetem = errNoNetem.Error()
		nw.record("delays use nfqueue: %v", err)
	}
	want.by = byNFQueue
	if err := nw.queueDelay(i, want); err != nil {
		if errors.Is(err, errNoQueue) {
			return fmt.Errorf("delay on %d: %w: %s; %v", i, ErrNoDelay, nw.noNetem, err)
		}
		return fmt.Errorf("delay on %d: %w", i, err)
	}
	nw.faults.delay[i] = want
	nw.delayBy = want.by
	nw.record("delay on %d: %v±%v (nfqueue, %v)", i, d, jitter, nw.queueExpr)
	return nil
}

// DelayMechanism says how Delay delays packets here: "tc netem", or
// "nfqueue (rule: ...), as ..." with the queue rule and why not netem; ""
// before a Delay succeeded.
func (nw *Net) DelayMechanism() string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	switch nw.delayBy {
	case byNetem:
		return byNetem.String()
	case byNFQueue:
		return fmt.Sprintf("nfqueue (rule: %v), as %s", nw.queueExpr, nw.noNetem)
	}
	return ""
}

// netemDelay puts a netem qdisc on node i's peer0, replacing the one
// before. Callers hold mu.
func (nw *Net) netemDelay(i int, d, jitter time.Duration) error {
	args := []string{"-n", nw.list()[i].Namespace, "qdisc", "replace", "dev", peerIf, "root", "netem",
		"delay", fmt.Sprintf("%dus", d.Microseconds())}
	if jitter > 0 {
		args = append(args, fmt.Sprintf("%dus", jitter.Microseconds()))
	}
	if err := run("", nw.bin.tc, args...); err != nil {
		if strings.Contains(err.Error(), "qdisc kind is unknown") {
			return fmt.Errorf("%w: %v", errNoNetem, err)
		}
		return err
	}
	return nil
}

// queueDelay starts node i's queue reader, or changes its delay, and adds
// its queue rule. Callers hold mu.
func (nw *Net) queueDelay(i int, want delay) error {
	if q := nw.queues[i]; q != nil {
		q.set(want)
		return nil
	}
	ns := nw.list()[i].Namespace
	q, err := startQueue(ns, queueNum, want)
	if err != nil {
		return err
	}
	// The reader listens before the rule sends it anything.
	expr, err := addQueueRule(ns, queueNum, nw.queueExpr)
	if err != nil {
		q.stop()
		return err
	}
	nw.queueExpr = expr
	if nw.queues == nil {
		nw.queues = map[int]*queue{}
	}
	nw.queues[i] = q
	return nil
}

// undelay removes node i's delay, if it has one. Callers hold mu.
func (nw *Net) undelay(i int) error {
	dl, ok := nw.faults.delay[i]
	if !ok {
		return nil
	}
	delete(nw.faults.delay, i)
	var err error
	switch dl.by {
	case byNetem:
		err = run("", nw.bin.tc, "-n", nw.list()[i].Namespace, "qdisc", "del", "dev", peerIf, "root")
	case byNFQueue:
		err = nw.stopQueue(i)
	}
	if err != nil {
		return fmt.Errorf("remove delay on %d: %w", i, err)
	}
	nw.record("delay on %d removed", i)
	return nil
}

// stopQueue removes node i's queue rule, then stops its reader, which
// lets every packet it holds go at once, then deletes the rule's table
// (deleting it first would drop the packets held). Callers hold mu.
func (nw *Net) stopQueue(i int) error {
	q := nw.queues[i]
	if q == nil {
		return nil
	}
	delete(nw.queues, i)
	err := flushQueueRule(q.ns)
	// Even when the rule stays, its bypass lets packets pass once no
	// reader listens.
	q.stop()
	nw.record("nfqueue on %d stopped: %s", i, q.stats())
	return errors.Join(err, deleteQueueRule(q.ns))
}

// stopQueues stops every queue reader without deleting the rules, for
// Close: the namespaces go with them. Callers hold mu.
func (nw *Net) stopQueues() {
	for i, q := range nw.queues {
		q.stop()
		nw.record("nfqueue on %d stopped: %s", i, q.stats())
	}
	nw.queues = nil
}
