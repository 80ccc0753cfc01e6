package harness

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Options configure every node of a cluster.
type Options struct {
	// Args are extra flags given to every node after the harness's own.
	Args []string
	// Env are extra NAME=value environment variables for every node. The
	// harness drops HONUA_* variables inherited from the test's environment.
	Env []string
	// Token is sent as a bearer token on the harness's own requests
	// (/v1/status), for clusters started with a tokens file.
	Token string
	// TLS starts every node with TLS on: the cluster makes a CA (PKI)
	// and gives each node a server certificate of it, and the harness
	// sends its own requests over https, trusting the CA.
	TLS bool
}

// NodeConfig describes a node to add to a cluster. Zero fields get
// defaults.
type NodeConfig struct {
	// ID is --node-id; by default n1, n2, ... in the order nodes are added.
	ID string
	// DataDir is --data-dir; by default a new directory. Give another
	// node's DataDir to start a process on its state.
	DataDir string
	// BootstrapExpect is --bootstrap-expect; 0 leaves the flag out.
	BootstrapExpect int
	// Join lists the --join addresses; by default the gossip address of
	// every node in the cluster when this node first starts.
	Join []string
	// Args are extra flags, after the cluster's Options.Args.
	Args []string

	// Exec is a command prefix the process runs under, such as
	// ip netns exec NAME. The prefix must exec honuad in place (not fork
	// it), so that the process the harness signals is honuad's own.
	Exec []string
	// HTTPAddr, RaftAddr and GossipAddr are --http-addr, --raft-addr and
	// --gossip-addr; each empty one gets a free loopback port. An HTTP
	// address beyond loopback needs --tokens-file or --insecure-no-auth
	// among the Args, or honuad refuses to start.
	HTTPAddr   string
	RaftAddr   string
	GossipAddr string
	// AdvertiseAddr is --advertise-addr; empty leaves the flag out.
	AdvertiseAddr string
	// TLS, in a cluster with Options.TLS, are the node's files instead of
	// a server certificate of the cluster's CA: a node of another CA, or
	// one with a client's certificate. The harness reaches its API
	// trusting TLS.CA.
	TLS *TLSFiles

	// APIReach is the host:port at which the test reaches the node's API,
	// when that is not HTTPAddr (a node listening on 0.0.0.0 inside a
	// network namespace, say). Node.APIAddr returns it, and the harness
	// sends its own requests there. By default it is HTTPAddr.
	APIReach string
}

// Cluster is a set of honuad processes that join each other. It kills
// whatever still runs when the test ends, and logs the tail of every node's
// output if the test failed.
type Cluster struct {
	t     TB
	bin   string
	dir   string
	opts  Options
	pki   *PKI // with Options.TLS
	nodes []*Node
}

// New returns a cluster without nodes; Add them and Start each.
func New(t TB, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, bin: Build(t), dir: t.TempDir(), opts: opts}
	if opts.TLS {
		c.pki = NewPKI(t, filepath.Join(c.dir, "tls"), "cluster")
	}
	// Registered after TempDir's own cleanup, so it runs before the
	// directory is removed.
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.kill()
		}
		if t.Failed() {
			for _, n := range c.nodes {
				n.logTails(60)
			}
		}
	})
	return c
}

// Start starts n nodes, n1 to nN, each with --bootstrap-expect n and
// joining all n gossip addresses. It does not wait for them to form a
// cluster: see WaitForLeader and WaitForMembers.
func Start(t TB, n int, opts Options) *Cluster {
	t.Helper()
	c := New(t, opts)
	for range n {
		c.Add(NodeConfig{BootstrapExpect: n})
	}
	for _, node := range c.nodes {
		node.Start()
	}
	return c
}

