package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"github.com/honua-io/honua-gitops/test/logbuf"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// lockedBuffer is a log sink the test reads while others write.
type lockedBuffer = logbuf.Buffer

// waitOutput polls out until re matches, and returns the submatches.
func waitOutput(t *testing.T, out *lockedBuffer, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("output %q never matched %s", out.String(), re)
		}
		<-tick.C
	}
}

// `notifications listen` answers signed deliveries 204 and prints them,
// refuses an unsigned or wrongly signed one (401), marks a delivery id it
// saw before, and stops when its context ends.
func TestNotificationsListen(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "hook-secret")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() {
		code <- runWith(ctx, []string{"honuactl", "notifications", "listen", "--listen-addr", "127.0.0.1:0", "--secret-file", secretFile},
			streams{stdout: out, stderr: out, getenv: func(string) string { return "" }})
	}()
	addr := waitOutput(t, out, regexp.MustCompile(`listening on (http://[^ ]+)`))[1]

	body := `{"id":"production-3.ApprovalRequired.hook","event":"ApprovalRequired","deploymentId":"production-3",` +
		`"environment":"production","commit":"0123456789abcdef","state":"AwaitingApproval","actor":"watcher"}`
	post := func(sig string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, addr, strings.NewReader(body))
		req.Header.Set("X-Honua-Event", "ApprovalRequired")
		req.Header.Set("X-Honua-Delivery", "production-3.ApprovalRequired.hook")
		if sig != "" {
			req.Header.Set("X-Honua-Signature-256", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write([]byte(body))
	good := "sha256=" + hex.EncodeToString(mac.Sum(nil))

	if got := post(""); got != http.StatusUnauthorized {
		t.Errorf("unsigned delivery = %d; want 401", got)
	}
	if got := post("sha256=" + strings.Repeat("0", 64)); got != http.StatusUnauthorized {
		t.Errorf("wrongly signed delivery = %d; want 401", got)
	}
	if got := post(good); got != http.StatusNoContent {
		t.Fatalf("signed delivery = %d; want 204", got)
	}
	waitOutput(t, out, regexp.MustCompile(`ApprovalRequired production-3 production \(AwaitingApproval, 0123456789ab\) by watcher \[delivery production-3\.ApprovalRequired\.hook\]\n`))
	if got := post(good); got != http.StatusNoContent {
		t.Fatalf("the same delivery again = %d; want 204", got)
	}
	waitOutput(t, out, regexp.MustCompile(`\(again: a duplicate`))
	if resp, err := http.Get(addr); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET = %v, %v; want 405", resp, err)
	}
	cancel()
	if c := <-code; c != 0 {
		t.Errorf("exit %d after Ctrl-C; want 0: %s", c, out)
	}
}
