package target

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// readOnce reads a directory target's path the two ways a server might,
// and describes anything that is not one whole bundle ("" when all is
// well): it opens <path>/metadata.json directly, and it resolves <path>
// once and reads the whole bundle from there.
func readOnce(path string, names []string) string {
	data, err := os.ReadFile(filepath.Join(path, "metadata.json"))
	if err != nil {
		return "open through the path: " + err.Error()
	}
	var doc struct{ Bundle, Pad string }
	if err := json.Unmarshal(data, &doc); err != nil || len(doc.Pad) != 4096 {
		return fmt.Sprintf("metadata.json through the path is not whole (%d bytes): %v", len(data), err)
	}

	dir, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "resolve the path: " + err.Error()
	}
	files, err := readTree(dir)
	if err != nil {
		return "read the resolved bundle: " + err.Error()
	}
	m, err := decodeManifest(files[ManifestPath])
	if err != nil {
		return fmt.Sprintf("%s: manifest: %v", dir, err)
	}
	delete(files, ManifestPath)
	got := make([]string, 0, len(files))
	for name := range files {
		got = append(got, name)
	}
	slices.Sort(got)
	if !slices.Equal(got, names) {
		return fmt.Sprintf("%s holds %v; want %v", dir, got, names)
	}
	for name, data := range files {
		if err := json.Unmarshal(data, &doc); err != nil || doc.Bundle != m.BundleID() || len(doc.Pad) != 4096 {
			return fmt.Sprintf("%s/%s is not whole, or from bundle %q, not %q (%v)", dir, name, doc.Bundle, m.BundleID(), err)
		}
	}
	return ""
}

func TestDirectoryAtomicSwitch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "production")
	d := newDir(t, path, 0)
	mustApply(t, d, testBundle("production-0", 1))
	var names []string
	for name := range testBundle("x", 1).Files {
		names = append(names, name)
	}
	slices.Sort(names)

	var reads atomic.Int64
	var mu sync.Mutex
	var problems []string
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if p := readOnce(path, names); p != "" {
				mu.Lock()
				problems = append(problems, p)
				mu.Unlock()
			}
			reads.Add(1)
		}
	}()
	for i := 1; i <= 50; i++ {
		before := reads.Load()
		mustApply(t, d, testBundle(fmt.Sprintf("production-%d", i), uint64(i+1)))
		// At least one whole read starts after each switch.
		waitUntil(t, 10*time.Second, "the reader to read the path again", func() bool { return reads.Load() > before+1 })
	}
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	for i, p := range problems {
		if i == 10 {
			t.Errorf("... and %d more", len(problems)-10)
			break
		}
		t.Errorf("reader saw: %s", p)
	}
	t.Logf("%d reads during 50 switches", reads.Load())
	if got := served(t, d).DeploymentID; got != "production-50" {
		t.Errorf("served %s; want production-50", got)
	}
	if dirs := bundleDirs(t, d); len(dirs) != DefaultKeep {
		t.Errorf("bundles = %v; want %d", dirs, DefaultKeep)
	}
}

