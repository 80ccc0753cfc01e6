package ui

import (
	"crypto/tls"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Config is what a Server is built from.
type Config struct {
	// API is the node's API handler (rpc.Server): every read and action
	// of the dashboard is served by it, in process.
	API http.Handler
	// NodeID is this node's id, shown on every page.
	NodeID string
	// TLS is true when the listener serves https: the session cookie is
	// then Secure, and the other members are reached over https.
	TLS bool
	// PeerTLS is the configuration this node reaches the other members'
	// APIs with (rpc.Config.PeerTLS); nil with TLS off.
	PeerTLS *tls.Config
	// AuthEnabled is true when a tokens file is configured. Without one
	// the dashboard serves only a page saying it needs one.
	AuthEnabled bool
	// WriteTimeout is the listener's write timeout, which the event
	// stream pushes ahead as it writes (default 60s).
	WriteTimeout time.Duration
	// PeerTimeout bounds the questions asked of each member for the
	// cluster page (default 2s).
	PeerTimeout time.Duration
	Logger      *slog.Logger
	// Now is the clock of the pages (durations); default time.Now.
	Now func() time.Time
}

// Server serves the dashboard under /ui/.
type Server struct {
	cfg    Config
	logger *slog.Logger
	mux    *http.ServeMux
	pages  map[string]*pageTemplate
	cop    *http.CrossOriginProtection
}

// New returns the dashboard's handler; mount it at /ui/.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 60 * time.Second
	}
	if cfg.PeerTimeout <= 0 {
		cfg.PeerTimeout = peerTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, logger: cfg.Logger.With("component", "ui"), mux: http.NewServeMux(),
		pages: parsePages(), cop: http.NewCrossOriginProtection()}
	static, _ := fs.Sub(staticFiles, "static")
	s.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	if !cfg.AuthEnabled {
		s.mux.HandleFunc("/ui/", s.handleNeedsTokens)
		return s
	}
	s.mux.HandleFunc("GET /ui/signin", s.handleSigninForm)
	s.mux.HandleFunc("POST /ui/signin", s.handleSignin)
	s.mux.HandleFunc("POST /ui/signout", s.handleSignout)
	s.page("GET /ui/{$}", s.handleOverview)
	s.page("GET /ui/deployments/{id}", s.handleDeployment)
	s.action("POST /ui/deployments/{id}/approve", s.handleApprove)
	s.action("POST /ui/deployments/{id}/reject", s.handleReject)
	s.page("GET /ui/environments/{env}", s.handleEnvironment)
	s.page("GET /ui/environments/{env}/rollback", s.handleRollbackForm)
	s.action("POST /ui/environments/{env}/rollback", s.handleRollback)
	s.action("POST /ui/environments/{env}/sync", s.handleSync)
	s.page("GET /ui/cluster", s.handleCluster)
	s.page("GET /ui/events", s.handleEvents)
	s.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		ss, _ := s.session(r) // the page's header when signed in
		s.renderError(w, r, ss, http.StatusNotFound, "No such page: "+r.Method+" "+r.URL.Path)
	})
	return s
}

// ServeHTTP implements http.Handler: every answer carries the security
// headers (a page's CSP is widened to the other members by render).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp(nil))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	s.mux.ServeHTTP(w, r)
}

// client returns an API client whose requests the node's own API serves
// in process, as the browser's, with token.
func (s *Server) client(r *http.Request, token string) *api.Client {
	c, err := api.NewClient(api.Config{Addrs: []string{"http://in-process"}, Token: token,
		Transport: &inProcess{h: s.cfg.API, remoteAddr: r.RemoteAddr}})
	if err != nil {
		panic("ui: in-process client: " + err.Error()) // a constant address
	}
	return c
}
