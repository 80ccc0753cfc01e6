package fsm

// This file holds IssueFencingToken, which hands a deployment the token it
// shows targets when it changes them.

import "fmt"

// IssueFencingToken hands a deployment a new fencing token (docs/domain.md#fencing)
// before it changes targets. The token is the entry's Raft index, so it
// grows with every term and every apply, and no two applies share one.
type IssueFencingToken struct {
	ID string `json:"id"`
	// Above, when set, makes the token greater than it: a target reported
	// it accepted that token already, which this cluster never issued
	// (its state was restored from a backup taken before). Only the
	// leader can commit the command, so a deposed leader cannot use it
	// to overtake its successor.
	Above uint64 `json:"above,omitempty"`
}

// Type implements Command.
func (*IssueFencingToken) Type() CommandType { return IssueFencingTokenCommand }

func init() {
	register(IssueFencingTokenCommand, (*state).checkIssueFencingToken, (*state).issueFencingToken)
}

// checkIssueFencingToken refuses a token to a deployment that does not
// exist or is not changing targets.
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

// issueFencingToken records and returns the new token: the entry's index,
// unless the last token or Above is as high.
func (s *state) issueFencingToken(c *IssueFencingToken) any {
	token := max(s.index, s.LastFencingToken+1, c.Above+1)
	s.LastFencingToken = token
	s.Deployments[c.ID].FencingToken = token
	return token
}
