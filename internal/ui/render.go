package ui

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/ui/view"
)

// pageData is what every page's template gets: the layout's parts and the
// page's own Data.
type pageData struct {
	Title string
	// Node is the node serving the page.
	Node string
	// Who is the signed-in identity; nil on the sign-in and error pages
	// of a request without a session.
	Who  *api.Identity
	CSRF string
	// Flash says what the last action did; Error what went wrong.
	Flash string
	Error string
	// Nodes are the other members' dashboard base URLs (scheme://apiAddr),
	// where live.js goes when this node is lost.
	Nodes []string
	// Index is the applied index the page's reads saw: its live updates
	// are the events after it.
	Index uint64
	Data  any
}

// pageTemplate is the layout with one page's templates.
type pageTemplate struct{ t *template.Template }

// pageNames are the pages, one template file each beside the layout.
var pageNames = []string{"signin", "error", "overview", "deployment", "environment", "rollback", "cluster"}

// funcs are the helpers the templates use.
var funcs = template.FuncMap{
	"short": shortCommit,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"join": strings.Join,
	// took is how long a deployment took, or "running" while it runs.
	"took": func(d *api.DeploymentSummary) string {
		if !d.State.Terminal() {
			return "running"
		}
		return view.Duration(d.UpdatedAt.Sub(d.CreatedAt))
	},
}

func parsePages() map[string]*pageTemplate {
	pages := map[string]*pageTemplate{}
	for _, name := range pageNames {
		t := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles,
			"templates/layout.html", "templates/"+name+".html"))
		pages[name] = &pageTemplate{t: t}
	}
	return pages
}

// shortCommit is a commit's first 12 characters.
func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// render writes a page. A session's pages name the other members in the
// page (for live.js) and in the CSP's connect-src.
func (s *Server) render(w http.ResponseWriter, r *http.Request, ss *session, status int, name string, d pageData) {
	d.Node = s.cfg.NodeID
	if ss != nil {
		d.Who, d.CSRF = ss.who, ss.csrf()
		if d.Nodes == nil {
			s.fillCluster(r, ss, &d)
		}
	}
	if d.Flash == "" {
		d.Flash = r.URL.Query().Get("done")
		if _, ok := flashes[d.Flash]; ok {
			d.Flash = flashes[d.Flash]
		} else {
			d.Flash = ""
		}
	}
	var buf bytes.Buffer
	if err := s.pages[name].t.Execute(&buf, d); err != nil {
		s.logger.Error("render page", "page", name, "error", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", csp(d.Nodes))
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// flashes are the messages a redirect after an action asks for (?done=),
// by key, so that no text of the URL reaches the page.
var flashes = map[string]string{
	"approved":   "Approved.",
	"duplicate":  "You had approved this deployment already.",
	"rejected":   "Rejected.",
	"rolledback": "Rollback started.",
	"synced":     "Sync requested: the leader polls the repository now.",
	"suspended":  "Suspended: new deployments wait until the environment is resumed.",
	"resumed":    "Resumed: waiting deployments go on.",
	"cancelled":  "Cancelled.",
}

// csp is the Content-Security-Policy of a page: nothing inline, nothing
// from elsewhere, and connections only to this node and the other members
// (live.js checks them when this node is lost).
func csp(nodes []string) string {
	connect := "'self'"
	for _, n := range nodes {
		connect += " " + n
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src " + connect +
		"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// renderError shows the error page (#error) with status.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, ss *session, status int, msg string) {
	s.render(w, r, ss, status, "error", pageData{Title: http.StatusText(status), Error: msg})
}

// renderAPIError shows an error of the API with its status (a refusal is
// the API's: 403 for a viewer's action, 409 for a deployment that moved
// on...), or 502 when the API could not be asked.
func (s *Server) renderAPIError(w http.ResponseWriter, r *http.Request, ss *session, err error) {
	var ae *api.Error
	if errors.As(err, &ae) {
		s.renderError(w, r, ss, ae.StatusCode, ae.Message)
		return
	}
	s.renderError(w, r, ss, http.StatusBadGateway, fmt.Sprintf("The API could not be asked: %v", err))
}

// handleNeedsTokens is every page of a node without a tokens file.
func (s *Server) handleNeedsTokens(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, nil, http.StatusServiceUnavailable,
		"The dashboard needs a tokens file: this node runs without authentication (auth.tokensFile is not set), "+
			"so its API refuses every request a browser makes. Give honuad a tokens file (honuad token create makes its entries) and sign in with a token.")
}
