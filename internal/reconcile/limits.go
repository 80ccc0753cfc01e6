package reconcile

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Bounds of the texts a transition records. They embed what others said —
// a target's answer, a command's output, git's errors, validation problems
// — and are replicated to every node and kept in every snapshot.
const (
	// maxMessage bounds a transition's message, in bytes.
	maxMessage = 2 << 10
	// maxError bounds a deployment's error, in bytes: room for a target's
	// name, its cause and its last output.
	maxError = 8 << 10
	// maxSummaryProblems is how many problems a failed validation's error
	// lists; its report records more.
	maxSummaryProblems = 10
)

// cutMiddle returns s, or, when it is longer than n bytes, its start and
// its end around "… [N bytes cut] …": the start says what failed, the end
// is the last output of whatever failed.
func cutMiddle(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// The mark names how much was cut: no more digits than len(s) has.
	keep := n - len(fmt.Sprintf(" … [%d bytes cut] … ", len(s)))
	head, tail := keep/2, keep-keep/2
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	start := len(s) - tail
	for start < len(s) && !utf8.RuneStart(s[start]) {
		start++
	}
	return s[:head] + fmt.Sprintf(" … [%d bytes cut] … ", start-head) + s[start:]
}

// boundTexts cuts a transition's message and error to their bounds.
func boundTexts(c *fsm.TransitionDeployment) {
	c.Message, c.Error = cutMiddle(c.Message, maxMessage), cutMiddle(c.Error, maxError)
}

// recordTooLarge ends d when the transition c, carrying its plan or
// validation report, was refused as larger than the cluster takes (err
// wraps cluster.ErrTooLarge). It records the failure without the documents,
// so the deployment ends, with a message that says why, and a newer commit
// can deploy.
func (r *Reconciler) recordTooLarge(ctx context.Context, d *fsm.Deployment, c *fsm.TransitionDeployment, err error) (outcome, error) {
	what := "validation report"
	if len(c.Plan) > 0 {
		what = "plan"
	}
	why := fmt.Sprintf("the %s of commit %s is too large to record in the cluster (%v); make the change smaller or raise honuad --max-command-size",
		what, short(d.Commit), err)
	f := &fsm.TransitionDeployment{ID: d.ID, To: fsm.StateFailed, Time: c.Time, Message: why, Error: why}
	if c.To == fsm.StateFailed {
		// It was failing already: keep why, and say the report is missing.
		f.Message, f.Error = c.Message+"; "+why, c.Error
	}
	boundTexts(f)
	if _, err := r.cluster.Apply(ctx, f); err != nil {
		return outcome{}, err
	}
	r.logger.Warn("deployment failed: its documents are too large to record", "deployment", d.ID, "env", d.Environment,
		"from", d.State, "error", err)
	return outcome{moved: true}, nil
}

// tooLargeToRecord reports whether err refused a transition because of the
// documents it carries.
func tooLargeToRecord(c *fsm.TransitionDeployment, err error) bool {
	return errors.Is(err, cluster.ErrTooLarge) && (len(c.Plan) > 0 || len(c.Validation) > 0)
}
