package main

import (
	"strings"
	"time"
)

// pollStepKeys are the fields of the reconciler's debug line "polled"
// that time a step of a poll, in the order they happen.
var pollStepKeys = []string{"queued", "lsRemote", "fetch", "read", "observe", "record", "total"}

// pollSteps reads the steps of every poll a webhook asked for from a
// leader's log, which has them only at --log-level debug.
func pollSteps(log string) [][]phase {
	var all [][]phase
	for line := range strings.SplitSeq(log, "\n") {
		if !strings.Contains(line, "msg=polled") || !strings.Contains(line, `reason="webhook`) {
			continue
		}
		fields := map[string]time.Duration{}
		for f := range strings.FieldsSeq(line) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			if d, err := time.ParseDuration(v); err == nil {
				fields[k] = d
			}
		}
		var ps []phase
		for _, k := range pollStepKeys {
			if d, ok := fields[k]; ok {
				ps = append(ps, phase{k, d})
			}
		}
		if len(ps) > 0 { // an older honuad logs no steps
			all = append(all, ps)
		}
	}
	return all
}
