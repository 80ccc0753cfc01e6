package netns

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// table is the nftables table that holds a node namespace's faults.
const table = "inet honua_chaos"

// link is the direction from one node to another on the peer network.
type link struct{ from, to int }

// faults are the faults set by Partition, Isolate, DropOneWay, Loss and
// Delay (not those of running flaps).
type faults struct {
	dropped map[link]bool
	loss    map[int]int // node -> percent of what it sends that is lost
	delay   map[int]delay
}

// flap is one running Flap.
type flap struct {
	id     int
	groups [][]int
	period time.Duration
	cancel context.CancelFunc
	done   chan struct{}
	on     bool  // partitioned now; under Net.mu
	err    error // the first failure to apply; read after done
}

// Partition cuts the peer network between groups: no packet passes
// between nodes of different groups, in either direction. Nodes in no group
// keep every link; client links are untouched. It adds to the faults in
// force, and partitioning twice is the same as once.
func (nw *Net) Partition(groups ...[]int) error {
	pairs, err := nw.cut(groups)
	if err != nil {
		return fmt.Errorf("partition %v: %w", groups, err)
	}
	return nw.change(func() {
		for _, l := range pairs {
			nw.faults.dropped[l] = true
		}
		nw.record("partition %s", groupsString(groups))
	})
}

// Isolate cuts node i from every other node on the peer network, while
// clients still reach it on its client link.
func (nw *Net) Isolate(i int) error {
	if err := nw.check(i); err != nil {
		return fmt.Errorf("isolate: %w", err)
	}
	var rest []int
	for j := range nw.list() {
		if j != i {
			rest = append(rest, j)
		}
	}
	return nw.Partition([]int{i}, rest)
}

// DropOneWay drops the packets node from sends node to on the peer network;
// those from to to from still pass. A TCP handshake needs both directions,
// so TCP between the two fails both ways; UDP (memberlist's probes) and
// what is already in flight see the asymmetry.
func (nw *Net) DropOneWay(from, to int) error {
	if err := errors.Join(nw.check(from), nw.check(to)); err != nil {
		return fmt.Errorf("drop %d->%d: %w", from, to, err)
	}
	if from == to {
		return fmt.Errorf("drop %d->%d: a node does not send itself packets on the peer network", from, to)
	}
	return nw.change(func() {
		nw.faults.dropped[link{from, to}] = true
		nw.record("drop %d->%d", from, to)
	})
}

// Loss loses percent (0 to 100) of the packets node i sends on the peer
// network, at random; 0 removes the loss. The other nodes' nftables drop
// them on arrival, so the kernel needs no netem.
func (nw *Net) Loss(i, percent int) error {
	if err := nw.check(i); err != nil {
		return fmt.Errorf("loss: %w", err)
	}
	if percent < 0 || percent > 100 {
		return fmt.Errorf("loss on %d: %d%% is not a percentage", i, percent)
	}
	return nw.change(func() {
		if percent == 0 {
			delete(nw.faults.loss, i)
		} else {
			nw.faults.loss[i] = percent
		}
		nw.record("loss on %d: %d%%", i, percent)
	})
}

