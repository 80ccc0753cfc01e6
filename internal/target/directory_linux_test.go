package target

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDirectoryDiskFull applies a bundle too large for a 64 KiB tmpfs: the
// error says so, the previous bundle is still served, and no partial
// bundle is left.
func TestDirectoryDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the disk-full test needs root to mount a tmpfs; ENOSPC handling is NOT tested in this run")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: cannot mount a tmpfs (%v: %s); ENOSPC handling is NOT tested in this run", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})

	path := filepath.Join(mnt, "production")
	d := newDir(t, path, 0)
	small := &Bundle{Manifest: Manifest{DeploymentID: "production-1", FencingToken: 1}, Files: map[string][]byte{
		"metadata.json": []byte(`{"services": []}`), "datasources.json": []byte(`{"dataSources": []}`),
	}}
	mustApply(t, d, small)

	big := &Bundle{Manifest: Manifest{DeploymentID: "production-2", FencingToken: 2}, Files: map[string][]byte{
		"metadata.json":    []byte(`{"services": []}`),
		"datasources.json": make([]byte, 256<<10),
	}}
	err := d.Apply(context.Background(), big)
	if err == nil {
		t.Fatal("Apply of a bundle larger than the file system succeeded")
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space") || !strings.HasPrefix(err.Error(), d.String()+": ") {
		t.Errorf("Apply = %v; want an ENOSPC error naming %s and saying no space", err, path)
	}
	t.Logf("error: %v", err)
	checkBundle(t, path, small)
	if dirs := bundleDirs(t, d); len(dirs) != 1 || dirs[0] != "production-1-1" {
		t.Errorf("bundles after the failed apply = %v; want only production-1-1 (no partial directory)", dirs)
	}
	// Once space is freed (here: a smaller bundle), applies work again.
	big.Files["datasources.json"] = []byte("{}")
	mustApply(t, d, big)
	checkBundle(t, path, big)
}
