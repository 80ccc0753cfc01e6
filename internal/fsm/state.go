package fsm

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultHistoryRetention is how many deployments an environment keeps until
// a SetSettings command says otherwise.
const DefaultHistoryRetention = 100

// DefaultPlanRetention is how many of an environment's newest deployments
// keep their plan and validation documents, the bulk of the state; older
// ones keep everything else (transitions, approvals, risk).
const DefaultPlanRetention = 20

// state is the replicated data. Its methods are the pure, deterministic half
// of Apply: they read nothing but the command and the state. Each command
// has two: a check, which returns why the state refuses the command and
// changes nothing, and an apply, which executes a command its check
// accepted and cannot fail.
type state struct {
	Deployments  map[string]*Deployment  `json:"deployments"`
	Environments map[string]*Environment `json:"environments"`
	// DeploymentSeq numbers deployments; it only grows.
	DeploymentSeq    uint64 `json:"deploymentSeq"`
	LastFencingToken uint64 `json:"lastFencingToken"`
	HistoryRetention int    `json:"historyRetention"`
	PlanRetention    int    `json:"planRetention"`
	// Source is the repository's status as the leader last reported it.
	Source SourceStatus `json:"source"`

	// index is the Raft index of the entry being applied; transitions
	// record it.
	index uint64
	// moved collects the deployments the entry being applied moved, for
	// the event log.
	moved []*Deployment
}

func newState() *state {
	return &state{
		Deployments:      map[string]*Deployment{},
		Environments:     map[string]*Environment{},
		HistoryRetention: DefaultHistoryRetention,
		PlanRetention:    DefaultPlanRetention,
	}
}

// apply executes c, the command of the log entry at index, with the
// handlers its type registered: check first, which refuses a command with
// an error and changes nothing, then, if it accepted, apply, which cannot
// fail.
func (s *state) apply(index uint64, c Command) (any, error) {
	s.index = index
	s.moved = s.moved[:0]
	spec := specOf(c.Type())
	if spec == nil {
		return nil, invalid("command %T has no handler", c)
	}
	if err := spec.check(s, c); err != nil {
		return nil, err
	}
	return spec.apply(s, c), nil
}

// check reports an inconsistency a restored snapshot must not have: a
// record missing or filed under another name, or a deployment numbered
// past the id counter, which would let a new id collide.
func (s *state) check() error {
	for name, e := range s.Environments {
		if e == nil || e.Name != name {
			return fmt.Errorf("environment %s: record does not match its key", name)
		}
	}
	for id, d := range s.Deployments {
		if d == nil || d.ID != id {
			return fmt.Errorf("deployment %s: record does not match its key", id)
		}
		i := strings.LastIndexByte(id, '-')
		n, err := strconv.ParseUint(id[i+1:], 10, 64)
		if i < 0 || err != nil {
			return fmt.Errorf("deployment id %q is not of the form <environment>-<n>", id)
		}
		if n > s.DeploymentSeq {
			return fmt.Errorf("deployment %s is numbered past the id counter %d", id, s.DeploymentSeq)
		}
	}
	return nil
}

func (s *state) env(name string) *Environment {
	e, ok := s.Environments[name]
	if !ok {
		e = &Environment{Name: name, History: []string{}}
		s.Environments[name] = e
	}
	return e
}

func init() {
	register(CreateDeploymentCommand, (*state).checkCreateDeployment, (*state).createDeployment)
}

func (s *state) checkCreateDeployment(c *CreateDeployment) error {
	switch {
	case !ValidEnvironmentName(c.Environment):
		return invalid("create deployment: environment name %q is not valid", c.Environment)
	case c.Commit == "":
		return invalid("create deployment for %s: commit is empty", c.Environment)
	case c.Kind == KindRollback || c.Kind == KindAutoRollback:
		return invalid("create deployment for %s: a deployment of kind %s is created by a rollback command, which names the Completed deployment it goes back to", c.Environment, c.Kind)
	case !c.Kind.Valid():
		return invalid("create deployment for %s: kind %q is not one of auto, manual-sync", c.Environment, c.Kind)
	case c.Time.IsZero():
		return invalid("create deployment for %s: time is missing", c.Environment)
	}
	return s.checkNextID(c.Environment)
}

