package netns

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// The test binary runs itself in a node's namespace as a probe helper when
// helperEnv is set. The helper listens on helperPort, TCP and UDP, on every
// address of its namespace: TCP takes one command per connection (from the
// test, over the client link) and answers it in JSON; TCP connects from
// other helpers are what "dial" measures; UDP datagrams are counted by
// payload, for one-way checks.
const (
	helperEnv  = "NETNS_TEST_HELPER"
	helperPort = 9000
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(serveHelper())
	}
	code := m.Run()
	harness.RemoveBuild()
	os.Exit(code)
}

// reply is a helper's answer.
type reply struct {
	OK    int     `json:"ok"`              // dial: connects that succeeded; udp: datagrams sent or counted
	Fail  int     `json:"fail,omitempty"`  // dial: connects that failed
	RTTs  []int64 `json:"rtts,omitempty"`  // dial: connect times in µs
	Err   string  `json:"err,omitempty"`   // the last failure
	Error string  `json:"error,omitempty"` // a bad command
}

func serveHelper() int {
	addr := ":" + strconv.Itoa(helperPort)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	var mu sync.Mutex
	counts := map[string]int{}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			counts[string(buf[:n])]++
			mu.Unlock()
		}
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(time.Minute))
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil {
				return // a probe's connect, or a closed connection
			}
			var r reply
			f := strings.Fields(line)
			switch {
			case len(f) == 4 && f[0] == "dial": // dial ADDR N TIMEOUT
				n, _ := strconv.Atoi(f[2])
				timeout, _ := time.ParseDuration(f[3])
				for range n {
					start := time.Now()
					c, err := net.DialTimeout("tcp", f[1], timeout)
					if err != nil {
						r.Fail++
						r.Err = err.Error()
						continue
					}
					r.RTTs = append(r.RTTs, time.Since(start).Microseconds())
					r.OK++
					c.Close()
				}
			case len(f) == 4 && f[0] == "udpsend": // udpsend ADDR TAG N
				n, _ := strconv.Atoi(f[3])
				c, err := net.Dial("udp", f[1])
				if err != nil {
					r.Err = err.Error()
					break
				}
				for range n {
					if _, err := c.Write([]byte(f[2])); err != nil {
						r.Err = err.Error()
						continue
					}
					r.OK++
				}
				c.Close()
			case len(f) == 2 && f[0] == "udpcount": // udpcount TAG
				mu.Lock()
				r.OK = counts[f[1]]
				mu.Unlock()
			case len(f) == 1 && f[0] == "ping":
				r.OK = 1
			default:
				r.Error = fmt.Sprintf("bad command %q", line)
			}
			_ = json.NewEncoder(conn).Encode(r)
		}()
	}
}

// helpers are probe helpers running in every node namespace of a Net.
type helpers struct {
	t  *testing.T
	nw *Net
}

// startHelpers runs a helper in every node namespace and waits until each
// answers on its client link.
func startHelpers(t *testing.T, nw *Net) *helpers {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for i := range nw.N() {
		prefix := nw.Exec(i)
		cmd := exec.Command(prefix[0], append(prefix[1:], self)...)
		cmd.Env = append(os.Environ(), helperEnv+"=1")
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start helper in node %d: %v", i, err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	h := &helpers{t: t, nw: nw}
	for i := range nw.N() {
		err := harness.Poll(20*time.Second, fmt.Sprintf("the helper in node %d to answer", i), func() error {
			_, err := h.ask(i, "ping")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// ask sends a command to node i's helper over its client link.
func (h *helpers) ask(i int, command string) (reply, error) {
	var r reply
	addr := net.JoinHostPort(h.nw.Node(i).ClientIP, strconv.Itoa(helperPort))
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return r, fmt.Errorf("client link to node %d: %w", i, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintln(conn, command); err != nil {
		return r, fmt.Errorf("node %d helper: %w", i, err)
	}
	if err := json.NewDecoder(conn).Decode(&r); err != nil {
		return r, fmt.Errorf("node %d helper: %q: %w", i, command, err)
	}
	if r.Error != "" {
		return r, fmt.Errorf("node %d helper: %s", i, r.Error)
	}
	return r, nil
}

func (h *helpers) must(i int, command string) reply {
	h.t.Helper()
	r, err := h.ask(i, command)
	if err != nil {
		h.t.Fatalf("%v\n%s", err, h.nw)
	}
	return r
}

// dial makes n TCP connects from node from to node to's peer address.
func (h *helpers) dial(from, to, n int, timeout time.Duration) reply {
	h.t.Helper()
	addr := net.JoinHostPort(h.nw.Node(to).PeerIP, strconv.Itoa(helperPort))
	return h.must(from, fmt.Sprintf("dial %s %d %v", addr, n, timeout))
}

// canDial reports whether one TCP connect from node from reaches node to
// within 300ms.
func (h *helpers) canDial(from, to int) bool {
	h.t.Helper()
	return h.dial(from, to, 1, 300*time.Millisecond).OK == 1
}

var tags struct {
	sync.Mutex
	n int
}

// udp sends n datagrams from node from to node to's peer address and
// returns how many arrived: it waits until all n did, or until within has
// passed.
func (h *helpers) udp(from, to, n int, within time.Duration) int {
	h.t.Helper()
	tags.Lock()
	tags.n++
	tag := fmt.Sprintf("t%d", tags.n)
	tags.Unlock()
	addr := net.JoinHostPort(h.nw.Node(to).PeerIP, strconv.Itoa(helperPort))
	if r := h.must(from, fmt.Sprintf("udpsend %s %s %d", addr, tag, n)); r.OK != n {
		h.t.Fatalf("node %d sent %d of %d datagrams to node %d: %s", from, r.OK, n, to, r.Err)
	}
	got := 0
	_ = harness.Poll(within, "datagrams", func() error {
		got = h.must(to, "udpcount "+tag).OK
		if got < n {
			return fmt.Errorf("%d of %d", got, n)
		}
		return nil
	})
	return got
}

// reach checks that each pair of nodes can or cannot connect over TCP on
// the peer network, as want says, and that every client link answers.
func (h *helpers) reach(want func(from, to int) bool) {
	h.t.Helper()
	for i := range h.nw.N() {
		if _, err := h.ask(i, "ping"); err != nil {
			h.t.Errorf("client link: %v\n%s", err, h.nw)
		}
		for j := range h.nw.N() {
			if i == j {
				continue
			}
			if got := h.canDial(i, j); got != want(i, j) {
				h.t.Errorf("TCP connect %d->%d succeeded = %v; want %v\n%s", i, j, got, want(i, j), h.nw)
			}
		}
	}
}
