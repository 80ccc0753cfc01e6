package view

import (
	"html/template"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

// transitionView is one entry of the timeline.
type transitionView struct {
	From, To  string
	Time      string // RFC 3339, for datetime
	TimeText  string // as shown
	Spent     string // time spent in To; "" when unknown
	SoFar     bool   // To is the current state: Spent runs until now
	Message   string
	Index     uint64
	HasFrom   bool
	HasTime   bool
	StateKind string // terminal, current or past (a class)
}

// Timeline renders a deployment's transitions, oldest first, as
// <ol id="timeline">: each li.transition says from → to, when (a <time
// datetime> in RFC 3339), how long the deployment stayed in the state it
// entered (until the next transition; for the last one, until now unless
// the state is terminal), the transition's message and its Raft index. A
// transition without a time, or one whose next is earlier (the clocks of
// two leaders disagree), shows no duration rather than a wrong one.
func Timeline(ts []api.Transition, now time.Time) template.HTML {
	views := make([]transitionView, 0, len(ts))
	for i, t := range ts {
		v := transitionView{From: string(t.From), To: string(t.To), HasFrom: t.From != "", Message: t.Message,
			Index: t.Index, HasTime: !t.Time.IsZero(), StateKind: "past"}
		if v.HasTime {
			v.Time = t.Time.UTC().Format(time.RFC3339Nano)
			v.TimeText = t.Time.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		var until time.Time
		switch {
		case i+1 < len(ts):
			until = ts[i+1].Time
		case t.To.Terminal():
			v.StateKind = "terminal"
		default:
			until, v.SoFar, v.StateKind = now, true, "current"
		}
		if v.HasTime && !until.IsZero() && !until.Before(t.Time) {
			v.Spent = Duration(until.Sub(t.Time))
		}
		views = append(views, v)
	}
	return render(tmpl, "timeline", views)
}