func (s *state) createDeployment(c *CreateDeployment) any {
	d, e := s.newDeployment(c.Environment, c.Commit, c.Time)
	d.Branch, d.Kind, d.Initiator, d.DryRun = c.Branch, c.Kind, c.Initiator, c.DryRun
	d.Transitions[0].Message = c.Message
	if c.Kind == KindManualSync {
		e.PendingSync = nil
	}
	return s.added(d, e)
}

func init() {
	register(CreateRollbackCommand, (*state).checkCreateRollback, (*state).createRollback)
}

func (s *state) checkCreateRollback(c *CreateRollback) error {
	switch {
	case !ValidEnvironmentName(c.Environment):
		return invalid("roll back: environment name %q is not valid", c.Environment)
	case c.To == "":
		return invalid("roll back %s: the deployment to go back to is not named", c.Environment)
	case c.Initiator == "":
		return invalid("roll back %s: initiator is empty", c.Environment)
	case c.Time.IsZero():
		return invalid("roll back %s: time is missing", c.Environment)
	}
	e, ok := s.Environments[c.Environment]
	if !ok {
		return notFound("environment", c.Environment)
	}
	to, ok := s.Deployments[c.To]
	switch {
	case !ok:
		return fmt.Errorf("roll back %s to %s: no such deployment (only a Completed deployment of %s can be rolled back to): %w",
			c.Environment, c.To, c.Environment, ErrNotFound)
	case to.Environment != c.Environment:
		return invalid("roll back %s to %s: that deployment is of %s; only a Completed deployment of %s can be rolled back to",
			c.Environment, c.To, to.Environment, c.Environment)
	case to.State != StateCompleted:
		return fmt.Errorf("roll back %s to %s: that deployment is %s; only a Completed deployment can be rolled back to: %w",
			c.Environment, c.To, to.State, ErrWrongState)
	case e.DeployedCommit == "":
		return fmt.Errorf("roll back %s: nothing is deployed: %w", c.Environment, ErrWrongState)
	case to.Commit == e.DeployedCommit:
		return fmt.Errorf("roll back %s to %s: its commit %s is what is deployed: %w",
			c.Environment, c.To, to.Commit, ErrWrongState)
	}
	return s.checkNextID(c.Environment)
}

func (s *state) createRollback(c *CreateRollback) any {
	to := s.Deployments[c.To]
	d, e := s.newDeployment(c.Environment, to.Commit, c.Time)
	from := e.LatestSeenCommit
	if from == "" {
		from = e.DeployedCommit
	}
	d.Branch, d.Kind, d.Initiator, d.RollbackTo = c.Branch, KindRollback, c.Initiator, to.ID
	d.Transitions[0].Message = c.Message
	e.Pin = &Pin{Commit: to.Commit, From: from, By: c.Initiator, Since: c.Time}
	return s.added(d, e)
}

// nextID returns the id the next deployment of env gets.
func (s *state) nextID(env string) string { return fmt.Sprintf("%s-%d", env, s.DeploymentSeq+1) }

// checkNextID refuses a new deployment of env whose id the state holds
// already. Only a corrupt snapshot could get here.
func (s *state) checkNextID(env string) error {
	if id := s.nextID(env); s.Deployments[id] != nil {
		return fmt.Errorf("create deployment %s: id already used: %w", id, ErrDuplicate)
	}
	return nil
}

// newDeployment numbers a new Pending deployment of commit in env, whose
// id checkNextID accepted. Nothing is recorded until the caller hands the
// deployment to added.
func (s *state) newDeployment(env, commit string, at time.Time) (*Deployment, *Environment) {
	d := &Deployment{
		ID:          s.nextID(env),
		Environment: env,
		Commit:      commit,
		State:       StatePending,
		CreatedAt:   at,
		UpdatedAt:   at,
		Transitions: []Transition{{To: StatePending, Time: at, Index: s.index}},
	}
	return d, s.env(env)
}

