package targetagent

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/target"
)

// TestDiskFull gives the agent a folder on a 64 KiB tmpfs: a bundle too
// large for it is answered 507, honuad's http target gives up with the
// error when its deadline ends, nothing half-written is left, and the old
// bundle keeps being served; the next bundle that fits is taken.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the disk-full test needs root to mount a tmpfs; the agent's ENOSPC handling is NOT tested in this run")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: cannot mount a tmpfs (%v: %s); the agent's ENOSPC handling is NOT tested in this run", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	a := newAgent(t, func(c *Config) { c.Dir = filepath.Join(mnt, "metadata") })
	if err := a.apply(bundle("d1", 1, map[string]string{"metadata.json": "one"}), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	before := listDir(t, mnt)

	big := bundle("d2", 2, map[string]string{"metadata.json": "two", "data.json": strings.Repeat("x", 256<<10)})
	err := a.apply(big, 3*time.Second)
	if err == nil || !strings.Contains(err.Error(), "507") || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("Apply of a bundle larger than the disk: %v; want the agent's 507 saying the disk is full", err)
	}
	if errors.Is(err, target.ErrFenced) {
		t.Errorf("a full disk reads as fencing: %v", err)
	}
	if got := a.served("metadata.json"); got != "one" {
		t.Errorf("after the full disk the folder serves %q; want the old bundle's", got)
	}
	if st := a.status(); st.Manifest == nil || st.Manifest.BundleID() != "d1-1" {
		t.Errorf("status after the full disk = %+v; want d1-1 served", st.Manifest)
	}
	after := listDir(t, mnt)
	if extra := slices.DeleteFunc(after, func(p string) bool { return slices.Contains(before, p) }); len(extra) > 0 {
		t.Errorf("the full disk left %v behind; want nothing half-written", extra)
	}
	code, body := a.put(a.token, headers(big.Manifest), document(t, big.Manifest, map[string]string{"metadata.json": "two", "data.json": strings.Repeat("x", 256<<10)}))
	if code != http.StatusInsufficientStorage || !isJSONError(body, "insufficient_storage") {
		t.Errorf("PUT of a bundle larger than the disk = %d %s; want 507", code, body)
	}
	if err := a.apply(bundle("d3", 3, map[string]string{"metadata.json": "three"}), 30*time.Second); err != nil {
		t.Errorf("Apply of a bundle that fits, after the full disk: %v", err)
	}
	if got := a.served("metadata.json"); got != "three" {
		t.Errorf("the folder serves %q; want the bundle that fits", got)
	}
}
