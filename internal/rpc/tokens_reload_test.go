package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokensFixture is a tokens file and the tokens of its entries.
type tokensFixture struct {
	t       *testing.T
	path    string
	tokens  map[string]string // name → token
	entries map[string]string // name → its entry in the file
}

func newTokensFixture(t *testing.T, names ...string) *tokensFixture {
	t.Helper()
	f := &tokensFixture{t: t, path: filepath.Join(t.TempDir(), "tokens.yaml"),
		tokens: map[string]string{}, entries: map[string]string{}}
	for _, n := range names {
		tok, entry, err := NewToken(n, RoleApprover, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[n], f.entries[n] = tok, entry
	}
	return f
}

// write replaces the file with the entries of names, as an operator's
// tool does: a new file renamed over the old one.
func (f *tokensFixture) write(names ...string) {
	f.t.Helper()
	var b strings.Builder
	b.WriteString("tokens:\n")
	for _, n := range names {
		b.WriteString(f.entries[n])
	}
	f.writeRaw(b.String())
}

func (f *tokensFixture) writeRaw(body string) {
	f.t.Helper()
	tmp := f.path + ".new"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		f.t.Fatal(err)
	}
}

// who returns the name t authenticates token as, or the error.
func who(t *Tokens, token string) (string, error) {
	r := httptest.NewRequest("GET", "/v1/status", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	id, err := t.authenticate(r)
	if err != nil {
		return "", err
	}
	return id.Name, nil
}

// TestTokensReload: a token added to the file works after Reload, one
// removed stops working, and a broken file keeps the tokens in use and
// says why.
func TestTokensReload(t *testing.T) {
	f := newTokensFixture(t, "alice", "bob")
	f.write("alice")
	tokens, err := LoadTokens(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := who(tokens, f.tokens["bob"]); err == nil {
		t.Fatal("bob's token works before it is in the file")
	}

	f.write("alice", "bob")
	if changed, err := tokens.Reload(); err != nil || !changed {
		t.Fatalf("Reload with bob added = %v, %v; want true, nil", changed, err)
	}
	for _, n := range []string{"alice", "bob"} {
		if got, err := who(tokens, f.tokens[n]); err != nil || got != n {
			t.Errorf("after bob was added, %s's token = %q, %v; want %s", n, got, err, n)
		}
	}

	f.write("bob")
	if changed, err := tokens.Reload(); err != nil || !changed {
		t.Fatalf("Reload with alice removed = %v, %v; want true, nil", changed, err)
	}
	if changed, err := tokens.Reload(); err != nil || changed {
		t.Errorf("Reload of an unchanged file = %v, %v; want false, nil", changed, err)
	}
	if got, err := who(tokens, f.tokens["alice"]); err == nil {
		t.Errorf("after alice was removed, her token still authenticates as %q", got)
	}

	for _, broken := range []struct{ name, body string }{
		{"not yaml", "tokens: [\n"},
		{"no tokens", "tokens: []\n"},
		{"a bad role", strings.Replace("tokens:\n"+f.entries["alice"], "role: approver", "role: king", 1)},
	} {
		f.writeRaw(broken.body)
		_, err := tokens.Reload()
		if err == nil || !strings.Contains(err.Error(), f.path) || !strings.Contains(err.Error(), "keeping the current tokens") {
			t.Errorf("Reload of a file with %s = %v; want an error naming the file and keeping the current tokens", broken.name, err)
		}
		if got, err := who(tokens, f.tokens["bob"]); err != nil || got != "bob" {
			t.Errorf("after a reload of a file with %s, bob's token = %q, %v; want bob still", broken.name, got, err)
		}
	}
	if err := os.Remove(f.path); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Reload(); err == nil {
		t.Error("Reload of a removed file succeeded")
	}
	if got, err := who(tokens, f.tokens["bob"]); err != nil || got != "bob" {
		t.Errorf("after the file was removed, bob's token = %q, %v; want bob still", got, err)
	}
}

// TestTokensWatch: an operator's change to the tokens file applies within
// seconds, without a signal: a new token works, a removed one is refused,
// and requests authenticated meanwhile never fail for it.
func TestTokensWatch(t *testing.T) {
	f := newTokensFixture(t, "alice", "bob")
	f.write("alice")
	logs := &syncBuffer{}
	tokens, err := LoadTokens(f.path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tokens.Watch(ctx, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})

	// Alice's requests run throughout: none may fail.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures []error
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := who(tokens, f.tokens["alice"]); err != nil {
				mu.Lock()
				failures = append(failures, err)
				mu.Unlock()
			}
		}
	}()

	waitUntil(t, "the watch to start", func() error {
		if !strings.Contains(logs.String(), "watching tokens file") {
			return fmt.Errorf("logs: %s", logs.String())
		}
		return nil
	})
	f.write("alice", "bob")
	waitUntil(t, "bob's token to work after it was added to the file", func() error {
		_, err := who(tokens, f.tokens["bob"])
		return err
	})
	f.writeRaw("tokens: [\n")
	waitUntil(t, "the broken file to be logged", func() error {
		if !strings.Contains(logs.String(), "tokens not reloaded") {
			return fmt.Errorf("logs: %s", logs.String())
		}
		return nil
	})
	f.write("bob")
	waitUntil(t, "alice's token to be refused after it was removed from the file", func() error {
		if _, err := who(tokens, f.tokens["alice"]); err == nil {
			return fmt.Errorf("alice's token still works")
		}
		return nil
	})
	close(stop)
	wg.Wait()
	// Alice's requests failed only once she was removed: the last ones.
	mu.Lock()
	defer mu.Unlock()
	for _, err := range failures {
		if !strings.Contains(err.Error(), "unknown token") {
			t.Errorf("a request failed while the tokens file changed: %v", err)
		}
	}
	if !strings.Contains(logs.String(), "tokens reloaded") {
		t.Errorf("no reload was logged: %s", logs.String())
	}
}

// waitUntil polls cond until it returns nil, failing after a generous
// deadline.
func waitUntil(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s: %v", what, err)
		}
		<-tick.C
	}
}