// added records d, new in e, as e's waiting deployment, superseding the one
// that waited, and returns a copy.
func (s *state) added(d *Deployment, e *Environment) *Deployment {
	s.DeploymentSeq++
	if e.Waiting != "" {
		if w := s.Deployments[e.Waiting]; w != nil {
			msg := fmt.Sprintf("superseded by deployment %s (commit %s)", d.ID, d.Commit)
			w.move(StateSuperseded, d.CreatedAt, msg, s.index)
			s.moved = append(s.moved, w)
		}
		e.Waiting = ""
	}
	s.Deployments[d.ID] = d
	s.moved = append(s.moved, d)
	e.Waiting = d.ID
	e.History = append(e.History, d.ID)
	s.prune(e)
	return d.clone()
}

func init() { register(TransitionCommand, (*state).checkTransition, (*state).transition) }

func (s *state) checkTransition(c *TransitionDeployment) error {
	d, ok := s.Deployments[c.ID]
	if !ok {
		return notFound("deployment", c.ID)
	}
	if !c.To.Valid() {
		return invalid("transition deployment %s: unknown state %q", c.ID, c.To)
	}
	if c.Time.IsZero() {
		return invalid("transition deployment %s: time is missing", c.ID)
	}
	if c.Approval != nil && c.To != StateAwaitingApproval {
		return invalid("transition deployment %s to %s: an approval requirement is recorded only on the move to %s",
			c.ID, c.To, StateAwaitingApproval)
	}
	if c.Approval != nil && c.Approval.Required < 1 {
		return invalid("transition deployment %s: an approval requirement needs at least 1 approval, got %d",
			c.ID, c.Approval.Required)
	}
	if !d.canMove(c.To) {
		e := &TransitionError{ID: d.ID, From: d.State, To: c.To}
		switch {
		case d.State == StateFailed && c.To == StateRollingBack && !d.Applied:
			e.Reason = "nothing was applied"
		case d.State == StateFailed && c.To == StateRollingBack:
			e.Reason = "it already rolled back once"
		case d.State.Terminal():
			e.Reason = fmt.Sprintf("%s is final", d.State)
		}
		return e
	}
	// A deployment whose environment has no record (only a restored
	// snapshot can hold one) is checked against an empty environment,
	// which the move creates if it is made.
	e := s.Environments[d.Environment]
	if e == nil {
		e = &Environment{Name: d.Environment}
	}
	if reason := s.blocked(d, e, c); reason != "" {
		return &TransitionError{ID: d.ID, From: d.State, To: c.To, Reason: reason}
	}
	if c.To.Active() && !d.State.Active() && e.Current != "" && e.Current != d.ID {
		// A current slot naming a deployment the state does not hold
		// (only a restored snapshot can have one) blocks nothing.
		if other := s.Deployments[e.Current]; other != nil {
			return &ConflictError{ID: d.ID, From: d.State, To: c.To, Environment: e.Name,
				OtherID: other.ID, OtherState: other.State}
		}
	}
	return nil
}

func (s *state) transition(c *TransitionDeployment) any {
	d := s.Deployments[c.ID]
	e := s.env(d.Environment)
	from := d.State
	d.move(c.To, c.Time, c.Message, s.index)
	s.moved = append(s.moved, d)
	if c.Error != "" {
		d.Error = c.Error
	}
	if c.Plan != nil {
		d.Plan = slices.Clone(c.Plan)
	}
	if c.Validation != nil {
		d.Validation = slices.Clone(c.Validation)
	}
	if c.Risk != "" {
		d.Risk = c.Risk
	}
	if c.Approval != nil {
		d.Approval = c.Approval.clone()
	}

	if from.Waiting() && !c.To.Waiting() && e.Waiting == d.ID {
		e.Waiting = ""
	}
	if from.Active() && !c.To.Active() && e.Current == d.ID {
		e.Current = ""
	}
	if c.To.Active() {
		e.Current = d.ID
	}
	if from == StatePlanning && (c.To == StateAwaitingApproval || c.To == StateScheduled || c.To == StateBackingUp) &&
		e.DeployedCommit == "" && e.FirstGate == "" {
		// The first decision of the policy's gate while nothing is
		// deployed: that policy stays in force until something is.
		e.FirstGate = d.Commit
	}
	switch c.To {
	case StateBackingUp:
		d.Backup = &Backup{DeploymentID: e.DeployedDeployment, Commit: e.DeployedCommit}
	case StateApplying:
		d.Applied = true
		if c.BackupBundleID != "" && d.Backup != nil {
			d.Backup.BundleID = c.BackupBundleID
		}
	case StateRollingBack:
		d.RollbackStarted = true
	case StateCompleted:
		e.DeployedCommit, e.DeployedDeployment = d.Commit, d.ID
		e.FirstGate = ""
	case StateRolledBack:
		if d.Backup != nil {
			e.DeployedCommit, e.DeployedDeployment = d.Backup.Commit, d.Backup.DeploymentID
		}
	}
	if c.To.Terminal() {
		s.prune(e)
	}
	return d.clone()
}

