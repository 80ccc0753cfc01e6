package harness

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ConnOwner returns the --node-id of the honuad process (the binary bin)
// holding the client end of a TCP connection from client to server, both
// IPv4 host:port: it finds the socket in /proc/net/tcp and the process
// whose file descriptors include it.
func ConnOwner(bin, client, server string) (string, error) {
	inode, err := socketInode(client, server)
	if err != nil {
		return "", err
	}
	link := "socket:[" + inode + "]"
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return "", err
	}
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil {
			continue // gone, or not ours
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if args[0] != bin {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name())); err == nil && target == link {
				for i, a := range args[:len(args)-1] {
					if a == "--node-id" {
						return args[i+1], nil
					}
				}
				return "", fmt.Errorf("process %s holds the connection from %s but has no --node-id: %q", p.Name(), client, args)
			}
		}
	}
	return "", fmt.Errorf("no %s process holds the connection from %s to %s (socket inode %s)", bin, client, server, inode)
}

// socketInode returns the inode of the TCP socket whose local address is
// local and remote address remote, from /proc/net/tcp.
func socketInode(local, remote string) (string, error) {
	want := [2]netip.AddrPort{}
	for i, a := range []string{local, remote} {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || !ap.Addr().Is4() {
			return "", fmt.Errorf("address %q: not an IPv4 host:port", a)
		}
		want[i] = ap
	}
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		l, lerr := procAddr(fields[1])
		r, rerr := procAddr(fields[2])
		if lerr == nil && rerr == nil && l == want[0] && r == want[1] {
			return fields[9], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no socket from %s to %s in /proc/net/tcp", local, remote)
}

// procAddr parses an IPv4 address of /proc/net/tcp: the address as a
// native-endian 32-bit hex number, a colon, the port in hex.
func procAddr(s string) (netip.AddrPort, error) {
	host, port, ok := strings.Cut(s, ":")
	if !ok || len(host) != 8 {
		return netip.AddrPort{}, fmt.Errorf("%q: not an IPv4 address", s)
	}
	raw, err := hex.DecodeString(host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var ip [4]byte
	binary.NativeEndian.PutUint32(ip[:], binary.BigEndian.Uint32(raw))
	return netip.AddrPortFrom(netip.AddrFrom4(ip), uint16(p)), nil
}

// PIDOf returns the process id of the running honuad (the binary bin)
// with the given --node-id.
func PIDOf(bin, id string) (int, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if args[0] != bin {
			continue
		}
		for i, a := range args[:len(args)-1] {
			if a == "--node-id" && args[i+1] == id {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no %s process with --node-id %s", bin, id)
}
