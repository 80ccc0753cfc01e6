package netns

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/honua-io/honua-gitops/test/harness"
)

// hexBytes parses "0a 4d ..." into bytes.
func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	for _, f := range strings.Fields(s) {
		var v byte
		if _, err := fmt.Sscanf(f, "%02x", &v); err != nil {
			t.Fatalf("bad hex %q: %v", f, err)
		}
		b = append(b, v)
	}
	return b
}

// littleEndian skips a test whose hand-computed netlink headers are in
// little-endian host order.
func littleEndian(t *testing.T) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the hand-computed netlink headers are little-endian")
	}
}

// TestQueueEncoding checks the nfnetlink_queue messages as the kernel
// reads them.
func TestQueueEncoding(t *testing.T) {
	littleEndian(t)
	config, err := queueConfig(77)
	if err != nil {
		t.Fatal(err)
	}
	config.Header.Sequence = 1
	verdict, err := queueVerdict(77, 0x01020304)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		m    netlink.Message
		want string
	}{
		{"queue config: bind 77, metadata only, max 16384, fail open and GSO", config, "" +
			"40 00 00 00 02 03 05 00 01 00 00 00 00 00 00 00" + // 64 bytes, QUEUE<<8|CONFIG, REQUEST|ACK, seq 1, port 0
			" 00 00 00 4d" + // AF_UNSPEC, NFNETLINK_V0, queue 77
			" 08 00 01 00 01 00 00 00" + // NFQA_CFG_CMD: BIND
			" 09 00 02 00 00 00 00 00 01 00 00 00" + // NFQA_CFG_PARAMS: range 0, COPY_META, padded
			" 08 00 03 00 00 00 40 00" + // NFQA_CFG_QUEUE_MAXLEN 16384
			" 08 00 04 00 00 00 00 05" + // NFQA_CFG_MASK
			" 08 00 05 00 00 00 00 05"}, // NFQA_CFG_FLAGS: FAIL_OPEN|GSO
		{"verdict: accept packet 0x01020304 of queue 77", verdict, "" +
			"20 00 00 00 01 03 01 00 00 00 00 00 00 00 00 00" + // 32 bytes, QUEUE<<8|VERDICT, REQUEST
			" 00 00 00 4d" +
			" 0c 00 02 00 00 00 00 01 01 02 03 04"}, // NFQA_VERDICT_HDR: NF_ACCEPT, id
	}
	for _, tt := range tests {
		// Conn.Send fills in the length as this does.
		tt.m.Header.Length = uint32(16 + len(tt.m.Data))
		got, err := tt.m.MarshalBinary()
		if want := hexBytes(t, tt.want); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s:\n got % x, %v\nwant % x", tt.name, got, err, want)
		}
	}
}