// ApproveResult is what an Approve command returns.
type ApproveResult struct {
	Deployment *Deployment
	// Duplicate is true when the identity had already approved: the
	// command changed nothing.
	Duplicate bool
}

// blocked returns why d may not make the move c asks for although the state
// machine has the edge, or "" when it may.
func (s *state) blocked(d *Deployment, e *Environment, c *TransitionDeployment) string {
	switch {
	case d.State == StateAwaitingApproval && (c.To == StateScheduled || c.To == StateBackingUp):
		if d.Approval == nil {
			return "no approval requirement was recorded"
		}
		if !d.Approved() {
			return fmt.Sprintf("it has %d of %d required approvals", len(d.Approvals), d.Approval.Required)
		}
	case d.State == StateFailed && c.To == StateRollingBack && d.Backup != nil:
		// Restoring the backup is right only while the environment still
		// has it deployed; otherwise it would undo a newer deployment.
		if e.DeployedDeployment != d.Backup.DeploymentID || e.DeployedCommit != d.Backup.Commit {
			return fmt.Sprintf("environment %s has moved on to deployment %s since", e.Name, e.DeployedDeployment)
		}
	}
	return ""
}

func init() { register(ApproveCommand, (*state).checkApprove, (*state).approve) }

func (s *state) checkApprove(c *Approve) error {
	if c.Time.IsZero() {
		return invalid("approve deployment %s: time is missing", c.ID)
	}
	// A retry by an identity that approved already is answered as a
	// duplicate, whatever the deployment went on to do since.
	if s.approvedBy(c.ID, c.Identity) {
		return nil
	}
	d, err := s.decidable(c.ID, "approve", c.Identity, c.Groups)
	if err != nil {
		return err
	}
	if d.Approval != nil && !d.Approval.Expires.IsZero() && c.Time.After(d.Approval.Expires) {
		return fmt.Errorf("cannot approve deployment %s: its approval expired at %s: %w",
			d.ID, d.Approval.Expires.UTC().Format("2006-01-02T15:04:05Z07:00"), ErrWrongState)
	}
	return nil
}

func (s *state) approve(c *Approve) any {
	d := s.Deployments[c.ID]
	if s.approvedBy(c.ID, c.Identity) {
		return &ApproveResult{Deployment: d.clone(), Duplicate: true}
	}
	d.Approvals = append(d.Approvals, Approval{
		Identity: c.Identity, Groups: slices.Clone(c.Groups), Time: c.Time, Comment: c.Comment,
	})
	d.UpdatedAt = c.Time
	return &ApproveResult{Deployment: d.clone()}
}

// approvedBy reports whether identity, not empty, has approved deployment
// id already.
func (s *state) approvedBy(id, identity string) bool {
	d, ok := s.Deployments[id]
	if !ok || identity == "" {
		return false
	}
	return slices.ContainsFunc(d.Approvals, func(a Approval) bool { return a.Identity == identity })
}

func init() { register(RejectCommand, (*state).checkReject, (*state).reject) }

func (s *state) checkReject(c *Reject) error {
	if strings.TrimSpace(c.Reason) == "" {
		return invalid("reject deployment %s: reason is empty", c.ID)
	}
	if c.Time.IsZero() {
		return invalid("reject deployment %s: time is missing", c.ID)
	}
	_, err := s.decidable(c.ID, "reject", c.Identity, c.Groups)
	return err
}

