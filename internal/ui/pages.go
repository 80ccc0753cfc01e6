package ui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/ui/view"
)

// envCard is one environment on the overview.
type envCard struct {
	Name     string
	Env      *api.EnvironmentDetail
	Newest   *api.DeploymentSummary
	Risk     template.HTML
	Waiting  *api.DeploymentSummary
	Deployed *api.DeploymentSummary
}

func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request, ss *session) {
	envs, err := ss.client.Environments(r.Context(), readOptions(r))
	if err != nil {
		s.renderAPIError(w, r, ss, err)
		return
	}
	cards := make([]envCard, 0, len(envs))
	for i := range envs {
		e := &envs[i]
		c := envCard{Name: e.Name, Env: e, Waiting: e.WaitingDeployment}
		newest, err := ss.client.Deployments(r.Context(), api.DeploymentFilter{Env: e.Name, Limit: 1}, readOptions(r))
		if err != nil {
			s.renderAPIError(w, r, ss, err)
			return
		}
		if len(newest) > 0 {
			c.Newest = &newest[0]
			c.Risk = view.Risk(newest[0].Risk)
		} else {
			c.Risk = view.Risk("")
		}
		cards = append(cards, c)
	}
	s.render(w, r, ss, http.StatusOK, "overview", pageData{Title: "Overview", Data: cards})
}

// readOptions are the options of a page's reads: consistent after an
// action (?done=), so that a page served by a follower shows the write the
// leader has just acknowledged (an approval that leaves the deployment
// waiting is no transition: no live update would bring it).
func readOptions(r *http.Request) *api.QueryOptions {
	if r.URL.Query().Has("done") {
		return &api.QueryOptions{Consistent: true}
	}
	return nil
}

// deploymentPage is the deployment page's data.
type deploymentPage struct {
	D         *api.Deployment
	Plan      template.HTML
	Timeline  template.HTML
	Risk      template.HTML
	CanDecide bool
	// CanCancel: the deployment waits and the identity may cancel it.
	CanCancel  bool
	Approved   bool // the signed-in identity approved it
	PlanIssue  string
	MaxComment int
}

func (s *Server) handleDeployment(w http.ResponseWriter, r *http.Request, ss *session) {
	s.renderDeployment(w, r, ss, http.StatusOK, "")
}

// renderDeployment shows a deployment, with an error of an action on it
// when msg is set.
func (s *Server) renderDeployment(w http.ResponseWriter, r *http.Request, ss *session, status int, msg string) {
	d, err := ss.client.Deployment(r.Context(), r.PathValue("id"), readOptions(r))
	if err != nil {
		s.renderAPIError(w, r, ss, err)
		return
	}
	p := deploymentPage{D: d, Risk: view.Risk(d.Risk), Timeline: view.Timeline(d.Transitions, s.cfg.Now()),
		CanDecide: mayDecide(ss.who, d), MaxComment: maxText}
	doc, perr := d.PlanDocument()
	rep, verr := d.ValidationReport()
	if err := errors.Join(perr, verr); err != nil {
		p.PlanIssue = err.Error()
	}
	p.Plan = view.Plan(doc, rep)
	p.CanCancel = d.State.Waiting() && (d.Approval == nil || len(d.Approval.Groups) == 0 ||
		fsm.InApproverGroups(ss.who.Groups, d.Approval.Groups)) && mayAct(r.Context(), ss, d.Environment)
	for _, a := range d.Approvals {
		if a.Identity == ss.who.Name {
			p.Approved = true
		}
	}
	s.render(w, r, ss, status, "deployment", pageData{Title: "Deployment " + d.ID, Error: msg, Data: p})
}

// mayDecide reports whether who may approve or reject d now, as the API
// and the FSM decide: the approver role, and one of the approval's groups
// when it names any (fsm.InApproverGroups, which counts fsm.EveryGroup).
func mayDecide(who *api.Identity, d *api.Deployment) bool {
	if !atLeastApprover(who) || d.State != api.StateAwaitingApproval {
		return false
	}
	return d.Approval == nil || len(d.Approval.Groups) == 0 || fsm.InApproverGroups(who.Groups, d.Approval.Groups)
}

