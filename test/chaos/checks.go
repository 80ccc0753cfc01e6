package chaos

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// finalState is the replicated state at the end of a run, as one node
// serves it.
type finalState struct {
	node string
	envs map[string]api.EnvironmentDetail
	deps map[string]*api.Deployment
}

// Check stops the workload, waits for the cluster to settle, and checks
// everything the package documentation lists. Violations fail the test;
// figures are logged.
func (r *Run) Check() {
	r.t.Helper()
	r.StopWorkload()
	r.settle()
	final := r.fetchFinal()
	ops := r.history.Ops()

	timeout := time.Minute
	if r.opts.Long {
		timeout = 3 * time.Minute
	}
	start := time.Now()
	parts, err := linearizability(ops, r.faults(), timeout, r.artifact())
	if err != nil {
		r.t.Errorf("linearizability: %v", err)
	} else {
		r.Logf("linearizability: %d operations in %d partitions are linearizable (checked in %v)",
			len(modelOps(ops)), parts, time.Since(start).Round(time.Millisecond))
	}
	r.report("unexpected answers", unexpectedAnswers(ops))
	r.report("acknowledged writes lost", r.lostWrites(ops, final))
	r.report("deployment records", recordViolations(final.deps))
	r.report("event streams", eventViolations(r.events.snapshot(), final.deps))
	r.report("two active deployments in an environment (final state)", activeOverlaps(final.deps))
	for node, es := range r.events.snapshot() {
		r.report("two active deployments in an environment (events of "+node+")", eventOverlaps(es))
	}
	r.report("targets", r.targetViolations(final))
	r.checkNotifications(final)
	violations, samples, pruned := r.readers.report()
	r.report("directory readers", violations)
	r.Logf("directory readers read %v whole bundles (%v were pruned while read)", samples, pruned)
	r.reportAcks(ops)
	r.reportSummary(final)
}

// report fails the test with the violations of one check, if any.
func (r *Run) report(check string, violations []string) {
	r.t.Helper()
	if len(violations) == 0 {
		return
	}
	const most = 25
	shown := violations
	if len(shown) > most {
		shown = shown[:most]
	}
	more := ""
	if len(violations) > most {
		more = fmt.Sprintf("\n\t… and %d more", len(violations)-most)
	}
	r.t.Errorf("%s: %d violation(s):\n\t%s%s", check, len(violations), strings.Join(shown, "\n\t"), more)
}

// unexpectedAnswers lists the answers no operation of the workload should
// get: its requests are well formed, its identities allowed, and the
// deployments and environments it names exist.
func unexpectedAnswers(ops []Op) []string {
	var out []string
	for _, o := range ops {
		if o.Hostile {
			// Refused with invalid, not_found or wrong_state, as it
			// must be; the model fails an acknowledged one.
			if o.Outcome == OK {
				out = append(out, fmt.Sprintf("%s: a rollback to a deployment that is no Completed deployment of %s was acknowledged", o.String(), o.Env))
			}
			continue
		}
		switch o.Code {
		case "invalid", "unauthorized", "forbidden", "not_found", "too_large":
			out = append(out, fmt.Sprintf("%s: %s", o.String(), o.Err))
		case "wrong_state":
			// A sync, a suspension and a resumption are never refused
			// for the state they find.
			if o.Kind == OpSync || o.Kind == OpSuspend || o.Kind == OpResume {
				out = append(out, fmt.Sprintf("%s: %s", o.String(), o.Err))
			}
		}
		if o.Outcome == OK && o.Kind == OpReject && o.Rejecter != o.Who {
			out = append(out, fmt.Sprintf("%s: the rejection is recorded as %s's", o.String(), o.Rejecter))
		}
		if o.Outcome == OK && o.Kind == OpCancel && o.Canceller != o.Who {
			out = append(out, fmt.Sprintf("%s: the cancellation is recorded as %s's", o.String(), o.Canceller))
		}
		if o.Outcome == OK && o.Kind == OpRollback && o.CreatedKind != string(fsm.KindRollback) {
			out = append(out, fmt.Sprintf("%s: created a deployment of kind %s", o.String(), o.CreatedKind))
		}
	}
	return out
}