func (s *state) reject(c *Reject) any {
	d := s.Deployments[c.ID]
	d.Rejection = &Rejection{Identity: c.Identity, Time: c.Time, Reason: c.Reason}
	d.move(StateRejected, c.Time, fmt.Sprintf("rejected by %s: %s", c.Identity, c.Reason), s.index)
	s.moved = append(s.moved, d)
	e := s.env(d.Environment)
	if e.Waiting == d.ID {
		e.Waiting = ""
	}
	s.prune(e)
	return d.clone()
}

// decidable returns the deployment id names if identity may approve or
// reject it now.
func (s *state) decidable(id, op, identity string, groups []string) (*Deployment, error) {
	d, ok := s.Deployments[id]
	if !ok {
		return nil, notFound("deployment", id)
	}
	if identity == "" {
		return nil, invalid("%s deployment %s: identity is empty", op, id)
	}
	if d.State != StateAwaitingApproval {
		return nil, &StateError{ID: id, Op: op, Is: d.State, Want: StateAwaitingApproval}
	}
	if d.Approval != nil && len(d.Approval.Groups) > 0 && !InApproverGroups(groups, d.Approval.Groups) {
		return nil, fmt.Errorf("cannot %s deployment %s: %s is not in an approver group (%s): %w",
			op, id, identity, strings.Join(d.Approval.Groups, ", "), ErrNotAllowed)
	}
	return d, nil
}

func init() { register(ObserveCommitCommand, (*state).checkObserveCommit, (*state).observeCommit) }

func (s *state) checkObserveCommit(c *ObserveCommit) error {
	if !ValidEnvironmentName(c.Environment) {
		return invalid("observe commit: environment name %q is not valid", c.Environment)
	}
	if c.Commit == "" {
		return invalid("observe commit for %s: commit is empty", c.Environment)
	}
	if c.Time.IsZero() {
		return invalid("observe commit for %s: time is missing", c.Environment)
	}
	return nil
}

func (s *state) observeCommit(c *ObserveCommit) any {
	e := s.env(c.Environment)
	e.LatestSeenCommit, e.LatestSeenAt = c.Commit, c.Time
	return nil
}

func init() { register(SetPinCommand, (*state).checkSetPin, (*state).setPin) }

func (s *state) checkSetPin(c *SetPin) error {
	if !ValidEnvironmentName(c.Environment) {
		return invalid("set pin: environment name %q is not valid", c.Environment)
	}
	if c.Pin != nil && c.Pin.Commit == "" {
		return invalid("pin %s: commit is empty", c.Environment)
	}
	return nil
}

func (s *state) setPin(c *SetPin) any {
	e := s.env(c.Environment)
	if c.Pin == nil {
		e.Pin = nil
	} else {
		p := *c.Pin
		e.Pin = &p
	}
	return nil
}

func init() { register(RequestSyncCommand, (*state).checkRequestSync, (*state).requestSync) }

func (s *state) checkRequestSync(c *RequestSync) error {
	if !ValidEnvironmentName(c.Environment) {
		return invalid("sync: environment name %q is not valid", c.Environment)
	}
	if c.By == "" || c.Time.IsZero() {
		return invalid("sync %s: who asked and when are required", c.Environment)
	}
	if _, ok := s.Environments[c.Environment]; !ok {
		return notFound("environment", c.Environment)
	}
	return nil
}

func (s *state) requestSync(c *RequestSync) any {
	e := s.Environments[c.Environment]
	if e.PendingSync == nil {
		e.PendingSync = &SyncRequest{By: c.By, Time: c.Time}
	}
	return e.clone()
}

func init() {
	register(SetSourceStatusCommand, (*state).checkSetSourceStatus, (*state).setSourceStatus)
}

func (s *state) checkSetSourceStatus(c *SetSourceStatus) error {
	if c.Time.IsZero() {
		return invalid("set source status: time is missing")
	}
	if c.Error == "" && c.Head == "" {
		return invalid("set source status: a head or an error is required")
	}
	return nil
}

func (s *state) setSourceStatus(c *SetSourceStatus) any {
	src := &s.Source
	if c.Error != "" {
		if src.Error == "" {
			src.ErrorSince = c.Time
		}
		src.Error = c.Error
		return nil
	}
	if c.Head != src.Head {
		src.Head, src.HeadSince = c.Head, c.Time
	}
	src.Error, src.ErrorSince = "", time.Time{}
	src.LastSuccess = c.Time
	return nil
}

