package harness

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePorts returns n distinct loopback ports that were free for both TCP
// and UDP (gossip needs both) when it checked.
//
// The ports come from below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), so that no outgoing connection and no
// listener on port 0 — another test's, in this process or another — can
// take one between the check and honuad's bind. Only another caller of
// FreePorts picking the same random port could, which the random choice
// makes rare. Where the range leaves too little room below it, the kernel
// chooses.
func FreePorts(t TB, n int) []int {
	t.Helper()
	var ports []int
	var held []func()
	defer func() {
		for _, release := range held {
			release()
		}
	}()
	low, high := portPool()
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 100*n {
			t.Fatalf("find %d free loopback ports: gave up after %d attempts", n, attempts)
		}
		port := 0
		if high > low {
			port = low + rand.IntN(high-low)
		}
		port, release, ok := holdPort(port)
		if !ok {
			continue
		}
		// Hold it until all are found, so that they are distinct.
		held = append(held, release)
		ports = append(ports, port)
	}
	return ports
}

// portPool returns the range [low, high) FreePorts draws from: from 10000
// up to the start of the ephemeral range, or an empty range when that
// leaves fewer than 2000 ports.
func portPool() (low, high int) {
	low, high = 10000, 32768 // Linux's default ephemeral range starts at 32768.
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				high = v
			}
		}
	}
	if high-low < 2000 {
		return 0, 0
	}
	return low, high
}

// holdPort listens on TCP port (0: one the kernel chooses) and the same
// UDP port.
func holdPort(port int) (int, func(), bool) {
	tl, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return 0, nil, false
	}
	port = tl.Addr().(*net.TCPAddr).Port
	ul, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		tl.Close()
		return 0, nil, false
	}
	return port, func() { tl.Close(); ul.Close() }, true
}