// TestQueueRuleEncoding checks the delay table's transaction as the
// kernel reads it.
func TestQueueRuleEncoding(t *testing.T) {
	littleEndian(t)
	// The rule's expressions, as the kernel reads them.
	rules := []struct {
		expr queueExpr
		want string
	}{
		{exprTarget, "" +
			"34 00 01 80" + // NFTA_LIST_ELEM, nested, 52 bytes
			" 0b 00 01 00 74 61 72 67 65 74 00 00" + // NFTA_EXPR_NAME "target"
			" 24 00 02 80" + // NFTA_EXPR_DATA, nested
			" 0c 00 01 00 4e 46 51 55 45 55 45 00" + // NFTA_TARGET_NAME "NFQUEUE"
			" 08 00 02 00 00 00 00 03" + // NFTA_TARGET_REV 3
			" 0c 00 03 00 4d 00 01 00 01 00 00 00"}, // xt_NFQ_info_v3: queue 77, 1 queue, BYPASS (host order)
		{exprQueue, "" +
			"2c 00 01 80" +
			" 0a 00 01 00 71 75 65 75 65 00 00 00" + // "queue"
			" 1c 00 02 80" +
			" 06 00 01 00 00 4d 00 00" + // NFTA_QUEUE_NUM 77
			" 06 00 02 00 00 01 00 00" + // NFTA_QUEUE_TOTAL 1
			" 06 00 03 00 00 01 00 00"}, // NFTA_QUEUE_FLAGS BYPASS
	}
	daddr := hexBytes(t, "2c 00 01 80 08 00 01 00 63 6d 70 00 20 00 02 80"+
		" 08 00 01 00 00 00 00 01 08 00 02 00 00 00 00 00"+ // cmp reg 1 eq
		" 0c 00 03 80 07 00 01 00 0a 4d 00 00") // 10.77.0, padded
	oifname := hexBytes(t, "38 00 01 80 08 00 01 00 63 6d 70 00 2c 00 02 80"+
		" 08 00 01 00 00 00 00 01 08 00 02 00 00 00 00 00"+ // cmp reg 1 eq
		" 18 00 03 80 14 00 01 00 70 65 65 72 30 00 00 00 00 00 00 00 00 00 00 00") // "peer0", IFNAMSIZ
	for _, r := range rules {
		msgs := recordNft(t, func(c *nftables.Conn) { addQueueRuleTo(c, 77, r.expr) })
		if got, want := nftTypes(msgs), "0x10 0xa00 0xa02 0xa00 0xa03 0xa06 0x11"; got != want {
			t.Errorf("addQueueRuleTo(%v): messages %s; want %s", r.expr, got, want)
		}
		rule := msgs[len(msgs)-2].Data
		if !bytes.Contains(rule, hexBytes(t, r.want)) {
			t.Errorf("addQueueRuleTo(%v): rule % x\nwant it to hold % x", r.expr, rule, hexBytes(t, r.want))
		}
		if !bytes.Contains(rule, daddr) {
			t.Errorf("addQueueRuleTo(%v): rule % x\nwant it to hold the match of ip daddr 10.77.0.0/24 % x", r.expr, rule, daddr)
		}
		if !bytes.Contains(rule, oifname) {
			t.Errorf("addQueueRuleTo(%v): rule % x\nwant it to hold the match of oifname peer0 % x", r.expr, rule, oifname)
		}
	}

	// Flushing deletes the chain's rules and nothing else.
	msgs := recordNft(t, func(c *nftables.Conn) { c.FlushChain(delayChain) })
	if got, want := nftTypes(msgs), "0x10 0xa08 0x11"; got != want {
		t.Fatalf("flush: messages %s; want %s", got, want)
	}
	if got, want := msgs[1].Data, hexBytes(t, ""+
		" 02 00 00 00"+ // NFPROTO_IPV4
		" 10 00 01 00 68 6f 6e 75 61 5f 64 65 6c 61 79 00"+ // NFTA_RULE_TABLE "honua_delay"
		" 0b 00 02 00 6f 75 74 70 75 74 00 00"); !bytes.Equal(got, want) { // NFTA_RULE_CHAIN "output"
		t.Errorf("flush: DELRULE % x; want % x", got, want)
	}
}

