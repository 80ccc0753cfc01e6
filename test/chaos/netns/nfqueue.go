package netns

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The nfnetlink_queue protocol (linux/netfilter/nfnetlink_queue.h): the
// kernel sends each packet a queue rule matches to the socket bound to the
// queue, and holds it until the socket says what to do with it.
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

	nlmFRequest = unix.NLM_F_REQUEST
	nlmFAck     = unix.NLM_F_ACK
)

// queueNum is the queue a node's delay rule sends its packets to; queues
// are per namespace, so every node uses the same number.
const queueNum = 77

// queueMaxLen is how many packets the kernel holds for the reader at most;
// past that it lets them pass (fail open).
const queueMaxLen = 16384

// queueConfig is the message that binds a socket to queue num, with
// metadata only, fail-open and GSO packets whole.
func queueConfig(num uint16, seq uint32) []byte {
	m := newNfMsg(unix.NFNL_SUBSYS_QUEUE<<8|nfqnlMsgConfig, nlmFRequest|nlmFAck, seq, unix.AF_UNSPEC, num)
	m.attr(nfqaCfgCmd, []byte{nfqnlCfgCmdBind, 0, 0, 0})     // command, pad, pf (unused)
	m.attr(nfqaCfgParams, []byte{0, 0, 0, 0, nfqnlCopyMeta}) // copy range (big-endian), copy mode
	m.be32(nfqaCfgQueueMax, queueMaxLen)
	m.be32(nfqaCfgMask, nfqaCfgFFailOpen|nfqaCfgFGSO)
	m.be32(nfqaCfgFlags, nfqaCfgFFailOpen|nfqaCfgFGSO)
	return m.bytes()
}

// queueVerdict is the message that accepts packet id of queue num.
func queueVerdict(num uint16, id uint32) []byte {
	m := newNfMsg(unix.NFNL_SUBSYS_QUEUE<<8|nfqnlMsgVerdict, nlmFRequest, 0, unix.AF_UNSPEC, num)
	v := be.AppendUint32(nil, nfAccept)
	m.attr(nfqaVerdictHdr, be.AppendUint32(v, id))
	return m.bytes()
}

// packetID returns the id of a queued packet's message, and false for
// another message.
func packetID(m nlMessage) (uint32, bool, error) {
	if m.typ != unix.NFNL_SUBSYS_QUEUE<<8|nfqnlMsgPacket {
		return 0, false, nil
	}
	if len(m.data) < nfgenHdrLen {
		return 0, false, errors.New("short nfqueue packet message")
	}
	as, err := attrs(m.data[nfgenHdrLen:])
	if err != nil {
		return 0, false, err
	}
	hdr := as[nfqaPacketHdr]
	if len(hdr) < 4 {
		return 0, false, errors.New("nfqueue packet message without a packet header")
	}
	return be.Uint32(hdr), true, nil
}

// queue holds the packets one node namespace sends on the peer network
// (its delay rule queues them) for their delay, then lets them go on:
// one goroutine reads them from the queue's netlink socket and accepts
// each once its time has come. Reordering by jitter is allowed.
type queue struct {
	ns   string
	num  uint16
	fd   int // netlink socket, of the node's namespace
	wake int // eventfd: stop
	span atomic.Pointer[delay]
	done chan struct{}
	once sync.Once

	// Written by run, read after done.
	delayed  int   // packets held and accepted
	overruns int   // times the socket's buffer overflowed (the kernel accepted those packets at once)
	failures int   // verdicts or reads that failed
	lastErr  error // the last of those failures
}

// startQueue binds a socket in namespace ns to queue num and starts
// delaying what arrives there by span.
func startQueue(ns string, num uint16, span delay) (*queue, error) {
	fd, err := socketIn(ns)
	if err != nil {
		return nil, err
	}
	// Room for bursts: the kernel accepts what overflows (fail open), so
	// an overflow only loses some delay.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	if err := exchange(fd, queueConfig(num, 1), 1); err != nil {
		unix.Close(fd)
		// EINVAL: nfnetlink has no queue subsystem (the message is right,
		// TestNetlinkEncoding checks it).
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, fmt.Errorf("%w: bind nfqueue %d in %s: %w", errNoQueue, num, ns, err)
		}
		return nil, fmt.Errorf("bind nfqueue %d in %s: %w", num, ns, err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	q := &queue{ns: ns, num: num, fd: fd, wake: wake, done: make(chan struct{})}
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
		_, _ = unix.Write(q.wake, ne.AppendUint64(nil, 1))
		<-q.done
		unix.Close(q.fd)
		unix.Close(q.wake)
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
// in ppoll for the socket, the next due packet, or stop; on stop it
// accepts every packet held or waiting in the socket and returns.
func (q *queue) run() {
	defer close(q.done)
	var pending helds
	buf := make([]byte, 1<<16)
	fds := []unix.PollFd{{Fd: int32(q.fd), Events: unix.POLLIN}, {Fd: int32(q.wake), Events: unix.POLLIN}}
	for {
		var timeout *unix.Timespec
		if len(pending) > 0 {
			ts := unix.NsecToTimespec(max(time.Until(pending[0].at), 0).Nanoseconds())
			timeout = &ts
		}
		fds[0].Revents, fds[1].Revents = 0, 0
		_, err := unix.Ppoll(fds, timeout, nil)
		if err != nil && err != unix.EINTR {
			q.fail(fmt.Errorf("ppoll: %w", err))
			q.receive(buf, &pending, true)
			q.release(&pending, true)
			return
		}
		stopping := fds[1].Revents != 0
		if fds[0].Revents != 0 || stopping {
			q.receive(buf, &pending, stopping)
		}
		q.release(&pending, stopping)
		if stopping {
			return
		}
	}
}

// receive reads what the socket holds, up to a batch (up to a full
// queue when stopping), and holds each packet for its delay.
func (q *queue) receive(buf []byte, pending *helds, stopping bool) {
	limit := 256
	if stopping {
		limit = queueMaxLen
	}
	for range limit {
		size, _, err := unix.Recvfrom(q.fd, buf, unix.MSG_DONTWAIT)
		switch {
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR:
			continue
		case err == unix.ENOBUFS:
			q.overruns++
			continue
		case err != nil:
			q.fail(fmt.Errorf("read: %w", err))
			return
		}
		msgs, err := parseMessages(buf[:size])
		if err != nil {
			q.fail(err)
		}
		now := time.Now()
		for _, m := range msgs {
			if m.typ == nlmsgError {
				if err := m.errno(); err != nil {
					q.fail(fmt.Errorf("verdict: %w", err))
				}
				continue
			}
			id, ok, err := packetID(m)
			if err != nil {
				q.fail(err)
			}
			if !ok {
				continue
			}
			heap.Push(pending, held{id: id, at: now.Add(q.wait())})
		}
	}
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
		if err := send(q.fd, queueVerdict(q.num, p.id)); err != nil {
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