// Flap partitions the peer network between groups, heals it a period
// later, partitions it again a period after that, and so on until ctx ends
// or stop is called; then it leaves it healed. Stop waits for that and
// returns the first failure to change the rules. A flap adds to the other
// faults: healing it does not heal them, and Heal leaves it flapping.
func (nw *Net) Flap(ctx context.Context, period time.Duration, groups ...[]int) (stop func() error, err error) {
	if _, err := nw.cut(groups); err != nil {
		return nil, fmt.Errorf("flap %v: %w", groups, err)
	}
	if period <= 0 {
		return nil, fmt.Errorf("flap %v: period %v must be positive", groups, period)
	}
	groups = slices.Clone(groups)
	for g := range groups {
		groups[g] = slices.Clone(groups[g])
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &flap{groups: groups, period: period, cancel: cancel, done: make(chan struct{})}
	nw.mu.Lock()
	if nw.closed {
		nw.mu.Unlock()
		cancel()
		return nil, errors.New("flap: the network is deleted")
	}
	nw.nextID++
	f.id = nw.nextID
	nw.flaps[f.id] = f
	nw.record("flap #%d %s every %v", f.id, groupsString(groups), period)
	nw.mu.Unlock()
	go nw.runFlap(ctx, f)
	return func() error {
		cancel()
		<-f.done
		return f.err
	}, nil
}

func (nw *Net) runFlap(ctx context.Context, f *flap) {
	defer close(f.done)
	set := func(on, end bool) {
		nw.mu.Lock()
		defer nw.mu.Unlock()
		f.on = on
		if end {
			delete(nw.flaps, f.id)
			nw.record("flap #%d stopped", f.id)
		} else if on {
			nw.record("flap #%d partitioned", f.id)
		} else {
			nw.record("flap #%d healed", f.id)
		}
		if nw.closed {
			return
		}
		if err := nw.apply(); err != nil && f.err == nil {
			f.err = fmt.Errorf("flap #%d: %w", f.id, err)
		}
	}
	tick := time.NewTicker(f.period)
	defer tick.Stop()
	on := true
	set(on, false)
	for {
		select {
		case <-ctx.Done():
			set(false, true)
			return
		case <-tick.C:
			on = !on
			set(on, false)
		}
	}
}

// stopFlaps stops every running flap and waits for them.
func (nw *Net) stopFlaps() {
	nw.mu.Lock()
	flaps := slices.Collect(maps.Values(nw.flaps))
	nw.mu.Unlock()
	for _, f := range flaps {
		f.cancel()
		<-f.done
	}
}

// Heal removes the faults that involve node i: the links cut to and from
// it, and its loss and delay. Running flaps go on.
func (nw *Net) Heal(i int) error {
	if err := nw.check(i); err != nil {
		return fmt.Errorf("heal: %w", err)
	}
	var errs []error
	err := nw.change(func() {
		for l := range nw.faults.dropped {
			if l.from == i || l.to == i {
				delete(nw.faults.dropped, l)
			}
		}
		delete(nw.faults.loss, i)
		nw.record("heal %d", i)
		errs = append(errs, nw.undelay(i))
	})
	return errors.Join(append(errs, err)...)
}

// HealAll stops every flap and removes every rule, qdisc and queue
// reader: the peer network is whole again.
func (nw *Net) HealAll() error {
	nw.stopFlaps()
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.closed {
		return errors.New("heal all: the network is deleted")
	}
	nw.faults.init()
	var errs []error
	for i := range nw.list() {
		errs = append(errs, nw.undelay(i), nw.stopQueue(i))
		// Rewrite every namespace's table, whatever we think is there.
		nw.applied[i] = "?"
	}
	nw.faults = faults{}
	nw.faults.init()
	nw.record("heal all")
	errs = append(errs, nw.apply())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("heal all: %w", err)
	}
	return nil
}

func (f *faults) init() {
	if f.dropped == nil {
		f.dropped = map[link]bool{}
		f.loss = map[int]int{}
		f.delay = map[int]delay{}
	}
}

// change edits the faults and applies them.
func (nw *Net) change(edit func()) error {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.closed {
		return errors.New("the network is deleted")
	}
	nw.faults.init()
	edit()
	return nw.apply()
}

// apply brings every node namespace's nftables table to the faults in
// force, rewriting only the tables that change. Callers hold mu.
func (nw *Net) apply() error {
	nw.faults.init()
	dropped := nw.dropped()
	var errs []error
	for j, nd := range nw.list() {
		rules := nw.rules(j, dropped)
		if rules == nw.applied[j] {
			continue
		}
		// Declaring the table first makes deleting it safe when it does
		// not exist; the file is one transaction.
		script := "table " + table + "\ndelete table " + table + "\n" + rules
		if err := run(script, nw.bin.ip, "netns", "exec", nd.Namespace, nw.bin.nft, "-f", "-"); err != nil {
			errs = append(errs, fmt.Errorf("rules of node %d: %w", j, err))
			continue
		}
		nw.applied[j] = rules
	}
	return errors.Join(errs...)
}

// dropped returns the links cut now: by the faults, and by the flaps that
// are partitioned. Callers hold mu.
func (nw *Net) dropped() map[link]bool {
	all := maps.Clone(nw.faults.dropped)
	for _, f := range nw.flaps {
		if f.on {
			pairs, _ := nw.cut(f.groups)
			for _, l := range pairs {
				all[l] = true
			}
		}
	}
	return all
}

