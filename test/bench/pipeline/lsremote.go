package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/test/bench/benchrun"

	"github.com/honua-io/honua-gitops/internal/gitrepo"
)

// gitVariants are the ways the git CLI is run next to go-git: as it comes
// (protocol v2 on git 2.26 and later), and with protocol v0, which is what
// go-git speaks. Over git:// on loopback, git's v2 exchange can stall for
// the 40ms of a delayed ACK, which v0 avoids: both are shown so that a
// target is not met, or missed, by that stall alone.
var gitVariants = []struct {
	name string
	args []string
}{
	{"git", nil},
	{"git -c protocol.version=0", []string{"-c", "protocol.version=0"}},
}

// lsClient is one client of the ls-remote comparison and its figures.
type lsClient struct {
	name     string
	direct   func() error // against the daemon
	proxied  func() error // through the counting proxy
	times    []time.Duration
	bytes    []int64
	openLeft bool // a connection stayed open after it returned
	// traced is git's args for one traced run, and waits what it found;
	// nil for go-git.
	traced []string
	waits  stalls
}

// lsRemoteResult is gitrepo's Head (clients[0]) and the git variants.
type lsRemoteResult struct {
	clients []*lsClient
}

// benchLsRemote times the no-change poll of every client against the
// daemon directly, and counts their bytes through a proxy in front of it,
// interleaving the clients and rotating which goes first.
func benchLsRemote(r *benchrun.Runner, s *setup, runs int) lsRemoteResult {
	proxy := startProxy(r, s.daemon.Addr())
	name := s.config.Name()
	directURL := s.daemon.URL(name)
	proxiedURL := "git://" + proxy.Addr() + "/" + name
	want := s.config.Head()

	head := func(url string) func() error {
		repo, err := gitrepo.Open(gitrepo.Config{URL: url, Branch: "main", Dir: r.TempDir(), Timeout: 10 * time.Second})
		if err != nil {
			r.Fatalf("lsremote: %v", err)
		}
		return func() error {
			got, err := repo.Head(context.Background())
			if err == nil && got != want {
				err = fmt.Errorf("Head() = %s; want %s", got, want)
			}
			return err
		}
	}
	lsRemote := func(args []string, url string) func() error {
		args = append(append([]string(nil), args...), "ls-remote", url, "refs/heads/main")
		return func() error {
			out, err := runGit("", args...)
			if err == nil && !strings.HasPrefix(out, want) {
				err = fmt.Errorf("git ls-remote printed %q; want %s", out, want)
			}
			return err
		}
	}
	res := lsRemoteResult{clients: []*lsClient{{name: "gitrepo Head", direct: head(directURL), proxied: head(proxiedURL)}}}
	for _, v := range gitVariants {
		res.clients = append(res.clients, &lsClient{name: v.name + " ls-remote",
			direct: lsRemote(v.args, directURL), proxied: lsRemote(v.args, proxiedURL),
			traced: append(append([]string(nil), v.args...), "ls-remote", directURL, "refs/heads/main")})
	}

	// One of each first, unmeasured: the daemon's and the client's first
	// start.
	for _, c := range res.clients {
		if err := c.direct(); err != nil {
			r.Fatalf("lsremote: warm-up %s: %v", c.name, err)
		}
	}
	for i := range runs {
		line := fmt.Sprintf("   run %2d:", i+1)
		for j := range res.clients {
			c := res.clients[(i+j)%len(res.clients)]
			start := time.Now()
			if err := c.direct(); err != nil {
				r.Fatalf("lsremote: %s: %v", c.name, err)
			}
			c.times = append(c.times, time.Since(start))
		}
		for _, c := range res.clients {
			t, closed, err := proxy.measure(c.proxied)
			if err != nil {
				r.Fatalf("lsremote: %s through the proxy: %v", c.name, err)
			}
			c.openLeft = c.openLeft || !closed
			c.bytes = append(c.bytes, t.total())
			line += fmt.Sprintf(" %s %s, %s |", c.name, ms(c.times[i]), t)
		}
		fmt.Fprintln(progress, strings.TrimSuffix(line, " |"))
	}
	for _, c := range res.clients {
		if c.openLeft {
			fmt.Fprintf(progress, "   note: %s left a connection open for 5s after returning\n", c.name)
		}
		if c.traced == nil {
			continue
		}
		w, err := traceStalls("", c.traced...)
		if err != nil {
			r.Fatalf("lsremote: trace %s: %v", c.name, err)
		}
		c.waits = w
		fmt.Fprintf(progress, "   %s traced once with GIT_TRACE_PACKET: %s\n", c.name, w)
	}
	return res
}