func init() {
	register(IssueFencingTokenCommand, (*state).checkIssueFencingToken, (*state).issueFencingToken)
}

func (s *state) checkIssueFencingToken(c *IssueFencingToken) error {
	d, ok := s.Deployments[c.ID]
	if !ok {
		return notFound("deployment", c.ID)
	}
	if !d.State.Active() {
		return fmt.Errorf("cannot issue a fencing token to deployment %s: it is %s, not changing targets: %w",
			d.ID, d.State, ErrWrongState)
	}
	return nil
}

func (s *state) issueFencingToken(c *IssueFencingToken) any {
	token := max(s.index, s.LastFencingToken+1, c.Above+1)
	s.LastFencingToken = token
	s.Deployments[c.ID].FencingToken = token
	return token
}

func init() { register(SetSettingsCommand, (*state).checkSetSettings, (*state).setSettings) }

func (s *state) checkSetSettings(c *SetSettings) error {
	if c.HistoryRetention < 1 {
		return invalid("set settings: historyRetention must be at least 1, got %d", c.HistoryRetention)
	}
	if c.PlanRetention < 0 {
		return invalid("set settings: planRetention must not be negative, got %d", c.PlanRetention)
	}
	return nil
}

func (s *state) setSettings(c *SetSettings) any {
	s.HistoryRetention = c.HistoryRetention
	if c.PlanRetention > 0 {
		s.PlanRetention = c.PlanRetention
	}
	names := make([]string, 0, len(s.Environments))
	for n := range s.Environments {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s.prune(s.Environments[n])
	}
	return nil
}

// prune forgets the oldest finished deployments of e beyond the retention.
// It never forgets the active, the waiting or the deployed deployment, nor
// one that failed after applying and may still roll back.
func (s *state) prune(e *Environment) {
	s.dropOldPlans(e)
	excess := len(e.History) - s.HistoryRetention
	if excess <= 0 {
		return
	}
	// What a deployment that may still roll back would restore must stay
	// findable too.
	restorable := map[string]bool{}
	for _, id := range e.History {
		if d := s.Deployments[id]; d != nil && d.Backup != nil && d.mayRollBack(e) {
			restorable[d.Backup.DeploymentID] = true
		}
	}
	kept := e.History[:0:0]
	for _, id := range e.History {
		d := s.Deployments[id]
		if excess > 0 && d != nil && !restorable[id] && d.prunable(e) {
			delete(s.Deployments, id)
			excess--
			continue
		}
		if d != nil {
			kept = append(kept, id)
		}
	}
	e.History = kept
}

// dropOldPlans drops the plan and validation documents of the finished
// deployments of e older than its newest PlanRetention.
func (s *state) dropOldPlans(e *Environment) {
	for i := len(e.History) - 1 - s.PlanRetention; i >= 0; i-- {
		d := s.Deployments[e.History[i]]
		if d == nil || !d.State.Terminal() || d.PlanDropped {
			continue
		}
		d.Plan, d.Validation, d.PlanDropped = nil, nil, true
	}
}

func (d *Deployment) prunable(e *Environment) bool {
	if d.ID == e.Current || d.ID == e.Waiting || d.ID == e.DeployedDeployment || !d.State.Terminal() {
		return false
	}
	return !d.mayRollBack(e)
}

// mayRollBack reports whether d is changing targets, or failed after
// applying, has not rolled back yet, and its environment has not moved on
// from what it would restore.
func (d *Deployment) mayRollBack(e *Environment) bool {
	if d.State.Active() {
		return true
	}
	return d.State == StateFailed && d.Applied && !d.RollbackStarted && d.Backup != nil &&
		e.DeployedDeployment == d.Backup.DeploymentID && e.DeployedCommit == d.Backup.Commit
}

// move records a transition of d to state to. Callers check legality first.
func (d *Deployment) move(to DeploymentState, at time.Time, msg string, index uint64) {
	d.Transitions = append(d.Transitions, Transition{From: d.State, To: to, Time: at, Message: msg, Index: index})
	d.State = to
	d.UpdatedAt = at
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