// Add adds a node to the cluster, with its own ports and directory, without
// starting it.
func (c *Cluster) Add(cfg NodeConfig) *Node {
	c.t.Helper()
	name := "n" + strconv.Itoa(len(c.nodes)+1)
	if cfg.ID == "" {
		cfg.ID = name
	}
	dir := filepath.Join(c.dir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		c.t.Fatalf("add node %s: %v", cfg.ID, err)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(dir, "data")
	}
	ports := c.freePorts()
	orPort := func(addr string, port int) string {
		if addr != "" {
			return addr
		}
		return "127.0.0.1:" + strconv.Itoa(port)
	}
	n := &Node{
		t: c.t, bin: c.bin, name: name, id: cfg.ID, dir: dir, dataDir: cfg.DataDir,
		http:   orPort(cfg.HTTPAddr, ports[0]),
		raft:   orPort(cfg.RaftAddr, ports[1]),
		gossip: orPort(cfg.GossipAddr, ports[2]),
		reach:  cfg.APIReach,
		exec:   slices.Clone(cfg.Exec),
		env:    nodeEnv(c.opts.Env),
		token:  c.opts.Token,
	}
	n.args = []string{"agent",
		"--node-id", n.id, "--data-dir", n.dataDir,
		"--http-addr", n.http, "--raft-addr", n.raft, "--gossip-addr", n.gossip,
	}
	if cfg.AdvertiseAddr != "" {
		n.args = append(n.args, "--advertise-addr", cfg.AdvertiseAddr)
	}
	if c.pki != nil {
		files := cfg.TLS
		if files == nil {
			f := c.pki.Server(cfg.ID)
			files = &f
		}
		n.tls = *files
		n.args = append(n.args, files.args()...)
		n.setClient(clientTLS(c.t, files.CA))
	}
	if cfg.BootstrapExpect != 0 {
		n.args = append(n.args, "--bootstrap-expect", strconv.Itoa(cfg.BootstrapExpect))
	}
	n.args = append(n.args, c.opts.Args...)
	n.args = append(n.args, cfg.Args...)
	n.join = cfg.Join
	if n.join == nil {
		// Resolved when the node first starts, so that it covers the
		// nodes added after this one.
		n.joinAll = c.gossipAddrs
	}
	c.nodes = append(c.nodes, n)
	return n
}

// freePorts returns three free loopback ports that no node of the cluster
// was given: the nodes are usually all added before any starts, so the
// kernel may hand out again a port it gave an earlier node.
func (c *Cluster) freePorts() []int {
	c.t.Helper()
	taken := map[string]bool{}
	for _, n := range c.nodes {
		for _, addr := range []string{n.http, n.raft, n.gossip} {
			if _, port, err := net.SplitHostPort(addr); err == nil {
				taken[port] = true
			}
		}
	}
	for attempt := 0; ; attempt++ {
		ports := FreePorts(c.t, 3)
		if !slices.ContainsFunc(ports, func(p int) bool { return taken[strconv.Itoa(p)] }) || attempt == 100 {
			return ports
		}
	}
}

func (c *Cluster) gossipAddrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.gossip
	}
	return addrs
}

// nodeEnv is the test's environment without HONUA_* settings, plus extra.
func nodeEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HONUA_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Dir returns the directory that holds the nodes' directories, removed
// when the test ends.
func (c *Cluster) Dir() string { return c.dir }

// PKI returns the cluster's CA, or nil without Options.TLS.
func (c *Cluster) PKI() *PKI { return c.pki }

// ClientTLS returns the TLS config of an API client that trusts the
// cluster's CA, or nil without Options.TLS.
func (c *Cluster) ClientTLS() *tls.Config {
	if c.pki == nil {
		return nil
	}
	return c.pki.ClientTLS()
}

// TrustCA makes the harness's own requests trust the CA certificates in
// caFile instead (a CA bundle, while a test rotates the CA).
func (c *Cluster) TrustCA(caFile string) {
	c.t.Helper()
	cfg := clientTLS(c.t, caFile)
	for _, n := range c.nodes {
		n.setClient(cfg)
	}
}

// URLs returns the API URL of every node added, in the order added.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.URL()
	}
	return out
}

// Nodes returns every node added, running or not, in the order added.
func (c *Cluster) Nodes() []*Node { return append([]*Node(nil), c.nodes...) }

// Node returns the running node with the given id, or else the last one
// added with it, or nil.
func (c *Cluster) Node(id string) *Node {
	var found *Node
	for _, n := range c.nodes {
		if n.id == id {
			if n.Running() {
				return n
			}
			found = n
		}
	}
	return found
}
