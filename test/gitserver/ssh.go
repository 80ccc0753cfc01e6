package gitserver

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHServer serves the repositories under a root over ssh, in process, for
// fetching only (git-upload-pack). It accepts one client key, whose private
// half is in ClientKeyFile, and presents a host key listed in
// KnownHostsFile.
type SSHServer struct {
	// ClientKeyFile is an unencrypted OpenSSH private key the server accepts.
	ClientKeyFile string
	// KnownHostsFile holds the server's host key for its address.
	KnownHostsFile string
	// HostKey is the server's public host key.
	HostKey ssh.PublicKey

	addr     string
	listener net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

// StartSSH starts an ssh server on a loopback port for the repositories
// under root. It stops at the test's cleanup.
func StartSSH(t testing.TB, root string) *SSHServer {
	t.Helper()
	RequireGit(t)
	dir := t.TempDir()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("gitserver: ssh host key: %v", err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatalf("gitserver: ssh host key: %v", err)
	}
	clientPub, clientFile := NewSSHKey(t, "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gitserver: ssh listen: %v", err)
	}
	s := &SSHServer{
		ClientKeyFile:  clientFile,
		KnownHostsFile: filepath.Join(dir, "known_hosts"),
		HostKey:        hostSigner.PublicKey(),
		addr:           l.Addr().String(),
		listener:       l,
		conns:          map[net.Conn]struct{}{},
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, s.HostKey) + "\n"
	if err := os.WriteFile(s.KnownHostsFile, []byte(line), 0o600); err != nil {
		t.Fatalf("gitserver: write known_hosts: %v", err)
	}
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), clientPub.Marshal()) {
				return nil, nil
			}
			return nil, fmt.Errorf("unknown public key")
		},
	}
	config.AddHostKey(hostSigner)
	s.wg.Add(1)
	go s.serve(config, root)
	t.Cleanup(s.close)
	return s
}

// NewSSHKey writes a new ed25519 private key in OpenSSH format, encrypted
// with passphrase unless it is empty, and returns its public half and the
// file's path.
func NewSSHKey(t testing.TB, passphrase string) (ssh.PublicKey, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("gitserver: ssh key: %v", err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "gitserver")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "gitserver", []byte(passphrase))
	}
	if err != nil {
		t.Fatalf("gitserver: ssh key: %v", err)
	}
	file := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatalf("gitserver: write ssh key: %v", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatalf("gitserver: ssh key: %v", err)
	}
	return sshPub, file
}

// URL returns the ssh:// URL of the repository named name (Repo.Name).
func (s *SSHServer) URL(name string) string {
	return "ssh://git@" + s.addr + "/" + name
}

// Addr is the server's host:port.
func (s *SSHServer) Addr() string { return s.addr }

func (s *SSHServer) serve(config *ssh.ServerConfig, root string) {
	defer s.wg.Done()
	for {
		c, err := s.listener.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			handleSSH(c, config, root)
		}()
	}
}

func (s *SSHServer) close() {
	s.listener.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// handleSSH serves one connection: sessions that exec git-upload-pack.
func handleSSH(c net.Conn, config *ssh.ServerConfig, root string) {
	sc, chans, reqs, err := ssh.NewServerConn(c, config)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go handleSession(ch, chReqs, root)
	}
}

func handleSession(ch ssh.Channel, reqs <-chan *ssh.Request, root string) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" || len(req.Payload) < 4 {
			_ = req.Reply(false, nil)
			continue
		}
		n := binary.BigEndian.Uint32(req.Payload)
		command := string(req.Payload[4:])
		if int(n) != len(command) {
			_ = req.Reply(false, nil)
			continue
		}
		repo, ok := uploadPackPath(command, root)
		if !ok {
			_ = req.Reply(false, nil)
			continue
		}
		_ = req.Reply(true, nil)
		code := runUploadPack(ch, repo)
		_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(code)))
		return
	}
}

// uploadPackPath parses "git-upload-pack '/config.git'" into the
// repository's path under root.
func uploadPackPath(command, root string) (string, bool) {
	name, arg, ok := strings.Cut(command, " ")
	if !ok || name != "git-upload-pack" {
		return "", false
	}
	arg = strings.Trim(arg, `'"`)
	clean := strings.TrimPrefix(path.Clean("/"+arg), "/")
	if clean == "" {
		return "", false
	}
	return filepath.Join(root, filepath.FromSlash(clean)), true
}

// runUploadPack runs git upload-pack on the channel and returns its exit
// code.
func runUploadPack(ch ssh.Channel, repo string) int {
	cmd := exec.Command("git", "upload-pack", repo)
	cmd.Env = GitEnviron()
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 128
	}
	if err := cmd.Start(); err != nil {
		return 128
	}
	go func() {
		_, _ = io.Copy(stdin, ch)
		stdin.Close()
	}()
	if err := cmd.Wait(); err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode()
		}
		return 128
	}
	return 0
}
