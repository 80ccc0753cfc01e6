package outbox

import (
	"encoding/json"
	"strings"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/notify"
)

// message renders notification n as its channel sends it, with what the
// deployment record says (commit, risk, plan summary) and what the
// notification recorded of the event (who, why).
func (d *Deliverer) message(n fsm.Notification) notify.Message {
	m := notify.Message{
		ID: n.ID, Event: string(n.Event), DeploymentID: n.DeploymentID, Environment: n.Environment,
		Actor: n.Actor, Reason: n.Reason, Time: n.CreatedAt,
	}
	if d.cfg.BaseURL != "" {
		m.URL = strings.TrimRight(d.cfg.BaseURL, "/") + "/deployments/" + n.DeploymentID
	}
	dep, ok := d.cfg.State.Deployment(n.DeploymentID)
	if !ok {
		return m // pruned since: the notification still says what happened
	}
	m.Commit, m.State, m.Risk = dep.Commit, dep.State.String(), dep.Risk
	m.Subject = d.cfg.Subject(dep.Commit)
	if !dep.Plan.IsZero() {
		// The plan's counts; a plan that does not decode (or was
		// dropped) leaves them zero.
		var p struct {
			Added, Modified, Removed int
			Breaking                 bool
		}
		if json.Unmarshal(dep.Plan.JSON(), &p) == nil {
			m.Plan = notify.PlanSummary{Added: p.Added, Modified: p.Modified, Removed: p.Removed, Breaking: p.Breaking}
		}
	}
	return m
}