// atLeastApprover reports whether who has the approver or admin role.
func atLeastApprover(who *api.Identity) bool {
	return who.Role == "approver" || who.Role == "admin"
}

// mayAct reports whether who may roll env back or sync it: the approver
// role and one of the approver groups of the policy in force, which the
// leader reads (GET /v1/environments/{env}/approvers). When they cannot
// be learnt (no repository watched, no leader), no button is shown.
func mayAct(ctx context.Context, ss *session, env string) bool {
	if !atLeastApprover(ss.who) {
		return false
	}
	a, err := ss.client.Approvers(ctx, env)
	if err != nil {
		return false
	}
	return len(a.Groups) == 0 || fsm.InApproverGroups(ss.who.Groups, a.Groups)
}

// environmentPage is the environment page's data.
type environmentPage struct {
	Env       *api.EnvironmentDetail
	Rows      []*api.DeploymentSummary
	Totals    *api.HistoryTotals
	Chart     template.HTML
	State     string
	States    []api.DeploymentState
	Limit     int
	NextURL   string
	CanAct    bool
	Filtered  bool
	RiskBadge func(string) template.HTML
	MaxText   int
}

// Limits of the history page.
const (
	defaultHistoryLimit = 20
	maxHistoryLimit     = 200
	chartDeployments    = 30
)

func (s *Server) handleEnvironment(w http.ResponseWriter, r *http.Request, ss *session) {
	s.renderEnvironment(w, r, ss, http.StatusOK, "")
}

func (s *Server) renderEnvironment(w http.ResponseWriter, r *http.Request, ss *session, status int, msg string) {
	ctx, name := r.Context(), r.PathValue("env")
	q := r.URL.Query()
	e, err := ss.client.Environment(ctx, name, readOptions(r))
	if err != nil {
		s.renderAPIError(w, r, ss, err)
		return
	}
	p := environmentPage{Env: e, States: api.AllStates, Limit: defaultHistoryLimit, RiskBadge: view.Risk, MaxText: maxText}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxHistoryLimit {
			s.renderError(w, r, ss, http.StatusBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", maxHistoryLimit))
			return
		}
		p.Limit = n
	}
	if st := api.DeploymentState(q.Get("state")); st != "" {
		if !st.Valid() {
			s.renderError(w, r, ss, http.StatusBadRequest, fmt.Sprintf("%q is not a deployment state", st))
			return
		}
		// A filtered list is one page of the newest matches.
		p.State, p.Filtered = string(st), true
		ds, err := ss.client.Deployments(ctx, api.DeploymentFilter{Env: name, State: st, Limit: p.Limit}, readOptions(r))
		if err != nil {
			s.renderAPIError(w, r, ss, err)
			return
		}
		for i := range ds {
			p.Rows = append(p.Rows, &ds[i])
		}
	} else {
		h, err := ss.client.History(ctx, name, api.HistoryOptions{Limit: p.Limit, Cursor: q.Get("cursor")})
		if err != nil {
			s.renderAPIError(w, r, ss, err)
			return
		}
		p.Rows, p.Totals = h.Deployments, &h.Totals
		if h.NextCursor != "" {
			p.NextURL = fmt.Sprintf("/ui/environments/%s?limit=%d&cursor=%s", name, p.Limit, h.NextCursor)
		}
	}
	recent, err := ss.client.History(ctx, name, api.HistoryOptions{Limit: chartDeployments})
	if err != nil {
		s.renderAPIError(w, r, ss, err)
		return
	}
	p.Chart = view.Chart(recent.Deployments)
	p.CanAct = mayAct(ctx, ss, name)
	s.render(w, r, ss, status, "environment", pageData{Title: "Environment " + name, Error: msg, Data: p})
}