// rules returns node j's nftables table, or "" when nothing arriving at it
// is dropped. Every drop happens on arrival, so the sender sees silence, as
// on a broken network, not a local error.
func (nw *Net) rules(j int, dropped map[link]bool) string {
	var from []string
	var lines []string
	for i, nd := range nw.list() {
		if dropped[link{i, j}] {
			from = append(from, nd.PeerIP)
		} else if p, ok := nw.faults.loss[i]; ok && i != j {
			if p == 100 {
				from = append(from, nd.PeerIP)
			} else {
				lines = append(lines, fmt.Sprintf("\t\tiifname %q ip saddr %s numgen random mod 100 < %d drop\n", peerIf, nd.PeerIP, p))
			}
		}
	}
	if len(from) > 0 {
		lines = append([]string{fmt.Sprintf("\t\tiifname %q ip saddr { %s } drop\n", peerIf, strings.Join(from, ", "))}, lines...)
	}
	if len(lines) == 0 {
		return ""
	}
	return "table " + table + " {\n\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n" +
		strings.Join(lines, "") + "\t}\n}\n"
}

// cut returns the links between nodes of different groups, both ways.
func (nw *Net) cut(groups [][]int) ([]link, error) {
	group := map[int]int{}
	for g, nodes := range groups {
		for _, i := range nodes {
			if err := nw.check(i); err != nil {
				return nil, err
			}
			if h, ok := group[i]; ok {
				return nil, fmt.Errorf("node %d is in groups %d and %d", i, h, g)
			}
			group[i] = g
		}
	}
	var pairs []link
	for i, g := range group {
		for j, h := range group {
			if g != h {
				pairs = append(pairs, link{i, j})
			}
		}
	}
	return pairs, nil
}

func (nw *Net) check(i int) error {
	if n := len(nw.list()); i < 0 || i >= n {
		return fmt.Errorf("no node %d (nodes are 0 to %d)", i, n-1)
	}
	return nil
}

func groupsString(groups [][]int) string {
	var parts []string
	for _, g := range groups {
		parts = append(parts, fmt.Sprint(g))
	}
	return strings.Join(parts, " | ")
}

// String describes the network and the faults in force, for failure
// messages, with nodes by index: "netns honua-41-0 (3 nodes): cut 0<->1
// 0<->2; loss 2: 30% of what it sends; flap #1 [0] | [1 2] every 1s,
// partitioned now".
func (nw *Net) String() string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.faults.init()
	nodes := nw.list()
	head := fmt.Sprintf("netns honua-%d-%d (%d nodes)", nw.pid, nw.slot, len(nodes))
	if nw.closed {
		return head + ": deleted"
	}
	var parts []string
	var both, one []string
	for i := range nodes {
		for j := range nodes {
			switch {
			case !nw.faults.dropped[link{i, j}]:
			case nw.faults.dropped[link{j, i}]:
				if i < j {
					both = append(both, fmt.Sprintf("%d<->%d", i, j))
				}
			default:
				one = append(one, fmt.Sprintf("%d->%d", i, j))
			}
		}
	}
	if len(both) > 0 {
		parts = append(parts, "cut "+strings.Join(both, " "))
	}
	if len(one) > 0 {
		parts = append(parts, "one-way drop "+strings.Join(one, " "))
	}
	for _, i := range slices.Sorted(maps.Keys(nw.faults.loss)) {
		parts = append(parts, fmt.Sprintf("loss %d: %d%% of what it sends", i, nw.faults.loss[i]))
	}
	for _, i := range slices.Sorted(maps.Keys(nw.faults.delay)) {
		d := nw.faults.delay[i]
		parts = append(parts, fmt.Sprintf("delay %d: %v±%v on what it sends (%v)", i, d.d, d.jitter, d.by))
	}
	for _, id := range slices.Sorted(maps.Keys(nw.flaps)) {
		f := nw.flaps[id]
		state := "healed now"
		if f.on {
			state = "partitioned now"
		}
		parts = append(parts, fmt.Sprintf("flap #%d %s every %v, %s", id, groupsString(f.groups), f.period, state))
	}
	if len(parts) == 0 {
		return head + ": no faults"
	}
	return head + ": " + strings.Join(parts, "; ")
}