// lostWrites lists the acknowledged writes missing from the final state of
// any node.
func (r *Run) lostWrites(ops []Op, final *finalState) []string {
	var out []string
	for _, n := range r.members() {
		cl := r.nodeClient(n)
		cache := map[string]*api.Deployment{}
		get := func(id string) (*api.Deployment, error) {
			if d, ok := cache[id]; ok {
				return d, nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			defer cancel()
			d, err := cl.Deployment(ctx, id, nil)
			if err == nil {
				cache[id] = d
			}
			return d, err
		}
		for _, o := range ops {
			if o.Outcome != OK {
				continue
			}
			var id string
			switch o.Kind {
			case OpApprove, OpReject, OpCancel:
				id = o.Deployment
			case OpRollback:
				id = o.Created
			default:
				continue
			}
			d, err := get(id)
			if err != nil {
				out = append(out, fmt.Sprintf("%s: %s: %v", n.ID(), o.String(), err))
				continue
			}
			switch {
			case o.Kind == OpApprove && !slices.Contains(approvalIdentities(d), o.Who):
				out = append(out, fmt.Sprintf("%s: %s: %s's approvals are %v", n.ID(), o.String(), id, approvalIdentities(d)))
			case o.Kind == OpReject && (d.State != "Rejected" || d.Rejection == nil || d.Rejection.Identity != o.Who):
				out = append(out, fmt.Sprintf("%s: %s: %s is %s, rejection %+v", n.ID(), o.String(), id, d.State, d.Rejection))
			case o.Kind == OpCancel && (d.State != api.StateCancelled || d.Cancellation == nil || d.Cancellation.Identity != o.Who):
				out = append(out, fmt.Sprintf("%s: %s: %s is %s, cancellation %+v", n.ID(), o.String(), id, d.State, d.Cancellation))
			case o.Kind == OpRollback && (d.Kind != api.KindRollback || d.Commit != o.To || d.Initiator != o.Who):
				out = append(out, fmt.Sprintf("%s: %s: %s is of kind %s, commit %.12s, by %s", n.ID(), o.String(), id, d.Kind, d.Commit, d.Initiator))
			}
		}
	}
	// A sync is acknowledged once it is recorded; a manual-sync deployment
	// of the environment must follow it.
	for _, o := range ops {
		if o.Kind != OpSync || o.Outcome != OK {
			continue
		}
		found := false
		for _, d := range final.deps {
			if d.Environment == o.Env && d.Kind == api.KindManualSync && !d.CreatedAt.Before(o.CallWall.Add(-50*time.Millisecond)) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, fmt.Sprintf("%s: no manual-sync deployment of %s was created after it", o.String(), o.Env))
		}
	}
	return out
}

// recordViolations checks every deployment's transitions: each starts
// where the last ended, none leaves a terminal state (but Failed for an
// automatic rollback), and a deployment reaches at most one verdict.
func recordViolations(deps map[string]*api.Deployment) []string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(deps)) {
		d := deps[id]
		var verdicts []string
		for i, t := range d.Transitions {
			if i > 0 {
				prev := d.Transitions[i-1]
				if t.From != prev.To {
					out = append(out, fmt.Sprintf("%s: transition %d goes from %s, but the one before went to %s", id, i, t.From, prev.To))
				}
				if prev.To.Terminal() && !(prev.To == api.StateFailed && t.To == api.StateRollingBack) {
					out = append(out, fmt.Sprintf("%s: left terminal state %s for %s", id, prev.To, t.To))
				}
			}
			if t.To.Terminal() && !(t.To == api.StateFailed && i+1 < len(d.Transitions) && d.Transitions[i+1].To == api.StateRollingBack) {
				verdicts = append(verdicts, string(t.To))
			}
		}
		if len(verdicts) > 1 {
			out = append(out, fmt.Sprintf("%s reached %d terminal states: %v", id, len(verdicts), verdicts))
		}
		if n := len(d.Transitions); n > 0 && d.Transitions[n-1].To != d.State {
			out = append(out, fmt.Sprintf("%s is %s, but its last transition went to %s", id, d.State, d.Transitions[n-1].To))
		}
	}
	return out
}

// eventIndex returns the Raft index an event id names.
func eventIndex(id string) uint64 {
	eid, err := fsm.ParseEventID(id)
	if err != nil {
		return 0
	}
	return eid.Index
}

