package main

// This file shows an environment's drift (docs/domain.md#drift): what the
// leader found when it compared the environment's targets with the bundle
// deployed to them.

import (
	"fmt"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

// driftNote describes d in one line: "drifted since 5m ago (files
// metadata.json, roads.json and 2 more; on directory /srv/x; self-heal
// staging-9)".
func driftNote(now time.Time, d *api.Drift) string {
	files := strings.Join(d.Files, ", ")
	if d.MoreFiles > 0 {
		files += fmt.Sprintf(" and %d more", d.MoreFiles)
	}
	note := fmt.Sprintf("drifted since %s (files %s; on %s", ago(now, d.Since), files, strings.Join(d.Targets, ", "))
	if d.SelfHeal != "" {
		note += "; self-heal " + d.SelfHeal
	}
	return note + ")"
}

// printDrift writes a Drift: line per drifted environment, or one saying
// none is.
func printDrift(e *env, envs []api.EnvironmentDetail) {
	n := 0
	for _, ed := range envs {
		if ed.Environment == nil || ed.Drift == nil {
			continue
		}
		fprintf(e.out, "Drift:       %s %s\n", ed.Name, driftNote(e.now, ed.Drift))
		n++
	}
	if n == 0 {
		fprintf(e.out, "Drift:       none recorded\n")
	}
}
