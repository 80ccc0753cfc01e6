package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
)

// snapshotSave writes a backup of the cluster's replicated state to a file
// (admin). The file is written beside its final name and renamed, so a
// failed save never leaves a truncated backup behind.
func (a *app) snapshotSave(c *cli.Context) error {
	e, as, err := a.start(c, "<file>")
	if err != nil {
		return err
	}
	path := as[0]
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := e.client.SaveSnapshot(e.ctx, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	if e.json {
		return printJSON(e.out, map[string]any{"file": path, "bytes": n})
	}
	fprintf(e.out, "Saved a backup of the cluster's state to %s (%d bytes).\n", path, n)
	return nil
}

// snapshotRestore replaces the cluster's replicated state with a backup's
// (admin).
func (a *app) snapshotRestore(c *cli.Context) error {
	as, err := args(c, "<file>")
	if err != nil {
		return err
	}
	if !c.Bool("yes") {
		return usagef("snapshot restore replaces every deployment, approval and environment record of the cluster; confirm with --yes")
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(as[0])
	if err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
	index, err := e.client.RestoreSnapshot(e.ctx, b)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, map[string]any{"file": as[0], "appliedIndex": index})
	}
	fprintf(e.out, "Restored the cluster's state from %s; the leader is at index %d.\n", as[0], index)
	return nil
}
