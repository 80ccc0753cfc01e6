package harness

import (
	"net"
	"strconv"
)

// FreePorts returns n distinct loopback ports that were free for both TCP
// and UDP (gossip needs both) when it checked. Another process can take one
// before honuad binds it; that is rare enough for tests.
func FreePorts(t TB, n int) []int {
	t.Helper()
	var ports []int
	var held []func()
	defer func() {
		for _, release := range held {
			release()
		}
	}()
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 100*n {
			t.Fatalf("find %d free loopback ports: gave up after %d attempts", n, attempts)
		}
		port, release, ok := holdPort()
		if !ok {
			continue
		}
		// Hold it until all are found, so that they are distinct.
		held = append(held, release)
		ports = append(ports, port)
	}
	return ports
}

// holdPort listens on a kernel-chosen TCP port and the same UDP port.
func holdPort() (port int, release func(), ok bool) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
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
