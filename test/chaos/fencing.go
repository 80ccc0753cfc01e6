package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/test/harness"
)

// appAgents returns the http targets (agents) of the environments that
// deploy.
func (r *Run) appAgents() []*agentTarget {
	var out []*agentTarget
	for _, env := range r.deploying() {
		out = append(out, r.agents[env])
	}
	return out
}

// holdApply makes every deploying environment's agent proxy hold its next
// PUT and waits for the first one: the leader is then in the middle of an
// Applying step. The caller releases them with releaseAll.
func (r *Run) holdApply() *Held {
	r.t.Helper()
	servers := r.appAgents()
	for _, s := range servers {
		s.HoldNext(1)
	}
	var held *Held
	err := harness.Poll(leaderTimeout, "an http target to receive a PUT to hold", func() error {
		for _, s := range servers {
			select {
			case h := <-s.Held():
				held = h
				return nil
			default:
			}
		}
		return errors.New("no PUT yet")
	})
	// Hold no more: the leader that takes over must not be held.
	for _, s := range servers {
		s.HoldNext(0)
	}
	if err != nil {
		r.releaseAll()
		r.t.Fatal(err)
	}
	return held
}

// releaseAll stops holding PUTs and releases the held ones.
func (r *Run) releaseAll() {
	for _, s := range r.appAgents() {
		s.ReleaseAll()
		for {
			select {
			case <-s.Held():
				continue
			default:
			}
			break
		}
	}
}

// deployment reads a deployment from a node.
func (r *Run) deployment(n *harness.Node, id string) (*api.Deployment, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return r.nodeClient(n).Deployment(ctx, id, nil)
}

// killLeaderApplying: SIGKILL the leader while the proxy in front of an
// agent holds its PUT of a deployment in Applying; the new leader must
// apply it again with a higher fencing token (or roll it back). Once it
// has, the proxy delivers the killed leader's PUT, late: the agent must
// refuse it with 409.
func (r *Run) killLeaderApplying() {
	r.t.Helper()
	h := r.holdApply()
	leader := r.leader()
	id := h.Manifest.DeploymentID
	if h.From != "" && h.From != leader.ID() {
		r.releaseAll()
		r.t.Fatalf("held %s was sent by %s; the leader is %s", h.Put, h.From, leader.ID())
	}
	d, err := r.deployment(leader, id)
	if err == nil && (d.State != "Applying" || d.FencingToken != h.Token) {
		err = fmt.Errorf("deployment %s is %s with token %d", id, d.State, d.FencingToken)
	}
	if err != nil {
		r.releaseAll()
		r.t.Fatalf("leader %s while its PUT %s is held: %v; want the deployment Applying with the PUT's token", leader, h.Put, err)
	}
	r.killNode(leader, fmt.Sprintf("SIGKILL leader %s while %s is Applying (its PUT with token %d held)", leader.ID(), id, h.Token), true)
	nl, err := r.cluster.WaitForNewLeader(leader, leaderTimeout)
	if err != nil {
		r.releaseAll()
		r.t.Fatal(err)
	}
	var final *api.Deployment
	err = harness.Poll(settleTimeout, fmt.Sprintf("%s to finish %s", nl, id), func() error {
		d, err := r.deployment(nl, id)
		if err == nil && d.State.Active() {
			err = fmt.Errorf("%s is %s", id, d.State)
		}
		final = d
		return err
	})
	if err != nil {
		r.releaseAll()
		r.t.Fatal(err)
	}
	r.Logf("%s took over: %s is %s with token %d (the killed leader's was %d)", nl.ID(), id, final.State, final.FencingToken, h.Token)
	if final.State != "Superseded" && final.FencingToken <= h.Token {
		r.t.Errorf("deployment %s ended %s with fencing token %d; want a higher token than the killed leader's %d", id, final.State, final.FencingToken, h.Token)
	}
	// Now the killed leader's PUT arrives, late.
	code, highest := r.releaseLate("the killed leader "+leader.ID(), h)
	r.releaseAll()
	if final.State == "Completed" && highest < final.FencingToken {
		r.t.Errorf("%s completed %s with token %d, but its agent's highest accepted token is %d", nl.ID(), id, final.FencingToken, highest)
	}
	r.note("kill-leader-applying: %s killed while its PUT of %s with token %d was held; %s ended %s with token %d; the late PUT answered %d by the agent (its highest token %d)",
		leader.ID(), id, h.Token, id, final.State, final.FencingToken, code, highest)
	r.idle(r.between(500*time.Millisecond, 2*time.Second))
	r.restart(leader)
}

