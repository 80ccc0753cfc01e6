package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/cluster/clustertest"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// patternReader serves size bytes, prefix and then fill, without holding
// them: a request body of any size.
type patternReader struct {
	prefix string
	fill   byte
	size   int64
	off    int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.size-r.off)
	for i := range p[:n] {
		if o := r.off + int64(i); o < int64(len(r.prefix)) {
			p[i] = r.prefix[o]
		} else {
			p[i] = r.fill
		}
	}
	r.off += n
	return int(n), nil
}

// restoreOn POSTs body, of size bytes, to node i's /v1/snapshot as root.
func (ac *apiCluster) restoreOn(t *testing.T, i int, body io.Reader, size int64) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+ac.addrs[i]+"/v1/snapshot", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+ac.adminToken)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/snapshot to %s: %v", ac.Nodes()[i].ID(), err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestFollowerRefusesWhatIsNotABackupAtItsStart: a follower checks the
// start of a backup before it forwards it, and refuses one that is not a
// backup itself, having read at most 64 KiB of it, rather than read (and
// once held) all of it and send it to the leader.
func TestFollowerRefusesWhatIsNotABackupAtItsStart(t *testing.T) {
	ac := startAPICluster(t, 5*time.Second)
	ac.Leader()
	f := ac.follower()
	const size = 32 << 20
	short := `{"format":"honua-backup","version":1,"size":5}` + "\n"
	tests := []struct {
		name, prefix, want string
	}{
		{"a body without a header line", "", "no header line"},
		{"another kind of file", "PK\x03\x04\n", "not a honua backup header"},
		{"a later version's backup", `{"format":"honua-backup","version":9,"size":1}` + "\n", "version 9"},
		{"a body longer than its header says", short,
			fmt.Sprintf("the body is %d bytes, and the backup's header says %d", size, len(short)+5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ac.read[f].Load()
			resp := ac.restoreOn(t, f, &patternReader{prefix: tt.prefix, fill: 'x', size: size}, size)
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			var eb api.ErrorBody
			if resp.StatusCode != 400 || json.Unmarshal(b, &eb) != nil || eb.Code != "invalid" || !strings.Contains(eb.Error, tt.want) {
				t.Errorf("restore of %s = %d %s; want 400 invalid saying %q", tt.name, resp.StatusCode, b, tt.want)
			}
			if by, to := resp.Header.Get("X-Honua-Node"), resp.Header.Get("X-Honua-Forwarded-To"); by != ac.Nodes()[f].ID() || to != "" {
				t.Errorf("answered by %q, forwarded to %q; want follower %s to answer itself", by, to, ac.Nodes()[f].ID())
			}
			if read := ac.read[f].Load() - before; read > 64<<10 {
				t.Errorf("the follower read %d bytes of the %d-byte body; want at most 64 KiB", read, size)
			}
		})
	}
}

// gatedReader serves first, then holds rest back until open says it may go
// on, or gives up with open's error.
type gatedReader struct {
	first, rest []byte
	open        func() error
	mu          sync.Mutex
	err         error
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if len(g.first) > 0 {
		n := copy(p, g.first)
		g.first = g.first[n:]
		return n, nil
	}
	if g.open != nil {
		err := g.open()
		g.open = nil
		if err != nil {
			g.mu.Lock()
			g.err = err
			g.mu.Unlock()
			return 0, err
		}
	}
	if len(g.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.rest)
	g.rest = g.rest[n:]
	return n, nil
}

func (g *gatedReader) gateErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// readByOthers is how many request body bytes every node but i read.
func (ac *apiCluster) readByOthers(i int) int64 {
	var n int64
	for j := range ac.read {
		if j != i {
			n += ac.read[j].Load()
		}
	}
	return n
}

// TestBackupThroughAFollowerIsStreamed: a follower sends a backup on to the
// leader as it arrives, never holding it whole: the leader reads the start
// of the body while the client still holds back its second half. The
// backup, four times the bodies a follower reads before forwarding, is
// restored on every node.
func TestBackupThroughAFollowerIsStreamed(t *testing.T) {
	ac := startAPICluster(t, 5*time.Second)
	// A long commit makes a large state (ObserveCommit is safe to apply
	// again when leadership moves).
	big := strings.Repeat("c", 4*maxBody)
	if _, err := ac.Apply(&fsm.ObserveCommit{Environment: "staging", Commit: big, Time: t0}); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	clustertest.WaitFor(t, "a backup", func() error {
		backup.Reset()
		c, err := api.NewClient(api.Config{Addrs: []string{ac.addrs[ac.index(ac.Leader())]}, Token: ac.adminToken,
			Timeout: clustertest.Timeout})
		if err != nil {
			return err
		}
		_, err = c.SaveSnapshot(t.Context(), &backup)
		return err
	})
	saved := backup.Bytes()[bytes.IndexByte(backup.Bytes(), '\n')+1:]
	if !bytes.Contains(saved, []byte(big)) {
		t.Fatalf("the backup does not hold the long commit")
	}
	// The state moves on after the backup.
	if _, err := ac.Apply(&fsm.ObserveCommit{Environment: "staging", Commit: "c2", Time: t0}); err != nil {
		t.Fatal(err)
	}

	// A forward that meets a leadership change answers a retryable 503:
	// try again, as a client would.
	clustertest.WaitFor(t, "a restore through a follower", func() error {
		ac.Leader()
		f := ac.follower()
		before := ac.readByOthers(f)
		stop := make(chan struct{})
		half := backup.Len() / 2
		body := &gatedReader{first: backup.Bytes()[:half], rest: backup.Bytes()[half:], open: func() error {
			deadline := time.NewTimer(clustertest.Timeout)
			defer deadline.Stop()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for ac.readByOthers(f) == before {
				select {
				case <-stop:
					return errors.New("answered before the rest of the body was sent")
				case <-deadline.C:
					return errors.New("no other node got any of the backup while the client held back its second half: the follower does not stream it")
				case <-tick.C:
				}
			}
			return nil
		}}
		resp := ac.restoreOn(t, f, body, int64(backup.Len()))
		b, _ := io.ReadAll(resp.Body)
		close(stop)
		if resp.StatusCode == http.StatusServiceUnavailable {
			return fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		if to := resp.Header.Get("X-Honua-Forwarded-To"); resp.StatusCode != 200 || to == "" || to == ac.Nodes()[f].ID() {
			t.Fatalf("restore of a %d-byte backup through follower %s = %d %s (forwarded to %q); want 200 from the leader",
				backup.Len(), ac.Nodes()[f].ID(), resp.StatusCode, b, to)
		}
		// The whole body was sent, so the gate opened.
		if err := body.gateErr(); err != nil {
			t.Fatal(err)
		}
		return nil
	})
	// The backup holds a snapshot (format 2); Dump is the canonical form of
	// the state it restores to.
	restored := fsm.New(nil)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(saved))); err != nil {
		t.Fatal(err)
	}
	want, _ := restored.Dump()
	ac.WaitForState("the backup's state", func(f *fsm.FSM) error {
		if got, _ := f.Dump(); !bytes.Equal(got, want) {
			return errors.New("the state is not the backup's")
		}
		return nil
	})
}
