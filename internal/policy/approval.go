package policy

import (
	"fmt"
	"strings"

	"github.com/honua-io/honua-gitops/internal/plan"
)

// ApprovalNeeded decides whether a deployment whose plan has this risk
// must wait for approval, and says why in words for the deployment's
// history. breaking is true when the plan has a breaking change.
// policyChanged is true when the plan changes the policy file itself: such
// a plan always needs approval, even under requireApproval never, and the
// approvals it needs are e's (the old policy's) RequiredApprovals from e's
// Approvers — a commit cannot loosen its own gate.
//
// A breaking change needs approval when BreakingChangesRequireApproval is
// set, whatever RequireApproval says. Under OnRisk, a risk that is not one of
// the known risks needs approval.
//
// When several reasons apply they are all given, separated by "; ".
func (e Environment) ApprovalNeeded(risk plan.Risk, breaking, policyChanged bool) (bool, string) {
	var why []string
	if policyChanged {
		why = append(why, "the policy file itself changed: approval is always required")
	}
	var not string // why the mode itself does not require approval
	switch e.RequireApproval {
	case Always:
		why = append(why, e.name()+" requires approval for every deployment")
	case Never:
		not = e.name() + " never requires approval"
	case OnRisk:
		switch {
		case risk < plan.RiskNone || risk > plan.RiskCritical:
			why = append(why, fmt.Sprintf("risk %v is not a known risk", risk))
		case risk >= e.MinimumRiskForApproval:
			why = append(why, fmt.Sprintf("risk %v is at or above the minimum %v", risk, e.MinimumRiskForApproval))
		default:
			not = fmt.Sprintf("risk %v is below the minimum %v", risk, e.MinimumRiskForApproval)
		}
	default:
		why = append(why, fmt.Sprintf("%s has an unknown requireApproval mode %v", e.name(), e.RequireApproval))
	}
	if breaking && e.BreakingChangesRequireApproval {
		why = append(why, "the change is breaking")
	}
	if len(why) == 0 {
		return false, not
	}
	return true, strings.Join(why, "; ")
}

// name is how reasons refer to the environment.
func (e Environment) name() string {
	if e.Name == "" {
		return "the environment"
	}
	return e.Name
}
