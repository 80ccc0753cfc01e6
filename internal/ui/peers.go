package ui

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

// memberView is one member on the cluster page: what this node's gossip
// says of it, and what it says of itself when asked.
type memberView struct {
	api.Member
	// Reachable is false when the member's API did not answer in time.
	Reachable bool
	Problem   string
	State     string
	Ready     bool
	NotReady  string
	// LastContact is how long ago the member last heard the leader
	// ("leader" for the leader itself).
	LastContact  string
	AppliedIndex uint64
}

// memberViews asks every member with an API address, in parallel and each
// within PeerTimeout, for its own status and readiness: this node itself
// in process, the others over the peer TLS configuration, with the
// session's token. A member that does not answer is shown unreachable.
func (s *Server) memberViews(r *http.Request, ss *session, st *api.Status) []memberView {
	views := make([]memberView, len(st.Members))
	var wg sync.WaitGroup
	for i, m := range st.Members {
		views[i].Member = m
		c := ss.client
		if m.ID != s.cfg.NodeID {
			base, ok := s.baseURL(m.APIAddr)
			if !ok {
				views[i].Problem = "no API address known"
				continue
			}
			var err error
			c, err = api.NewClient(api.Config{Addrs: []string{base}, Token: ss.token, TLS: s.cfg.PeerTLS, Timeout: s.cfg.PeerTimeout})
			if err != nil {
				views[i].Problem = err.Error()
				continue
			}
		}
		wg.Add(1)
		go func(v *memberView, c *api.Client) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PeerTimeout)
			defer cancel()
			s.askMember(ctx, c, v)
		}(&views[i], c)
	}
	wg.Wait()
	return views
}

// askMember fills v from the member's own answers.
func (s *Server) askMember(ctx context.Context, c *api.Client, v *memberView) {
	ms, err := c.Status(ctx)
	if err != nil {
		v.Problem = "unreachable: " + err.Error()
		return
	}
	v.Reachable, v.State, v.AppliedIndex = true, ms.State, ms.AppliedIndex
	switch {
	case ms.State == "Leader":
		v.LastContact = "leader"
	case ms.LastContact != nil:
		v.LastContact = ago(s.cfg.Now(), *ms.LastContact) + " ago"
	default:
		v.LastContact = "never"
	}
	if err := c.Ready(ctx); err != nil {
		v.NotReady = err.Error()
		return
	}
	v.Ready = true
}

// peerTimeout is the default of Config.PeerTimeout.
const peerTimeout = 2 * time.Second
