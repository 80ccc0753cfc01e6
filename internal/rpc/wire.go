package rpc

// The conversion of the replicated state (internal/fsm) and of the node's
// view of the cluster (internal/cluster) into the API's wire types
// (package api). It is the only place that knows both: a field added to
// an fsm or cluster type reaches clients only when it is added here and
// to api, and TestWireFieldsComplete fails until it is. The golden tests
// (golden_test.go) hold the bytes of every answer still.
//
// Slices keep their nil-ness: a nil slice of a field without omitempty is
// JSON null, an empty one [], and clients have seen each.

import (
	"slices"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// wireDeployment is a deployment's whole record as the API sends it.
func wireDeployment(d *fsm.Deployment) *api.Deployment {
	if d == nil {
		return nil
	}
	return &api.Deployment{
		ID:              d.ID,
		Environment:     d.Environment,
		Commit:          d.Commit,
		Branch:          d.Branch,
		Kind:            api.Kind(d.Kind),
		Initiator:       d.Initiator,
		Subject:         d.Subject,
		DryRun:          d.DryRun,
		State:           api.DeploymentState(d.State.String()),
		CreatedAt:       d.CreatedAt,
		UpdatedAt:       d.UpdatedAt,
		Plan:            wirePlan(d.Plan.JSON()),
		Validation:      wireValidation(d.Validation.JSON()),
		PlanDropped:     d.PlanDropped,
		Risk:            d.Risk,
		Approval:        wireApprovalRequirement(d.Approval),
		Approvals:       mapSlice(d.Approvals, wireApproval),
		Rejection:       wireRejection(d.Rejection),
		Cancellation:    wireCancellation(d.Cancellation),
		WindowOverride:  wireWindowOverride(d.WindowOverride),
		Transitions:     mapSlice(d.Transitions, wireTransition),
		Error:           d.Error,
		FencingToken:    d.FencingToken,
		Backup:          wireBackup(d.Backup),
		Applied:         d.Applied,
		RollbackStarted: d.RollbackStarted,
		RollbackTo:      d.RollbackTo,
		Rollout:         mapSlice(d.Rollout, wireWave),
		RolloutAbort:    wireRolloutControl(d.RolloutAbort),
	}
}

// wireWave is one wave of a rollout as the API sends it.
func wireWave(w fsm.WaveRecord) api.Wave {
	return api.Wave{Targets: slices.Clone(w.Targets), Phase: string(w.Phase), Token: w.Token, Started: w.Started,
		Updated: w.Updated, BakeUntil: w.BakeUntil, Rounds: w.Rounds, FailedRounds: w.FailedRounds,
		Last: wireRound(w.Last), LastFailed: wireRound(w.LastFailed), Message: w.Message, Promoted: wireRolloutControl(w.Promoted)}
}

func wireRolloutControl(c *fsm.RolloutControl) *api.RolloutControl {
	if c == nil {
		return nil
	}
	return &api.RolloutControl{Identity: c.Identity, Time: c.Time, Reason: c.Reason}
}

func wireRound(r *fsm.AnalysisRound) *api.AnalysisRound {
	if r == nil {
		return nil
	}
	return &api.AnalysisRound{Time: r.Time, Passed: r.Passed, Results: mapSlice(r.Results, func(x fsm.AnalysisResult) api.AnalysisResult {
		return api.AnalysisResult{Check: x.Check, Target: x.Target, Value: x.Value, Status: x.Status, Error: x.Error}
	})}
}

func wireApprovalRequirement(a *fsm.ApprovalRequirement) *api.ApprovalRequirement {
	if a == nil {
		return nil
	}
	return &api.ApprovalRequirement{Required: a.Required, Groups: slices.Clone(a.Groups), Expires: a.Expires}
}

func wireApproval(a fsm.Approval) api.Approval {
	return api.Approval{Identity: a.Identity, Groups: slices.Clone(a.Groups), Time: a.Time, Comment: a.Comment}
}

func wireCancellation(c *fsm.Cancellation) *api.Cancellation {
	if c == nil {
		return nil
	}
	return &api.Cancellation{Identity: c.Identity, Time: c.Time, Reason: c.Reason}
}

func wireWindowOverride(o *fsm.WindowOverride) *api.WindowOverride {
	if o == nil {
		return nil
	}
	return &api.WindowOverride{Identity: o.Identity, Time: o.Time, Reason: o.Reason}
}

func wireSuspension(s *fsm.Suspension) *api.Suspension {
	if s == nil {
		return nil
	}
	return &api.Suspension{By: s.By, Reason: s.Reason, Since: s.Since, Index: s.Index}
}

func wireRejection(r *fsm.Rejection) *api.Rejection {
	if r == nil {
		return nil
	}
	return &api.Rejection{Identity: r.Identity, Time: r.Time, Reason: r.Reason}
}

func wireTransition(t fsm.Transition) api.Transition {
	return api.Transition{From: api.DeploymentState(t.From.String()), To: api.DeploymentState(t.To.String()), Time: t.Time.Time(),
		Message: t.Message, Index: t.Index}
}

func wireBackup(b *fsm.Backup) *api.Backup {
	if b == nil {
		return nil
	}
	return &api.Backup{DeploymentID: b.DeploymentID, Commit: b.Commit, BundleID: b.BundleID}
}

// wireNotification is a notification of the outbox as the API sends it:
// every field but the Raft index of the entry that raised it and the time
// of the last command that changed it, which say nothing a client acts on
// (TestWireFieldsComplete lists them).
func wireNotification(n fsm.Notification) api.Notification {
	return api.Notification{
		ID:           n.ID,
		DeploymentID: n.DeploymentID,
		Environment:  n.Environment,
		Channel:      n.Channel,
		Event:        api.NotificationEvent(n.Event),
		State:        api.NotificationState(n.State),
		CreatedAt:    n.CreatedAt,
		Actor:        n.Actor,
		Reason:       n.Reason,
		Attempts:     n.Attempts,
		LastError:    n.LastError,
		NextTry:      n.NextTry,
		DeliveredAt:  n.DeliveredAt,
	}
}

// wireEnvironment is an environment's record as the API sends it.
func wireEnvironment(e *fsm.Environment) *api.Environment {
	if e == nil {
		return nil
	}
	return &api.Environment{
		Name:               e.Name,
		DeployedCommit:     e.DeployedCommit,
		DeployedDeployment: e.DeployedDeployment,
		LatestSeenCommit:   e.LatestSeenCommit,
		LatestSeenAt:       e.LatestSeenAt,
		Pin:                wirePin(e.Pin),
		FirstGate:          e.FirstGate,
		Current:            e.Current,
		Waiting:            e.Waiting,
		History:            slices.Clone(e.History),
		HistoryLength:      len(e.History),
		PendingSync:        wireSyncRequest(e.PendingSync),
		Suspended:          wireSuspension(e.Suspended),
		Drift:              wireDrift(e.Drift),
	}
}

// wireDrift is an environment's drift as the API sends it.
func wireDrift(d *fsm.Drift) *api.Drift {
	if d == nil {
		return nil
	}
	return &api.Drift{Deployment: d.Deployment, Since: d.Since, Index: d.Index, Updated: d.Updated, Targets: slices.Clone(d.Targets),
		Files: slices.Clone(d.Files), MoreFiles: d.MoreFiles, SelfHeal: d.SelfHeal}
}

func wirePin(p *fsm.Pin) *api.Pin {
	if p == nil {
		return nil
	}
	return &api.Pin{Commit: p.Commit, From: p.From, By: p.By, Since: p.Since}
}

func wireSyncRequest(r *fsm.SyncRequest) *api.SyncRequest {
	if r == nil {
		return nil
	}
	return &api.SyncRequest{By: r.By, Time: r.Time}
}

// wireSourceStatus is what the leader last learned of the repository.
func wireSourceStatus(s fsm.SourceStatus) api.SourceStatus {
	return api.SourceStatus{Head: s.Head, HeadSince: s.HeadSince, Error: s.Error, ErrorSince: s.ErrorSince,
		LastSuccess: s.LastSuccess, Problems: mapSlice(s.Problems, func(p fsm.FolderProblem) api.FolderProblem {
			return api.FolderProblem{Path: p.Path, Message: p.Message}
		})}
}

// wireEvent is one transition on the event stream.
func wireEvent(e fsm.Event) api.Event {
	return api.Event{ID: e.ID, DeploymentID: e.DeploymentID, Environment: e.Environment, Commit: e.Commit,
		Kind: api.Kind(e.Kind), From: api.DeploymentState(e.From.String()), To: api.DeploymentState(e.To.String()), Time: e.Time,
		Message: e.Message}
}

// wireStatus is the node's view of the cluster, without the repository
// (handleStatus adds it).
func wireStatus(s cluster.Status) api.Status {
	out := api.Status{
		NodeID:       s.NodeID,
		State:        s.State,
		Term:         s.Term,
		LastIndex:    s.LastIndex,
		CommitIndex:  s.CommitIndex,
		AppliedIndex: s.AppliedIndex,
		LastContact:  s.LastContact,
		Version:      s.Version,
		Members:      mapSlice(s.Members, wireMember),
	}
	if s.Leader != nil {
		out.Leader = &api.Leader{ID: s.Leader.ID, APIAddr: s.Leader.APIAddr}
	}
	return out
}

func wireMember(m cluster.Member) api.Member {
	return api.Member{ID: m.ID, RaftAddr: m.RaftAddr, GossipAddr: m.GossipAddr, APIAddr: m.APIAddr,
		Version: m.Version, Voter: m.Voter, Status: m.Status}
}

// wireKeyring is a node's gossip keyring: fingerprints, never keys.
func wireKeyring(k cluster.Keyring) api.Keyring {
	return api.Keyring{Node: k.Node, Encrypted: k.Encrypted, Primary: k.Primary, Keys: slices.Clone(k.Keys),
		Count: k.Count}
}

// mapSlice converts each element of in; nil stays nil.
func mapSlice[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
