package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/test/harness"
)

// settle waits, after the faults healed, for a leader, for every deployment
// in flight to finish and every commit to be deployed, and for every node
// to reach the same applied index with the same state.
func (r *Run) settle() {
	r.t.Helper()
	start := time.Now()
	leader, err := r.cluster.WaitForLeader(leaderTimeout)
	if err != nil {
		r.t.Fatalf("no leader within %v of healing: %v", leaderTimeout, err)
	}
	r.Logf("settle: %s leads, %v after the faults healed", leader.ID(), time.Since(start).Round(time.Millisecond))
	cl := r.adminClient()
	var busy []string
	err = harness.Poll(settleTimeout, "every deployment to finish and every commit to be deployed", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		envs, err := cl.Environments(ctx, &api.QueryOptions{Consistent: true})
		if err != nil {
			return err
		}
		busy = r.busy(envs)
		if len(busy) > 0 {
			return fmt.Errorf("%s", strings.Join(busy, "; "))
		}
		return nil
	})
	if err != nil {
		r.t.Fatalf("deployments left in flight or commits not deployed %v after healing: %v", settleTimeout, err)
	}
	r.Logf("settle: every deployment finished %v after healing", time.Since(start).Round(time.Millisecond))
	var states map[string]debugState
	err = harness.Poll(settleTimeout, "every node to reach the same applied index with the same state", func() error {
		states = map[string]debugState{}
		for _, n := range r.members() {
			st, err := r.debugState(n)
			if err != nil {
				return err
			}
			states[n.ID()] = st
		}
		return sameState(states)
	})
	if err != nil {
		r.t.Fatalf("nodes did not converge %v after healing: %v", settleTimeout, err)
	}
	for _, st := range states {
		r.Logf("settle: every node applied index %d with state sha256 %.16s (%d bytes), %v after healing",
			st.AppliedIndex, st.SHA256, st.Bytes, time.Since(start).Round(time.Millisecond))
		break
	}
}

// busy lists what keeps the cluster from being settled: a deployment
// active or on its way (only gate deployments may wait, for approval), a
// sync not yet turned into a deployment, an app environment that has not
// deployed its last commit, an environment still suspended (the workload
// resumed every one it suspended when it stopped).
func (r *Run) busy(envs []api.EnvironmentDetail) []string {
	var out []string
	for _, e := range envs {
		if c := e.CurrentDeployment; c != nil {
			out = append(out, fmt.Sprintf("%s: %s is %s (%s)", e.Name, c.ID, c.State, c.Message))
		}
		if w := e.WaitingDeployment; w != nil && !(r.isGate(e.Name) && w.State == "AwaitingApproval") {
			out = append(out, fmt.Sprintf("%s: %s waits in %s (%s)", e.Name, w.ID, w.State, w.Message))
		}
		if su := e.Suspended; su != nil {
			out = append(out, fmt.Sprintf("%s: suspended by %s since %s (%s)", e.Name, su.By, su.Since.Format(time.RFC3339), su.Reason))
		}
		if e.PendingSync != nil {
			out = append(out, fmt.Sprintf("%s: a sync asked by %s is pending", e.Name, e.PendingSync.By))
		}
		if strings.HasPrefix(e.Name, appPrefix) && !r.repo.sameEnvFiles(e.Name, e.DeployedCommit, r.repo.Head()) {
			out = append(out, fmt.Sprintf("%s: deployed %.12s, not the files of the last commit %.12s", e.Name, e.DeployedCommit, r.repo.Head()))
		}
	}
	return out
}

// debugState is a node's GET /v1/debug/state.
type debugState struct {
	AppliedIndex uint64 `json:"appliedIndex"`
	SHA256       string `json:"sha256"`
	Bytes        int    `json:"bytes"`
}

func (r *Run) debugState(n *harness.Node) (debugState, error) {
	var st debugState
	req, err := http.NewRequest(http.MethodGet, n.URL()+"/v1/debug/state", nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Authorization", "Bearer "+r.tokens[adminName])
	resp, err := r.debugClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("%s: GET /v1/debug/state: %w", n, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, fmt.Errorf("%s: GET /v1/debug/state: %w", n, err)
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s: GET /v1/debug/state: %d %s", n, resp.StatusCode, body)
	}
	return st, json.Unmarshal(body, &st)
}

// sameState returns an error unless every node is at the same applied
// index with the same digest; the same index with different digests is
// a violation no wait mends, reported as such.
func sameState(states map[string]debugState) error {
	var first string
	for _, id := range slices.Sorted(maps.Keys(states)) {
		if first == "" {
			first = id
			continue
		}
		a, b := states[first], states[id]
		if a.AppliedIndex != b.AppliedIndex {
			return fmt.Errorf("%s applied %d, %s applied %d", first, a.AppliedIndex, id, b.AppliedIndex)
		}
		if a.SHA256 != b.SHA256 {
			return fmt.Errorf("DIVERGED: at applied index %d, %s has state %s (%d bytes) and %s has %s (%d bytes)",
				a.AppliedIndex, first, a.SHA256, a.Bytes, id, b.SHA256, b.Bytes)
		}
	}
	return nil
}

// fetchFinal reads every environment and every deployment from the
// leader.
func (r *Run) fetchFinal() *finalState {
	r.t.Helper()
	leader, err := r.cluster.WaitForLeader(leaderTimeout)
	if err != nil {
		r.t.Fatal(err)
	}
	cl := r.nodeClient(leader)
	f := &finalState{node: leader.ID(), envs: map[string]api.EnvironmentDetail{}, deps: map[string]*api.Deployment{}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	envs, err := cl.Environments(ctx, &api.QueryOptions{Consistent: true})
	if err != nil {
		r.t.Fatalf("final state: %v", err)
	}
	for _, listed := range envs {
		// The list leaves out history ids; the environment's record has them.
		e, err := cl.Environment(ctx, listed.Name, &api.QueryOptions{Consistent: true})
		if err != nil {
			r.t.Fatalf("final state: environment %s: %v", listed.Name, err)
		}
		if len(e.History) != listed.HistoryLength {
			r.t.Fatalf("final state: environment %s has %d history ids; the list counted %d", listed.Name, len(e.History), listed.HistoryLength)
		}
		f.envs[e.Name] = *e
		for _, id := range e.History {
			d, err := cl.Deployment(ctx, id, nil)
			if err != nil {
				r.t.Fatalf("final state: deployment %s: %v", id, err)
			}
			f.deps[id] = d
		}
	}
	return f
}