// recordNft returns the netlink messages of the nf_tables transaction
// that add queues, as they would go to the kernel, each acknowledged.
func recordNft(t *testing.T, add func(c *nftables.Conn)) []netlink.Message {
	t.Helper()
	var sent []netlink.Message
	c, err := nftables.New(nftables.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
		sent = append(sent, req...)
		var acks []netlink.Message
		for _, m := range req {
			if m.Header.Flags&netlink.Acknowledge != 0 {
				acks = append(acks, netlink.Message{
					Header: netlink.Header{Type: netlink.Error, Sequence: m.Header.Sequence, PID: m.Header.PID},
					Data:   make([]byte, 4),
				})
			}
		}
		return acks, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	add(c)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return sent
}

// nftTypes lists the types of messages ("0x10 0xa00 ...").
func nftTypes(msgs []netlink.Message) string {
	var types []string
	for _, m := range msgs {
		types = append(types, fmt.Sprintf("%#x", uint16(m.Header.Type)))
	}
	return strings.Join(types, " ")
}

// TestQueueDecoding reads a queued packet's id from the kernel's message,
// and checks how the reader takes what a read returns.
func TestQueueDecoding(t *testing.T) {
	littleEndian(t)
	b := hexBytes(t, ""+
		"28 00 00 00 00 03 00 00 00 00 00 00 00 00 00 00"+ // 40 bytes, QUEUE<<8|PACKET
		" 02 00 00 4d"+ // AF_INET, queue 77
		" 0b 00 01 00 00 00 01 2c 08 00 03 00"+ // NFQA_PACKET_HDR: id 300, IPv4, hook LOCAL_OUT, padded
		" 08 00 06 00 00 00 00 02") // NFQA_IFINDEX_OUTDEV 2
	var packet netlink.Message
	if err := packet.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	id, ok, err := packetID(packet)
	if id != 300 || !ok || err != nil {
		t.Errorf("packetID = %d, %v, %v; want 300, true, nil", id, ok, err)
	}
	ack := netlink.Message{Header: netlink.Header{Type: netlink.Error, Sequence: 7}, Data: make([]byte, 20)}
	if _, ok, _ := packetID(ack); ok {
		t.Errorf("packetID of an NLMSG_ERROR says it is a packet")
	}
	cut := packet
	cut.Data = cut.Data[:10]
	if _, _, err := packetID(cut); err == nil {
		t.Errorf("packetID of a cut message = nil error; want one")
	}

	q := &queue{}
	q.set(delay{d: time.Hour})
	var pending helds
	steps := []struct {
		name                string
		msgs                []netlink.Message
		err                 error
		more                bool
		held, fail, overrun int
	}{
		{"a packet", []netlink.Message{packet}, nil, true, 1, 0, 0},
		{"a verdict refused", nil, &netlink.OpError{Op: "receive", Err: unix.ENOENT}, true, 1, 1, 0},
		{"an overrun", nil, &netlink.OpError{Op: "receive", Err: os.NewSyscallError("recvmsg", unix.ENOBUFS)}, true, 1, 1, 1},
		{"the deadline", nil, &netlink.OpError{Op: "receive", Err: os.ErrDeadlineExceeded}, false, 1, 1, 1},
		{"closed", nil, &netlink.OpError{Op: "receive", Err: net.ErrClosed}, false, 1, 2, 1},
	}
	for _, s := range steps {
		more := q.hold(s.msgs, s.err, &pending)
		if more != s.more || len(pending) != s.held || q.failures != s.fail || q.overruns != s.overrun {
			t.Errorf("after %s: read on %v, %d held, %d failures, %d overruns; want %v, %d, %d, %d",
				s.name, more, len(pending), q.failures, q.overruns, s.more, s.held, s.fail, s.overrun)
		}
	}
	if len(pending) == 1 && pending[0].id != 300 {
		t.Errorf("held packet %d; want 300", pending[0].id)
	}
}

func TestQueueWait(t *testing.T) {
	q := &queue{}
	q.set(delay{d: 100 * time.Millisecond})
	if w := q.wait(); w != 100*time.Millisecond {
		t.Errorf("wait() = %v with no jitter; want 100ms", w)
	}
	q.set(delay{d: 100 * time.Millisecond, jitter: 20 * time.Millisecond})
	for range 1000 {
		if w := q.wait(); w < 80*time.Millisecond || w > 120*time.Millisecond {
			t.Fatalf("wait() = %v; want 100ms±20ms", w)
		}
	}
	nw := fakeNet(2)
	nw.faults.delay[1] = delay{100 * time.Millisecond, 10 * time.Millisecond, byNFQueue}
	if s, want := nw.String(), "delay 1: 100ms±10ms on what it sends (nfqueue)"; !strings.Contains(s, want) {
		t.Errorf("String() = %q; want %q in it", s, want)
	}
}

// TestDelayByNFQueue delays real packets with nfqueue, netem or not: what
// node 0 sends waits at least the delay, nothing is lost, and removing the
// delay (Delay 0, Heal, HealAll, Close) leaves no rule, socket or reader.
func TestDelayByNFQueue(t *testing.T) {
	nw := New(t, 3)
	nw.noNetem = "the test leaves tc netem out"
	h := startHelpers(t, nw)
	const d = 100 * time.Millisecond

	base := h.dial(1, 0, 3, 2*time.Second)
	t.Logf("connects 1->0 without delay: %v µs", base.RTTs)
	delayed := func(t *testing.T, lower time.Duration) {
		t.Helper()
		// A connect 1->0 waits for 0's SYN-ACK, one 0->1 for 0's SYN.
		for _, p := range [][2]int{{1, 0}, {0, 1}} {
			r := h.dial(p[0], p[1], 5, 3*time.Second)
			if r.OK != 5 {
				t.Errorf("connects %d->%d with delay on 0: %+v; want 5 ok", p[0], p[1], r)
			}
			for _, rtt := range r.RTTs {
				if time.Duration(rtt)*time.Microsecond < lower {
					t.Errorf("connect %d->%d took %dµs with delay on 0; want at least %v", p[0], p[1], rtt, lower)
				}
			}
			t.Logf("connects %d->%d with delay on 0: %v µs", p[0], p[1], r.RTTs)
		}
		if got := h.udp(0, 1, 50, 10*time.Second); got != 50 {
			t.Errorf("UDP 0->1 with delay on 0: %d of 50 arrived; want all", got)
		}
		if out := nftTables(t, nw, 0); !strings.Contains(out, "table ip "+delayTable) {
			t.Errorf("node 0 with delay: nft list tables = %q; want table ip %s", out, delayTable)
		}
		if n := netfilterSockets(t, nw, 0); n != 1 {
			t.Errorf("node 0 with delay: %d netfilter netlink sockets; want 1, the queue's", n)
		}
		if s := nw.String(); !strings.Contains(s, "delay 0: ") || !strings.Contains(s, "(nfqueue)") {
			t.Errorf("String() = %q; want node 0's delay by nfqueue", s)
		}
	}
	removed := func(t *testing.T, nodes ...int) {
		t.Helper()
		for _, i := range nodes {
			if out := nftTables(t, nw, i); strings.Contains(out, delayTable) {
				t.Errorf("node %d without delay: nft list tables = %q; want no %s", i, out, delayTable)
			}
			if n := netfilterSockets(t, nw, i); n != 0 {
				t.Errorf("node %d without delay: %d netfilter netlink sockets; want none", i, n)
			}
		}
		noReaders(t)
		if s := nw.String(); strings.Contains(s, "delay") {
			t.Errorf("String() = %q; want no delay", s)
		}
		r := h.dial(1, 0, 3, 2*time.Second)
		for _, rtt := range r.RTTs {
			if time.Duration(rtt)*time.Microsecond >= d {
				t.Errorf("connect 1->0 took %dµs without delay; want less than %v", rtt, d)
			}
		}
		if r.OK != 3 {
			t.Errorf("connects 1->0 without delay: %+v; want 3 ok", r)
		}
		t.Logf("connects 1->0 without delay: %v µs", r.RTTs)
	}

	t.Run("delay and remove", func(t *testing.T) {
		if err := nw.Delay(0, d, 0); err != nil {
			t.Fatal(err)
		}
		if m := nw.DelayMechanism(); !strings.HasPrefix(m, "nfqueue (rule: ") {
			t.Errorf("DelayMechanism() = %q; want nfqueue", m)
		}
		t.Logf("delay by %s", nw.DelayMechanism())
		delayed(t, d)
		if err := nw.Delay(0, 0, 0); err != nil {
			t.Fatal(err)
		}
		removed(t, 0)
	})

	t.Run("removing lets the held packets go", func(t *testing.T) {
		if err := nw.Delay(0, 5*time.Second, 0); err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort(nw.Node(1).PeerIP, strconv.Itoa(helperPort))
		if r := h.must(0, "udpsend "+addr+" held 50"); r.OK != 50 {
			t.Fatalf("node 0 sent %d of 50 datagrams: %s", r.OK, r.Err)
		}
		if got := h.must(1, "udpcount held").OK; got != 0 {
			t.Errorf("%d of 50 datagrams delayed by 5s arrived at once; want none", got)
		}
		if err := nw.Delay(0, 0, 0); err != nil {
			t.Fatal(err)
		}
		err := harness.Poll(10*time.Second, "the 50 datagrams held to arrive", func() error {
			if got := h.must(1, "udpcount held").OK; got < 50 {
				return fmt.Errorf("%d arrived", got)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		hist := nw.History()
		if last := hist[len(hist)-2]; !strings.Contains(last, "nfqueue on 0 stopped") || strings.Contains(last, "failure") {
			t.Errorf("history: %q; want node 0's nfqueue stopped without failures", last)
		}
		removed(t, 0)
	})

	t.Run("jitter replaces, Heal removes", func(t *testing.T) {
		if err := errors.Join(nw.Delay(0, d, 0), nw.Delay(0, 2*d, d)); err != nil {
			t.Fatal(err)
		}
		delayed(t, d)
		if err := nw.Heal(0); err != nil {
			t.Fatal(err)
		}
		removed(t, 0)
	})

	t.Run("with loss, HealAll removes", func(t *testing.T) {
		if err := errors.Join(nw.Delay(0, d, 0), nw.Delay(2, d, 0), nw.Loss(2, 100)); err != nil {
			t.Fatal(err)
		}
		// Node 2's packets wait, then the others drop them on arrival.
		if h.canDial(1, 2) {
			t.Errorf("TCP connect 1->2 succeeded while node 2 loses all it sends\n%s", nw)
		}
		delayed(t, d)
		if err := nw.HealAll(); err != nil {
			t.Fatal(err)
		}
		removed(t, 0, 1, 2)
		h.reach(func(int, int) bool { return true })
	})

	t.Run("Close", func(t *testing.T) {
		if err := nw.Delay(1, d, 0); err != nil {
			t.Fatal(err)
		}
		nw.mu.Lock()
		var st unix.Stat_t
		err := fstat(nw.queues[1].conn, &st)
		nw.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		socket := fmt.Sprintf("socket:[%d]", st.Ino)
		if !openFile(t, socket) {
			t.Fatalf("the queue's socket %s is not among the open files", socket)
		}
		if err := nw.Close(); err != nil {
			t.Fatal(err)
		}
		if openFile(t, socket) {
			t.Errorf("the queue's socket %s is open after Close", socket)
		}
		noReaders(t)
		if err := nw.Delay(1, d, 0); err == nil {
			t.Errorf("Delay after Close = nil; want an error")
		}
	})
	if t.Failed() {
		t.Logf("history:\n%s", strings.Join(nw.History(), "\n"))
	}
}

// fstat stats the socket of conn.
func fstat(conn *netlink.Conn, st *unix.Stat_t) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), st) }); err != nil {
		return err
	}
	return serr
}

