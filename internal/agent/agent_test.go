package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// testConfig is a valid single-node configuration on loopback ports that
// were free, with its data dir.
func testConfig(t *testing.T) Config {
	t.Helper()
	ports := harness.FreePorts(t, 3)
	cfg := DefaultConfig()
	cfg.NodeID = "n1"
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	cfg.RaftAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	cfg.GossipAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])
	return cfg
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// buildAgain checks that everything a failed or closed build held is
// free again: a new build with cfg binds the same three addresses and
// opens the same data dir (whose raft store another process would find
// locked for good otherwise), and closes in turn.
func buildAgain(t *testing.T, cfg Config) {
	t.Helper()
	p, err := build(cfg, "test", quiet)
	if err != nil {
		t.Fatalf("build on the same addresses and data dir = %v; want what the first build opened released", err)
	}
	if err := p.close(false); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// TestBuildFailureClosesWhatItOpened: a build that fails halfway, after
// the API's listener and the raft store were opened, closes them again.
func TestBuildFailureClosesWhatItOpened(t *testing.T) {
	for _, tt := range []struct {
		name string
		// breaks cfg, returning what to undo once build failed (nil: nothing)
		breaks func(t *testing.T, cfg *Config) func()
		want   string
	}{
		{"gossip address in use", func(t *testing.T, cfg *Config) func() {
			ln, err := net.Listen("tcp", cfg.GossipAddr)
			if err != nil {
				t.Fatal(err)
			}
			return func() { ln.Close() }
		}, "address already in use"},
		{"raft address in use", func(t *testing.T, cfg *Config) func() {
			ln, err := net.Listen("tcp", cfg.RaftAddr)
			if err != nil {
				t.Fatal(err)
			}
			return func() { ln.Close() }
		}, "raft-addr"},
		{"a target that cannot be built, after the node", func(t *testing.T, cfg *Config) func() {
			cfg.Repository = &RepositoryConfig{URL: filepath.Join(t.TempDir(), "config.git")}
			// Validate lets the root directory pass; target.New refuses it.
			cfg.Environments = map[string]EnvironmentConfig{"development": {Targets: []TargetConfig{{Type: "directory", Path: "/"}}}}
			return nil
		}, "root directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			bad := cfg
			undo := tt.breaks(t, &bad)
			p, err := build(bad, "test", quiet)
			if undo != nil {
				undo()
			}
			if err == nil {
				p.close(false)
				t.Fatalf("build = nil; want it to fail with %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("build = %v; want it to fail with %q", err, tt.want)
			}
			// The raft store was opened before the failure.
			if _, err := os.Stat(filepath.Join(cfg.DataDir, "raft", "raft.db")); err != nil {
				t.Fatalf("the failed build opened no raft store (%v); the test no longer fails where it means to", err)
			}
			buildAgain(t, cfg)
		})
	}
}

// TestServeClosesWhatBuildOpened: when serve ends, everything build and
// serve opened is released, and once only: a second close does nothing.
func TestServeClosesWhatBuildOpened(t *testing.T) {
	cfg := testConfig(t)
	p, err := build(cfg, "test", quiet)
	if err != nil {
		t.Fatal(err)
	}
	closes := 0
	p.onClose(func(bool) error { closes++; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.serve(ctx, nil) }()
	// Serving: the API answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", cfg.HTTPAddr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API never accepted a connection: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended before it served: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve = %v; want nil after ctx was cancelled", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not end after ctx was cancelled")
	}
	if closes != 1 {
		t.Fatalf("serve ended having run the closers %d times; want once", closes)
	}
	buildAgain(t, cfg)
	if err := p.close(true); err != nil || closes != 1 {
		t.Fatalf("close after serve = %v, closers run %d times in all; want nil and once", err, closes)
	}
}

// A build refused for its configuration opens nothing and says so with a
// *ConfigError.
func TestBuildRefusesABadConfig(t *testing.T) {
	cfg := testConfig(t)
	cfg.LogLevel = "loud"
	_, err := build(cfg, "test", quiet)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("build with log-level loud = %v; want a *ConfigError", err)
	}
	if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
		t.Errorf("a refused build created its data dir (%v)", err)
	}
}
