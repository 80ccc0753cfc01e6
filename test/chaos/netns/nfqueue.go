package netns

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The nfnetlink_queue protocol (linux/netfilter/nfnetlink_queue.h): the
// kernel sends each packet a queue rule matches to the socket bound to the
// queue, and holds it until the socket says what to do with it. Messages
// are netlink messages whose data is an nfgenmsg (family, version, queue
// number) and attributes, in network byte order.
const (
	nfqnlMsgPacket  = 0 // NFQNL_MSG_PACKET
	nfqnlMsgVerdict = 1 // NFQNL_MSG_VERDICT
	nfqnlMsgConfig  = 2 // NFQNL_MSG_CONFIG

	nfqaPacketHdr  = 1 // NFQA_PACKET_HDR: struct nfqnl_msg_packet_hdr, id first
	nfqaVerdictHdr = 2 // NFQA_VERDICT_HDR: struct nfqnl_msg_verdict_hdr

	nfqaCfgCmd      = 1 // NFQA_CFG_CMD: struct nfqnl_msg_config_cmd
	nfqaCfgParams   = 2 // NFQA_CFG_PARAMS: struct nfqnl_msg_config_params
	nfqaCfgQueueMax = 3 // NFQA_CFG_QUEUE_MAXLEN
	nfqaCfgMask     = 4 // NFQA_CFG_MASK
	nfqaCfgFlags    = 5 // NFQA_CFG_FLAGS

	nfqnlCfgCmdBind  = 1   // NFQNL_CFG_CMD_BIND
	nfqnlCopyMeta    = 1   // NFQNL_COPY_META: no payload
	nfqaCfgFFailOpen = 0x1 // accept, not drop, what does not fit in the queue
	nfqaCfgFGSO      = 0x4 // queue GSO packets whole

	nfAccept = 1 // NF_ACCEPT

	nfgenHdrLen = 4 // struct nfgenmsg
)

// queueNum is the queue a node's delay rule sends its packets to; queues
// are per namespace, so every node uses the same number.
const queueNum = 77

// queueMaxLen is how many packets the kernel holds for the reader at most;
// past that it lets them pass (fail open).
const queueMaxLen = 16384

// drainWait is how long stop waits for more packets in the socket once it
// is empty: the rule is gone by then, so only packets already queued come.
const drainWait = 100 * time.Millisecond

// queueMsg is a message of the queue subsystem to queue num.
func queueMsg(typ uint16, flags netlink.HeaderFlags, num uint16, ae *netlink.AttributeEncoder) (netlink.Message, error) {
	attrs, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, err
	}
	data := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0}
	data = binary.BigEndian.AppendUint16(data, num)
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_QUEUE<<8 | typ), Flags: flags},
		Data:   append(data, attrs...),
	}, nil
}

// queueConfig is the message that binds a socket to queue num, with
// metadata only, fail-open and GSO packets whole.
func queueConfig(num uint16) (netlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Bytes(nfqaCfgCmd, []byte{nfqnlCfgCmdBind, 0, 0, 0})     // command, pad, pf (unused)
	ae.Bytes(nfqaCfgParams, []byte{0, 0, 0, 0, nfqnlCopyMeta}) // copy range, copy mode
	ae.Uint32(nfqaCfgQueueMax, queueMaxLen)
	ae.Uint32(nfqaCfgMask, nfqaCfgFFailOpen|nfqaCfgFGSO)
	ae.Uint32(nfqaCfgFlags, nfqaCfgFFailOpen|nfqaCfgFGSO)
	return queueMsg(nfqnlMsgConfig, netlink.Request|netlink.Acknowledge, num, ae)
}

// queueVerdict is the message that accepts packet id of queue num.
func queueVerdict(num uint16, id uint32) (netlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(nfqaVerdictHdr, binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, nfAccept), id))
	return queueMsg(nfqnlMsgVerdict, netlink.Request, num, ae)
}

// packetID returns the id of a queued packet's message, and false for
// another message.
func packetID(m netlink.Message) (uint32, bool, error) {
	if m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_QUEUE<<8|nfqnlMsgPacket) {
		return 0, false, nil
	}
	if len(m.Data) < nfgenHdrLen {
		return 0, false, errors.New("short nfqueue packet message")
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[nfgenHdrLen:])
	if err != nil {
		return 0, false, fmt.Errorf("nfqueue packet message: %w", err)
	}
	var hdr []byte
	for ad.Next() {
		if ad.Type() == nfqaPacketHdr {
			hdr = ad.Bytes()
		}
	}
	if err := ad.Err(); err != nil {
		return 0, false, fmt.Errorf("nfqueue packet message: %w", err)
	}
	if len(hdr) < 4 {
		return 0, false, errors.New("nfqueue packet message without a packet header")
	}
	return binary.BigEndian.Uint32(hdr), true, nil
}

// dialIn opens a netfilter netlink socket in node namespace ns.
func dialIn(ns string) (*netlink.Conn, error) {
	f, err := os.Open(filepath.Join(netnsDir, ns))
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", ns, err)
	}
	defer f.Close()
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(f.Fd())})
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) {
		return nil, fmt.Errorf("%w: netfilter netlink socket in %s: %w", errNoQueue, ns, err)
	} else if err != nil {
		return nil, fmt.Errorf("netfilter netlink socket in %s: %w", ns, err)
	}
	return c, nil
}