// eventViolations checks the event streams against the final state: every
// event any node sent is a transition of the final state, an id means the
// same transition on every node, and each node sent ids in order.
func eventViolations(byNode map[string][]api.Event, deps map[string]*api.Deployment) []string {
	var out []string
	seen := map[string]api.Event{}
	seenOn := map[string]string{}
	for _, node := range slices.Sorted(maps.Keys(byNode)) {
		var last fsm.EventID
		for _, e := range byNode[node] {
			eid, err := fsm.ParseEventID(e.ID)
			if err != nil {
				out = append(out, fmt.Sprintf("%s sent event id %q: %v", node, e.ID, err))
				continue
			}
			if eid.Index < last.Index || (eid.Index == last.Index && eid.N <= last.N) {
				out = append(out, fmt.Sprintf("%s sent event %s after %s", node, e.ID, last))
			}
			last = eid
			key := fmt.Sprintf("%s %s %s→%s", e.DeploymentID, e.ID, e.From, e.To)
			if prev, ok := seen[e.ID]; ok && (prev.DeploymentID != e.DeploymentID || prev.From != e.From || prev.To != e.To) {
				out = append(out, fmt.Sprintf("event %s is %s on %s but %s %s→%s on %s",
					e.ID, key, node, prev.DeploymentID, prev.From, prev.To, seenOn[e.ID]))
			}
			seen[e.ID], seenOn[e.ID] = e, node
			d, ok := deps[e.DeploymentID]
			if !ok {
				out = append(out, fmt.Sprintf("%s sent event %s of a deployment the final state does not have", node, key))
				continue
			}
			if !slices.ContainsFunc(d.Transitions, func(t api.Transition) bool {
				return t.Index == eid.Index && t.From == e.From && t.To == e.To
			}) {
				out = append(out, fmt.Sprintf("%s sent event %s, which is not a transition of the final state of %s", node, key, d.ID))
			}
		}
	}
	return out
}

// transitionAt is one transition of one deployment, for ordering an
// environment's transitions.
type transitionAt struct {
	index    uint64
	dep      string
	num      uint64 // the deployment's number
	pos      int
	from, to fsm.DeploymentState
	env      string
}

func depNumber(id string) uint64 {
	n, _ := strconv.ParseUint(id[strings.LastIndexByte(id, '-')+1:], 10, 64)
	return n
}

// activeOverlaps checks, from the final state's transitions in Raft order,
// that no environment ever had two deployments active at once.
func activeOverlaps(deps map[string]*api.Deployment) []string {
	var all []transitionAt
	for _, d := range deps {
		for i, t := range d.Transitions {
			all = append(all, transitionAt{t.Index, d.ID, depNumber(d.ID), i, fsmState(t.From), fsmState(t.To), d.Environment})
		}
	}
	slices.SortFunc(all, func(a, b transitionAt) int {
		return cmp.Or(cmp.Compare(a.index, b.index), cmp.Compare(a.num, b.num), cmp.Compare(a.pos, b.pos))
	})
	return overlaps(all)
}

// eventOverlaps is activeOverlaps over one node's event stream.
func eventOverlaps(es []api.Event) []string {
	all := make([]transitionAt, len(es))
	for i, e := range es {
		all[i] = transitionAt{eventIndex(e.ID), e.DeploymentID, depNumber(e.DeploymentID), i, fsmState(e.From), fsmState(e.To), e.Environment}
	}
	return overlaps(all)
}

// fsmState is the FSM's state of an API's state name (0 for "" or a name
// that is none).
func fsmState(s api.DeploymentState) fsm.DeploymentState {
	st, _ := fsm.ParseState(string(s))
	return st
}

func overlaps(ordered []transitionAt) []string {
	var out []string
	active := map[string]map[string]bool{} // environment → its active deployments
	for _, t := range ordered {
		if active[t.env] == nil {
			active[t.env] = map[string]bool{}
		}
		set := active[t.env]
		switch {
		case t.to.Active() && !set[t.dep]:
			if len(set) > 0 {
				out = append(out, fmt.Sprintf("%s: %s became %s at index %d while %v was active",
					t.env, t.dep, t.to, t.index, slices.Sorted(maps.Keys(set))))
			}
			set[t.dep] = true
		case !t.to.Active():
			delete(set, t.dep)
		}
	}
	return out
}

