package fsm

// This file holds Approve and Reject, the decisions on a deployment that is
// AwaitingApproval.

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Approve records an identity's approval of a deployment that is
// AwaitingApproval. The same identity approving twice is one approval.
type Approve struct {
	ID       string    `json:"id"`
	Identity string    `json:"identity"`
	Groups   []string  `json:"groups,omitempty"`
	Time     time.Time `json:"time"`
	Comment  string    `json:"comment,omitempty"`
}

// Type implements Command.
func (*Approve) Type() CommandType { return ApproveCommand }

// ApproveResult is what an Approve command returns.
type ApproveResult struct {
	Deployment *Deployment
	// Duplicate is true when the identity had already approved: the
	// command changed nothing.
	Duplicate bool
}

func init() { register(ApproveCommand, (*state).checkApprove, (*state).approve) }

// checkApprove accepts a retried approval, and refuses one without a time,
// of a deployment that cannot be decided on now (see decidable), or past
// the approval's expiry.
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

// approve records the approval, unless the identity approved already, and
// returns an *ApproveResult.
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

// Reject ends a deployment that is AwaitingApproval.
type Reject struct {
	ID       string    `json:"id"`
	Identity string    `json:"identity"`
	Groups   []string  `json:"groups,omitempty"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason"`
}

// Type implements Command.
func (*Reject) Type() CommandType { return RejectCommand }

func init() { register(RejectCommand, (*state).checkReject, (*state).reject) }

// checkReject refuses a rejection without a reason or a time, or of a
// deployment that cannot be decided on now (see decidable).
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

// reject ends the deployment as Rejected and returns a copy of it.
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
