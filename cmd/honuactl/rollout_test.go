package main

import (
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

// TestDescribeRollout: honuactl rollout shows each wave with its phase,
// targets, token and bake, who promoted it, and each check's value.
func TestDescribeRollout(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	failed := &api.AnalysisRound{Time: at.Add(time.Minute), Results: []api.AnalysisResult{
		{Check: "error-rate", Target: "eu-1", Value: 0.4, Status: "failed"},
		{Check: "error-rate", Target: "eu-2", Status: "error", Error: "prometheus did not answer"}}}
	d := &api.Deployment{ID: "production-7", State: "RolledBack", RolloutAbort: nil, Rollout: []api.Wave{
		{Targets: []string{"canary"}, Phase: "passed", Token: 11, BakeUntil: at, Rounds: 3,
			Promoted: &api.RolloutControl{Identity: "alice"}, Last: &api.AnalysisRound{Time: at, Passed: true,
				Results: []api.AnalysisResult{{Check: "error-rate", Target: "canary", Value: 0.001, Status: "passed"}}}},
		{Targets: []string{"eu-1", "eu-2"}, Phase: "failed", Token: 14, Rounds: 1, FailedRounds: 1, Last: failed, LastFailed: failed,
			Message: "wave 1 failed its analysis"},
	}}
	got := describeRollout(d)
	for _, want := range []string{
		"production-7 (RolledBack): 2 wave(s) started",
		"wave 0  passed    targets canary  token 11  bake until 2026-12-03T09:00:00Z  analyses 3 (0 failed)",
		"promoted by alice",
		"error-rate of canary = 0.001 passed",
		"wave 1  failed    targets eu-1, eu-2  token 14  analyses 1 (1 failed)",
		"error-rate of eu-1 = 0.4 failed",
		"error-rate of eu-2 = 0 error (prometheus did not answer)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("describeRollout =\n%s\nwant a line with %q", got, want)
		}
	}
	if n := strings.Count(got, "error-rate of eu-1"); n != 1 {
		t.Errorf("describeRollout shows the failed round %d times; want once when it is also the last", n)
	}
}

// TestDescribeRolloutNamesThePromoterOnce: a passed wave whose message
// already says who promoted it gets no second line saying so; a wave still
// baking, promoted, does.
func TestDescribeRolloutNamesThePromoterOnce(t *testing.T) {
	alice := &api.RolloutControl{Identity: "alice"}
	d := &api.Deployment{ID: "production-2", State: "Completed", Rollout: []api.Wave{
		{Targets: []string{"a"}, Phase: "passed", Token: 36, Promoted: alice, Message: "promoted by alice; 0 analyses, 0 failed"},
		{Targets: []string{"b"}, Phase: "baking", Token: 41, Promoted: alice, Message: "fencing token 41 to b; healthy"},
	}}
	got := describeRollout(d)
	if n := strings.Count(got, "promoted by alice"); n != 2 {
		t.Errorf("describeRollout =\n%s\nsays \"promoted by alice\" %d times; want once per wave", got, n)
	}
}