// nftTables lists node i's nftables tables.
func nftTables(t *testing.T, nw *Net, i int) string {
	t.Helper()
	out, err := output("", nw.bin.ip, "netns", "exec", nw.Node(i).Namespace, nw.bin.nft, "list", "tables")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// netfilterSockets counts the netfilter netlink sockets that processes
// opened in node i's namespace: none but a queue's while no nft command
// runs there.
func netfilterSockets(t *testing.T, nw *Net, i int) int {
	t.Helper()
	out, err := output("", nw.bin.ip, "netns", "exec", nw.Node(i).Namespace, "cat", "/proc/net/netlink")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		// "sk Eth Pid Groups ...": Eth is the protocol; the kernel's own
		// socket has port id 0.
		if f := strings.Fields(line); len(f) > 2 && f[1] == fmt.Sprint(unix.NETLINK_NETFILTER) && f[2] != "0" {
			n++
		}
	}
	return n
}

// openFile reports whether this process has a file descriptor on target
// ("socket:[123]").
func openFile(t *testing.T, target string) bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && l == target {
			return true
		}
	}
	return false
}

// noReaders waits until no queue reader goroutine runs.
func noReaders(t *testing.T) {
	t.Helper()
	err := harness.Poll(5*time.Second, "the nfqueue readers to end", func() error {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		if n := bytes.Count(buf, []byte("netns.(*queue).run(")); n > 0 {
			return fmt.Errorf("%d still run", n)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}
