package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// profiler takes profiles of the leader and of one follower during the
// first throughput phase (-profile DIR): the nodes run with --enable-debug,
// and the benchmark fetches, as the admin identity, a CPU profile and an
// execution trace of profileSeconds each, starting profileDelay into the
// phase, then a goroutine dump. Read them with
//
//	go tool pprof -top DIR/leader-cpu.pprof
//	go tool trace -pprof=sync DIR/leader.trace > sync.pprof
//	go tool trace DIR/leader.trace
//
// (the trace's sync profile stands in for a block profile, which honuad
// does not enable).
type profiler struct {
	dir string
	wg  sync.WaitGroup
}

const (
	profileDelay   = 2 * time.Second
	profileSeconds = 5
)

// newProfiler returns nil when dir is empty.
func newProfiler(dir string) *profiler {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatalf("-profile: %v", err)
	}
	return &profiler{dir: dir}
}

// start begins fetching the profiles of the leader and the first follower
// in the background; wait waits for them.
func (p *profiler) start(b *bench) {
	if p == nil {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		time.Sleep(profileDelay) // let the phase reach its pace (not a test: a bench's schedule)
		var wg sync.WaitGroup
		for _, t := range []struct {
			role string
			n    *harness.Node
		}{{"leader", b.leader}, {"follower", b.followers[0]}} {
			for _, f := range []struct{ path, file string }{
				{fmt.Sprintf("/debug/pprof/profile?seconds=%d", profileSeconds), t.role + "-cpu.pprof"},
				{fmt.Sprintf("/debug/pprof/trace?seconds=%d", profileSeconds), t.role + ".trace"},
			} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p.fetch(b, t.n, f.path, f.file)
				}()
			}
		}
		wg.Wait()
		p.fetch(b, b.leader, "/debug/pprof/goroutine", "leader-goroutine.pprof")
	}()
}

func (p *profiler) wait() {
	if p == nil {
		return
	}
	p.wg.Wait()
	say("   profiles of the leader and a follower in %s\n", p.dir)
}

// fetch saves the admin's GET of path on n to file in the profile
// directory; a failure is reported, not fatal.
func (p *profiler) fetch(b *bench, n *harness.Node, path, file string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(profileSeconds)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+path, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "profile %s: %v\n", file, err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+b.tokens[adminIdentity])
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if b.tls != nil {
		client.Transport.(*http.Transport).TLSClientConfig = b.tls
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "profile %s: %v\n", file, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		fmt.Fprintf(os.Stderr, "profile %s: %s: %s\n", file, resp.Status, body)
		return
	}
	out, err := os.Create(filepath.Join(p.dir, file))
	if err != nil {
		fmt.Fprintf(os.Stderr, "profile %s: %v\n", file, err)
		return
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		fmt.Fprintf(os.Stderr, "profile %s: %v\n", file, err)
	}
	if err := out.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "profile %s: %v\n", file, err)
	}
}
