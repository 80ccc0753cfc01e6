package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The little of netlink that the nfqueue delay needs (nfqueue.go,
// queuerule.go): messages of the netfilter family (a netlink header, an
// nfgenmsg, attributes), the kernel's acknowledgements, and sockets opened
// in a node's namespace. Netlink headers and attribute headers are in host
// byte order; nfnetlink's payloads mostly in network byte order.

const (
	nlmsgHdrLen = 16 // struct nlmsghdr
	nfgenHdrLen = 4  // struct nfgenmsg
	nlaHdrLen   = 4  // struct nlattr
	nlaFNested  = 0x8000
	nlaTypeMask = 0x3fff // without NLA_F_NESTED and NLA_F_NET_BYTEORDER

	nlmsgError = 0x2 // NLMSG_ERROR
)

var (
	ne = binary.NativeEndian
	be = binary.BigEndian
)

// nlmsg builds one netfilter netlink message.
type nlmsg struct{ b []byte }

// newNfMsg starts a message of type typ (subsystem<<8 | message) with an
// nfgenmsg of the given family and resource id (a queue number, or a
// subsystem for a batch).
func newNfMsg(typ, flags uint16, seq uint32, family uint8, resID uint16) *nlmsg {
	b := make([]byte, nlmsgHdrLen+nfgenHdrLen, 256)
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], flags)
	ne.PutUint32(b[8:], seq)
	// The port id (b[12:16]) is 0: the kernel.
	b[16] = family
	b[17] = unix.NFNETLINK_V0
	be.PutUint16(b[18:], resID)
	return &nlmsg{b}
}

// attr appends an attribute, padded to 4 bytes.
func (m *nlmsg) attr(typ uint16, data []byte) {
	var h [nlaHdrLen]byte
	ne.PutUint16(h[0:], uint16(nlaHdrLen+len(data)))
	ne.PutUint16(h[2:], typ)
	m.b = append(m.b, h[:]...)
	m.b = append(m.b, data...)
	m.pad()
}

func (m *nlmsg) pad() {
	for len(m.b)%4 != 0 {
		m.b = append(m.b, 0)
	}
}

func (m *nlmsg) str(typ uint16, s string) { m.attr(typ, append([]byte(s), 0)) }

func (m *nlmsg) be32(typ uint16, v uint32) { m.attr(typ, be.AppendUint32(nil, v)) }

func (m *nlmsg) be16(typ uint16, v uint16) { m.attr(typ, be.AppendUint16(nil, v)) }

// nest appends a nested attribute whose attributes add appends.
func (m *nlmsg) nest(typ uint16, add func()) {
	start := len(m.b)
	m.b = append(m.b, make([]byte, nlaHdrLen)...)
	add()
	ne.PutUint16(m.b[start:], uint16(len(m.b)-start))
	ne.PutUint16(m.b[start+2:], typ|nlaFNested)
}

// bytes returns the message with its length filled in.
func (m *nlmsg) bytes() []byte {
	ne.PutUint32(m.b[0:], uint32(len(m.b)))
	return m.b
}

// nlMessage is one message received: its header and what follows it.
type nlMessage struct {
	typ, flags uint16
	seq        uint32
	data       []byte
}

// parseMessages splits what one read returned into messages.
func parseMessages(b []byte) ([]nlMessage, error) {
	var msgs []nlMessage
	for len(b) >= nlmsgHdrLen {
		n := int(ne.Uint32(b[0:]))
		if n < nlmsgHdrLen || n > len(b) {
			return msgs, fmt.Errorf("netlink message of %d bytes in %d", n, len(b))
		}
		msgs = append(msgs, nlMessage{
			typ:   ne.Uint16(b[4:]),
			flags: ne.Uint16(b[6:]),
			seq:   ne.Uint32(b[8:]),
			data:  b[nlmsgHdrLen:n],
		})
		b = b[min(nlaAlign(n), len(b)):]
	}
	return msgs, nil
}

func nlaAlign(n int) int { return (n + 3) &^ 3 }

// errno returns the error an NLMSG_ERROR message carries: nil for an
// acknowledgement.
func (m nlMessage) errno() error {
	if len(m.data) < 4 {
		return errors.New("short netlink error message")
	}
	if code := int32(ne.Uint32(m.data)); code != 0 {
		return syscall.Errno(-code)
	}
	return nil
}

// attrs returns the attributes in b by type (the last of a type wins).
func attrs(b []byte) (map[uint16][]byte, error) {
	out := map[uint16][]byte{}
	for len(b) >= nlaHdrLen {
		n := int(ne.Uint16(b[0:]))
		if n < nlaHdrLen || n > len(b) {
			return out, fmt.Errorf("netlink attribute of %d bytes in %d", n, len(b))
		}
		out[ne.Uint16(b[2:])&nlaTypeMask] = b[nlaHdrLen:n]
		b = b[min(nlaAlign(n), len(b)):]
	}
	return out, nil
}

// socketIn opens a netfilter netlink socket in network namespace ns and
// binds it: on a thread of its own that enters ns and comes back, since
// the socket belongs to the namespace it was made in. The socket is
// non-blocking.
func socketIn(ns string) (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, back, err := openIn(ns)
		if back {
			runtime.UnlockOSThread()
		} // else the thread stays locked and ends with the goroutine
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

// openIn is socketIn on a locked thread; back reports whether the thread
// is in the namespace it started in.
func openIn(ns string) (fd int, back bool, err error) {
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, true, fmt.Errorf("open this thread's network namespace: %w", err)
	}
	defer unix.Close(self)
	target, err := unix.Open(filepath.Join(netnsDir, ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, true, fmt.Errorf("open network namespace %s: %w", ns, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return -1, true, fmt.Errorf("enter network namespace %s: %w", ns, err)
	}
	fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_NETFILTER)
	if err == nil {
		if err = unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			unix.Close(fd)
		}
	}
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) {
		err = fmt.Errorf("%w: netfilter netlink socket in %s: %w", errNoQueue, ns, err)
	} else if err != nil {
		err = fmt.Errorf("netfilter netlink socket in %s: %w", ns, err)
	}
	if rerr := unix.Setns(self, unix.CLONE_NEWNET); rerr != nil {
		if err == nil {
			unix.Close(fd)
		}
		return -1, false, errors.Join(err, fmt.Errorf("return from network namespace %s: %w", ns, rerr))
	}
	if err != nil {
		return -1, true, err
	}
	return fd, true, nil
}

// send writes a message, or several in one datagram, to the kernel.
func send(fd int, b []byte) error {
	for {
		err := unix.Sendto(fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if err != unix.EINTR {
			return err
		}
	}
}

// exchange sends b and waits for acks acknowledgements (each message of b
// that asked for one gets one) or for the first error the kernel reports.
// Only use it on a socket no packets arrive on yet.
func exchange(fd int, b []byte, acks int) error {
	if err := send(fd, b); err != nil {
		return err
	}
	buf := make([]byte, 1<<16)
	deadline := time.Now().Add(5 * time.Second)
	for acks > 0 {
		wait := time.Until(deadline)
		if wait <= 0 {
			return fmt.Errorf("no answer from the kernel in 5s (%d acknowledgements missing)", acks)
		}
		ts := unix.NsecToTimespec(wait.Nanoseconds())
		if _, err := unix.Ppoll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, &ts, nil); err != nil && err != unix.EINTR {
			return err
		}
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			continue
		case err != nil:
			return err
		}
		msgs, err := parseMessages(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.typ != nlmsgError {
				continue
			}
			if err := m.errno(); err != nil {
				return err
			}
			acks--
		}
	}
	return nil
}