// queue holds the packets one node namespace sends on the peer network
// (its delay rule queues them) for their delay, then lets them go on:
// one goroutine reads them from the queue's netlink socket and accepts
// each once its time has come. Reordering by jitter is allowed.
type queue struct {
	ns       string
	num      uint16
	conn     *netlink.Conn // of the node's namespace
	span     atomic.Pointer[delay]
	stopping atomic.Bool
	done     chan struct{}
	once     sync.Once

	// Written by run, read after done.
	delayed  int   // packets held and accepted
	overruns int   // times the socket's buffer overflowed (the kernel accepted those packets at once)
	failures int   // verdicts or reads that failed
	lastErr  error // the last of those failures
}

// startQueue binds a socket in namespace ns to queue num and starts
// delaying what arrives there by span.
func startQueue(ns string, num uint16, span delay) (*queue, error) {
	conn, err := dialIn(ns)
	if err != nil {
		return nil, err
	}
	// Room for bursts: the kernel accepts what overflows (fail open), so
	// an overflow only loses some delay. As root this is SO_RCVBUFFORCE.
	_ = conn.SetReadBuffer(8 << 20)
	cfg, err := queueConfig(num)
	if err == nil {
		_, err = conn.Execute(cfg)
	}
	if err != nil {
		conn.Close()
		// EINVAL: nfnetlink has no queue subsystem (the message is right,
		// TestQueueEncoding checks it).
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, fmt.Errorf("%w: bind nfqueue %d in %s: %w", errNoQueue, num, ns, err)
		}
		return nil, fmt.Errorf("bind nfqueue %d in %s: %w", num, ns, err)
	}
	q := &queue{ns: ns, num: num, conn: conn, done: make(chan struct{})}
	q.set(span)
	go q.run()
	return q, nil
}

// set changes the delay of the packets queued from now on.
func (q *queue) set(span delay) { q.span.Store(&span) }

// stop accepts every packet held at once, closes the socket and waits for
// the goroutine. Remove the rule first: a packet queued after stop passes
// (the rule's bypass), and the kernel drops those queued when the socket
// closes.
func (q *queue) stop() {
	q.once.Do(func() {
		// run sets a read deadline, then looks at stopping: either it sees
		// it, or this deadline comes after its own and wakes it.
		q.stopping.Store(true)
		_ = q.conn.SetReadDeadline(time.Unix(1, 0))
		<-q.done
		q.conn.Close()
	})
}

// stats says what the queue did, after stop.
func (q *queue) stats() string {
	s := fmt.Sprintf("%d packets delayed, %d overruns", q.delayed, q.overruns)
	if q.failures > 0 {
		s += fmt.Sprintf(", %d failures (the last: %v)", q.failures, q.lastErr)
	}
	return s
}

// held is a packet waiting for its time.
type held struct {
	id uint32
	at time.Time
}

// helds is a heap of packets, the earliest due first.
type helds []held

func (h helds) Len() int           { return len(h) }
func (h helds) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h helds) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *helds) Push(x any)        { *h = append(*h, x.(held)) }
func (h *helds) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// run reads packets and accepts each when its delay has passed, waiting
// in the socket's read with the next due packet as deadline; on stop it
// accepts every packet held or waiting in the socket and returns.
func (q *queue) run() {
	defer close(q.done)
	var pending helds
	for {
		var next time.Time // none: wait for packets or stop
		if len(pending) > 0 {
			next = pending[0].at
		}
		_ = q.conn.SetReadDeadline(next)
		if q.stopping.Load() {
			q.drain(&pending)
			q.release(&pending, true)
			return
		}
		msgs, err := q.conn.Receive()
		if !q.hold(msgs, err, &pending) && !errors.Is(err, os.ErrDeadlineExceeded) {
			return // the socket is closed
		}
		q.release(&pending, false)
	}
}

// drain reads what the socket still holds, for up to a full queue.
func (q *queue) drain(pending *helds) {
	for range queueMaxLen {
		_ = q.conn.SetReadDeadline(time.Now().Add(drainWait))
		msgs, err := q.conn.Receive()
		if !q.hold(msgs, err, pending) {
			return
		}
	}
}

// hold holds each packet of msgs for its delay, and reports whether the
// socket may be read on: false after a deadline or a failure.
func (q *queue) hold(msgs []netlink.Message, err error, pending *helds) bool {
	switch {
	case errors.Is(err, unix.ENOBUFS):
		q.overruns++
		return true
	case errors.Is(err, os.ErrDeadlineExceeded):
		return false
	case errors.Is(err, net.ErrClosed):
		q.fail(fmt.Errorf("read: %w", err))
		return false
	case err != nil:
		// Receive reports an error acknowledgement, as of a verdict the
		// kernel refused, as an error too.
		q.fail(fmt.Errorf("read: %w", err))
		return true
	}
	now := time.Now()
	for _, m := range msgs {
		id, ok, err := packetID(m)
		if err != nil {
			q.fail(err)
		}
		if ok {
			heap.Push(pending, held{id: id, at: now.Add(q.wait())})
		}
	}
	return true
}

// wait returns the delay of a packet queued now: d ± up to jitter.
func (q *queue) wait() time.Duration {
	s := q.span.Load()
	if s.jitter <= 0 {
		return s.d
	}
	return max(s.d-s.jitter+rand.N(2*s.jitter+1), 0)
}

// release accepts the packets whose time has come, or all when stopping.
func (q *queue) release(pending *helds, all bool) {
	now := time.Now()
	for len(*pending) > 0 && (all || !(*pending)[0].at.After(now)) {
		p := heap.Pop(pending).(held)
		m, err := queueVerdict(q.num, p.id)
		if err == nil {
			_, err = q.conn.Send(m)
		}
		if err != nil {
			q.fail(fmt.Errorf("verdict: %w", err))
			continue
		}
		q.delayed++
	}
}

func (q *queue) fail(err error) {
	q.failures++
	q.lastErr = err
}