// pauseLeader: SIGSTOP the leader while an agent's proxy holds its PUT of
// a deployment in Applying, for longer than its lease; a new leader takes
// over and finishes what the paused one had in flight; then SIGCONT it
// and release its PUT. The agent must refuse the late PUT (it accepted a
// higher token), and the resumed node must not deploy: no PUT it sends
// after it resumes is accepted.
func (r *Run) pauseLeader() {
	r.t.Helper()
	h := r.holdApply()
	old := r.leader()
	old.Pause()
	paused := time.Now()
	r.Logf("SIGSTOP leader %s while its PUT %s is held", old.ID(), h.Put)
	nl, err := r.cluster.WaitForNewLeader(old, leaderTimeout)
	if err != nil {
		old.Resume()
		r.releaseAll()
		r.t.Fatal(err)
	}
	// Everything the paused leader could be in the middle of is a
	// deployment active in the state the new leader took over: wait until
	// the new leader has finished all of them (the held one among them).
	// It may not get to: a leader paused inside a directory target's
	// Apply holds the target's lock, and the new leader waits for it
	// (TestTargetLockHeldByPausedLeader).
	inFlight := r.activeDeployments(nl)
	err = harness.Poll(lockWait, fmt.Sprintf("%s to finish the deployments active when it took over %v", nl, inFlight), func() error {
		for _, id := range inFlight {
			d, err := r.deployment(nl, id)
			if err != nil {
				return err
			}
			if d.State.Active() || (id == h.Manifest.DeploymentID && d.State.Waiting()) {
				return fmt.Errorf("%s is %s", id, d.State)
			}
		}
		return nil
	})
	finished := err == nil
	if !finished {
		r.Logf("KNOWN ISSUE (TestTargetLockHeldByPausedLeader): %v; the paused %s holds a directory target's lock, resuming it", err, old.ID())
		r.note("pause-leader: KNOWN ISSUE: %s could not finish %v while %s was paused (a directory target's lock held by the paused node)",
			nl.ID(), inFlight, old.ID())
	}
	// Well past the lease, and past the workload's timeout, so that
	// requests sent to the paused node end unknown and are served when it
	// resumes.
	if rest := r.between(3500*time.Millisecond, 6*time.Second) - time.Since(paused); rest > 0 {
		r.idle(rest)
	}
	old.Resume()
	resumed := time.Now()
	r.Logf("SIGCONT %s after %v; %s finished %v: %v", old.ID(), resumed.Sub(paused).Round(time.Millisecond), nl.ID(), inFlight, finished)
	code, highest := r.releaseLate("the paused leader "+old.ID(), h)
	r.releaseAll()
	if d, err := r.deployment(nl, h.Manifest.DeploymentID); finished && err == nil && d.State == "Completed" && (code != http.StatusConflict || highest < d.FencingToken) {
		r.t.Errorf("the paused leader %s's late %s was answered %d; want 409: %s completed with token %d (the agent's highest token was %d)",
			old.ID(), h.Put, code, d.ID, d.FencingToken, highest)
	}
	if err := harness.Poll(leaderTimeout, old.ID()+" to follow another leader", func() error {
		st, err := old.Status()
		if err == nil && (st.State != "Follower" || st.LeaderID() == "" || st.LeaderID() == old.ID()) {
			err = fmt.Errorf("%s", st)
		}
		return err
	}); err != nil {
		r.t.Fatal(err)
	}
	r.waitCaughtUp(old)
	// Once the new leader has applied, with higher tokens, everything the
	// paused one had in flight, no PUT the resumed node sends may be
	// accepted. (When it could not finish, a PUT the paused node had
	// verified its leadership for may still land legitimately, first.)
	var late []string
	for _, s := range r.appAgents() {
		for _, p := range s.Puts() {
			if p.From == old.ID() && p.Received.After(resumed) {
				late = append(late, s.Name()+": "+p.String())
				if p.Status == http.StatusOK && finished {
					r.t.Errorf("the resumed leader %s deployed after it resumed: %s accepted %s", old.ID(), s.Name(), p)
				}
			}
		}
	}
	r.note("pause-leader: %s paused %v; its held PUT answered %d; PUTs it sent after resuming: %d %v",
		old.ID(), resumed.Sub(paused).Round(time.Millisecond), code, len(late), late)
}

// releaseLate releases a held PUT of a deposed leader (who) and checks the
// agent's answer: once the agent has accepted a higher token, it must
// refuse the late PUT with 409 and go on serving a bundle with a higher
// token. It returns the agent's answer and the highest token the agent
// said it had accepted before the release (GET /v1/bundle).
func (r *Run) releaseLate(who string, h *Held) (code int, highest uint64) {
	r.t.Helper()
	before, err := h.a.Status()
	if err != nil {
		h.Release()
		r.t.Fatalf("before %s's late PUT: %v", who, err)
	}
	h.Release()
	code = h.WaitAnswered(r.t)
	after, err := h.a.Status()
	if err != nil {
		r.t.Fatalf("after %s's late PUT: %v", who, err)
	}
	put := fmt.Sprintf("PUT #%d (deployment %s, token %d)", h.Seq, h.Manifest.DeploymentID, h.Token)
	r.Logf("%s's late %s: %s had accepted token %d; it answered %d and now serves %s (highest token %d)",
		who, put, h.a.agent, before.HighestFencingToken, code, describeStatus(after), after.HighestFencingToken)
	if before.HighestFencingToken <= h.Token {
		return code, before.HighestFencingToken
	}
	if code != http.StatusConflict {
		r.t.Errorf("%s's late %s was answered %d by %s; want 409: it had accepted token %d", who, put, code, h.a.agent, before.HighestFencingToken)
	}
	if after.Manifest == nil || after.Manifest.FencingToken <= h.Token || after.HighestFencingToken < before.HighestFencingToken {
		r.t.Errorf("%s after %s's late %s serves %s with highest token %d; want a bundle with a token above %d, and the highest token at least %d",
			h.a.agent, who, put, describeStatus(after), after.HighestFencingToken, h.Token, before.HighestFencingToken)
	}
	return code, before.HighestFencingToken
}

// describeStatus names the bundle an agent serves.
func describeStatus(st harness.TargetAgentStatus) string {
	if st.Manifest == nil {
		return "nothing"
	}
	return fmt.Sprintf("deployment %s commit %.12s token %d", st.Manifest.DeploymentID, st.Manifest.Commit, st.Manifest.FencingToken)
}

// lockWait is how long the pause-leader fault lets the new leader finish
// what the paused one had in flight.
const lockWait = 20 * time.Second

// activeDeployments lists the deployments a node has active.
func (r *Run) activeDeployments(n *harness.Node) []string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	envs, err := r.nodeClient(n).Environments(ctx, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range envs {
		if e.Current != "" {
			out = append(out, e.Current)
		}
	}
	return out
}