// targetViolations checks that every target holds exactly the bundle of its
// environment's deployed deployment, with the environment's last fencing
// token, that the agents' accepted tokens only went up (agentViolations),
// and that no gate environment's target was ever written.
func (r *Run) targetViolations(final *finalState) []string {
	var out []string
	for _, env := range r.envs() {
		if r.isGate(env) {
			if _, err := resolve(r.dirs[env]); err == nil {
				out = append(out, fmt.Sprintf("%s: its directory target was written; a gate never deploys", env))
			}
			out = append(out, r.gateAgentViolations(env)...)
			continue
		}
		e := final.envs[env]
		if e.Environment == nil {
			out = append(out, fmt.Sprintf("%s: not in the final state", env))
			continue
		}
		want, ok := r.repo.bundleFiles(env, e.DeployedCommit)
		if !ok {
			out = append(out, fmt.Sprintf("%s: deployed commit %.12s was never committed", env, e.DeployedCommit))
			continue
		}
		var token uint64
		for _, id := range e.History {
			if d := final.deps[id]; d != nil {
				token = max(token, d.FencingToken)
			}
		}
		deployed := served{DeploymentID: e.DeployedDeployment, Commit: e.DeployedCommit, Token: token}
		check := func(target string, m *manifest, files map[string]string) {
			out = append(out, manifestViolations(env, target, m, deployed)...)
			if diff := diffFiles(files, want); diff != "" {
				out = append(out, fmt.Sprintf("%s: %s does not hold the files of %.12s: %s", env, target, e.DeployedCommit, diff))
			}
		}
		if bundle, err := resolve(r.dirs[env]); err != nil {
			out = append(out, fmt.Sprintf("%s: directory target: %v", env, err))
		} else if m, files, err := readBundle(bundle); err != nil {
			out = append(out, fmt.Sprintf("%s: directory target: %v", env, err))
		} else {
			check("its directory target", m, files)
		}
		out = append(out, r.agentViolations(env, deployed, want, check)...)
	}
	return out
}

// manifestViolations compares the manifest a target holds with the
// environment's deployed deployment and its last fencing token.
func manifestViolations(env, target string, m *manifest, deployed served) []string {
	var out []string
	if m.DeploymentID != deployed.DeploymentID || m.Commit != deployed.Commit || m.Environment != env {
		out = append(out, fmt.Sprintf("%s: %s holds deployment %s of %s at %.12s; the environment has deployed %s at %.12s",
			env, target, m.DeploymentID, m.Environment, m.Commit, deployed.DeploymentID, deployed.Commit))
	}
	if m.FencingToken != deployed.Token {
		out = append(out, fmt.Sprintf("%s: %s holds a bundle with fencing token %d; the environment's last apply had token %d",
			env, target, m.FencingToken, deployed.Token))
	}
	return out
}

// firstAck is the first write a survivor acknowledged after an outage.
type firstAck struct {
	outage outage
	op     *Op
}

// firstAcks finds, for every outage, the first write acknowledged among
// those called after it.
func firstAcks(ops []Op, outages []outage) []firstAck {
	out := make([]firstAck, len(outages))
	for i, o := range outages {
		out[i].outage = o
		for j := range ops {
			op := &ops[j]
			if !op.Kind.write() || op.Outcome != OK || op.Call < o.At {
				continue
			}
			if out[i].op == nil || op.Return < out[i].op.Return {
				out[i].op = op
			}
		}
	}
	return out
}

// reportAcks prints the time from every outage to the first write a
// survivor acknowledged.
func (r *Run) reportAcks(ops []Op) {
	r.mu.Lock()
	outages := slices.Clone(r.outages)
	r.mu.Unlock()
	var times []time.Duration
	for _, a := range firstAcks(ops, outages) {
		if a.op == nil {
			r.Logf("%s at %.3fs: no write was acknowledged after it", a.outage.What, a.outage.At.Seconds())
			continue
		}
		d := a.op.Return - a.outage.At
		times = append(times, d)
		r.Logf("%s at %.3fs → first write acknowledged %v later: %s", a.outage.What, a.outage.At.Seconds(), d.Round(time.Millisecond), a.op)
	}
	if len(times) > 0 {
		slices.Sort(times)
		r.Logf("outage → first acknowledged write: %d outages, median %v, max %v",
			len(times), times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
	}
}

// reportSummary prints what the run did: deployments by state and kind,
// snapshots taken and installed, and the figures the faults noted.
func (r *Run) reportSummary(final *finalState) {
	states := map[string]int{}
	for _, d := range final.deps {
		states[string(d.Kind)+"/"+string(d.State)]++
		if d.State == api.StateFailed || d.State == api.StateRolledBack {
			r.Logf("deployment %s (%s) ended %s: %s", d.ID, d.Kind, d.State, d.Error)
		}
	}
	r.Logf("deployments: %v", states)
	var snaps, installs int
	for _, n := range r.cluster.Nodes() {
		log := n.Log()
		snaps += strings.Count(log, "snapshot complete up to")
		installs += strings.Count(log, "Installed remote snapshot")
	}
	r.Logf("raft snapshots in the nodes' last runs: %d taken, %d installed from a leader", snaps, installs)
	r.mu.Lock()
	notes := slices.Clone(r.notes)
	r.mu.Unlock()
	for _, n := range notes {
		r.Logf("%s", n)
	}
}