// rollbackPage is the rollback confirmation's data: what the environment
// runs and what it would go back to, as honuactl rollback shows them.
type rollbackPage struct {
	Env     string
	Current *api.Deployment
	Target  *api.Deployment
	CanAct  bool
}

func (s *Server) handleRollbackForm(w http.ResponseWriter, r *http.Request, ss *session) {
	s.renderRollback(w, r, ss, http.StatusOK, "", r.URL.Query().Get("to"))
}

func (s *Server) renderRollback(w http.ResponseWriter, r *http.Request, ss *session, status int, msg, to string) {
	ctx, name := r.Context(), r.PathValue("env")
	e, err := ss.client.Environment(ctx, name, readOptions(r))
	if err != nil {
		s.renderAPIError(w, r, ss, err)
		return
	}
	if to == "" {
		s.renderError(w, r, ss, http.StatusBadRequest, "Choose the deployment to roll back to on the environment's page.")
		return
	}
	p := rollbackPage{Env: name, CanAct: mayAct(ctx, ss, name)}
	if p.Target, err = ss.client.Deployment(ctx, to, readOptions(r)); err != nil {
		s.renderAPIError(w, r, ss, err)
		return
	}
	if p.Target.Environment != name {
		s.renderError(w, r, ss, http.StatusBadRequest, fmt.Sprintf("Deployment %s is of %s, not %s.", to, p.Target.Environment, name))
		return
	}
	if e.DeployedDeployment != "" {
		if p.Current, err = ss.client.Deployment(ctx, e.DeployedDeployment, readOptions(r)); err != nil {
			s.renderAPIError(w, r, ss, err)
			return
		}
	}
	s.render(w, r, ss, status, "rollback", pageData{Title: "Roll back " + name, Error: msg, Data: p})
}

// clusterPage is the cluster page's data.
type clusterPage struct {
	Status  *api.Status
	Members []memberView
}

func (s *Server) handleCluster(w http.ResponseWriter, r *http.Request, ss *session) {
	st, err := ss.client.Status(r.Context())
	if err != nil {
		s.renderAPIError(w, r, ss, err)
		return
	}
	p := clusterPage{Status: st, Members: s.memberViews(r, ss, st)}
	s.render(w, r, ss, http.StatusOK, "cluster", pageData{Title: "Cluster", Nodes: s.nodesOf(st), Index: st.AppliedIndex, Data: p})
}

// fillCluster sets what a page says of the cluster: the other members'
// dashboards, and the applied index its reads saw (where its live updates
// start). A node that cannot tell leaves them empty.
func (s *Server) fillCluster(r *http.Request, ss *session, d *pageData) {
	st, err := ss.client.Status(r.Context())
	if err != nil {
		d.Nodes = []string{}
		return
	}
	d.Nodes, d.Index = s.nodesOf(st), st.AppliedIndex
}

// nodesOf are the other members' dashboard base URLs in st.
func (s *Server) nodesOf(st *api.Status) []string {
	nodes := []string{}
	for _, m := range st.Members {
		if m.ID == s.cfg.NodeID || m.APIAddr == "" {
			continue
		}
		if base, ok := s.baseURL(m.APIAddr); ok {
			nodes = append(nodes, base)
		}
	}
	slices.Sort(nodes)
	return nodes
}

// baseURL is the dashboard base URL of a member's API address, which goes
// into a CSP header and a meta tag: only a plain host:port is taken.
func (s *Server) baseURL(addr string) (string, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || strings.ContainsAny(addr, " ;,'\"/\\*") {
		return "", false
	}
	u, err := url.Parse(s.scheme() + "://" + addr)
	if err != nil || u.Host != addr {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

// scheme is the scheme of the members' APIs.
func (s *Server) scheme() string {
	if s.cfg.TLS {
		return "https"
	}
	return "http"
}

// ago is how long before now t was, rounded for a person.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return now.Sub(t).Round(time.Millisecond).String()
}