func TestDirectoryLockWaits(t *testing.T) {
	d := newDir(t, filepath.Join(t.TempDir(), "production"), 0)
	mustApply(t, d, testBundle("production-1", 1))

	// Another process (here: another open file) holds the lock.
	f, err := os.OpenFile(filepath.Join(d.area, "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tryLock(f); err != nil {
		t.Fatalf("lock: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = d.Apply(ctx, testBundle("production-2", 2))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Apply while locked = %v; want it to wait until the context ends", err)
	}
	if e := asError(t, err); e.Op != "lock" || !e.Retryable || !strings.Contains(err.Error(), "held by another apply") {
		t.Errorf("error = %v (op %q, retryable %v); want a retryable lock error", err, e.Op, e.Retryable)
	}
	if got := served(t, d).FencingToken; got != 1 {
		t.Errorf("served token %d; want 1", got)
	}
	f.Close() // releases the lock
	mustApply(t, d, testBundle("production-2", 2))
}

// The environment of TestHelperApplyProcess.
const (
	helperPath   = "HONUA_TARGET_HELPER_PATH"
	helperTokens = "HONUA_TARGET_HELPER_TOKENS"
)

// TestHelperApplyProcess is not a test: TestDirectoryAcrossProcesses runs
// the test binary with it to apply bundles from another process. It
// prints "accepted N" or "fenced N" for every token it applies.
func TestHelperApplyProcess(t *testing.T) {
	path := os.Getenv(helperPath)
	if path == "" {
		return
	}
	d := newDir(t, path, 1000)
	for _, s := range strings.Split(os.Getenv(helperTokens), ",") {
		token, _ := strconv.ParseUint(s, 10, 64)
		fmt.Println(applyResult(d, token))
	}
}

// applyResult applies the test bundle for token and says what happened:
// "accepted N", "fenced N" or an error.
func applyResult(d *directoryTarget, token uint64) string {
	err := d.Apply(context.Background(), testBundle(fmt.Sprintf("production-%d", token), token))
	switch {
	case err == nil:
		return fmt.Sprintf("accepted %d", token)
	case errors.Is(err, ErrFenced):
		return fmt.Sprintf("fenced %d", token)
	default:
		return "error: " + err.Error()
	}
}

// TestDirectoryAcrossProcesses applies tokens 1..n from two processes and
// two goroutines at once, each worker in increasing order. The flock makes
// check-then-switch atomic, so the switches happen in increasing token
// order and the token served at the end is the highest accepted.
func TestDirectoryAcrossProcesses(t *testing.T) {
	const n, workers = 60, 4
	path := filepath.Join(t.TempDir(), "production")
	tokens := make([][]string, workers)
	for i := 1; i <= n; i++ {
		tokens[i%workers] = append(tokens[i%workers], strconv.Itoa(i))
	}

	var mu sync.Mutex
	var results []string
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperApplyProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperPath+"="+path, helperTokens+"="+strings.Join(tokens[w], ","))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("helper process %d: %v\n%s%s", w, err, out, stderr.Bytes())
			}
			mu.Lock()
			defer mu.Unlock()
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				if line := sc.Text(); line != "PASS" {
					results = append(results, line)
				}
			}
		})
	}
	for w := 2; w < workers; w++ {
		wg.Go(func() {
			d := newDir(t, path, 1000)
			for _, s := range tokens[w] {
				token, _ := strconv.ParseUint(s, 10, 64)
				r := applyResult(d, token)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	accepted := map[uint64]bool{}
	var fenced []uint64
	var highest uint64
	for _, r := range results {
		verdict, num, _ := strings.Cut(r, " ")
		token, err := strconv.ParseUint(num, 10, 64)
		switch {
		case err == nil && verdict == "accepted":
			accepted[token] = true
			highest = max(highest, token)
		case err == nil && verdict == "fenced":
			fenced = append(fenced, token)
		default:
			t.Errorf("apply: %s", r)
		}
	}
	if len(accepted)+len(fenced) != n {
		t.Fatalf("%d accepted + %d fenced; want %d results", len(accepted), len(fenced), n)
	}
	if highest != n {
		t.Errorf("highest accepted token = %d; want %d (the highest is never fenced)", highest, n)
	}
	for _, f := range fenced {
		if f >= highest {
			t.Errorf("token %d was fenced, but no higher token was accepted", f)
		}
	}
	d := newDir(t, path, 1000)
	if got := served(t, d).FencingToken; got != highest {
		t.Errorf("served token %d; want the highest accepted, %d", got, highest)
	}
	st, err := d.readState()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Bundles) != len(accepted) {
		t.Errorf("switched %d bundles; want the %d accepted", len(st.Bundles), len(accepted))
	}
	var last uint64
	for _, id := range st.Bundles {
		token, _ := strconv.ParseUint(id[strings.LastIndexByte(id, '-')+1:], 10, 64)
		if token <= last || !accepted[token] {
			t.Errorf("switch order %v: %s came after token %d (or was not accepted)", st.Bundles, id, last)
		}
		last = token
	}
	t.Logf("%d accepted, %d fenced", len(accepted), len(fenced))
}
