package rpc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// heartbeatEvery keeps idle event streams (and the proxies in between)
// alive.
const heartbeatEvery = 15 * time.Second

// handleEvents streams one server-sent event per deployment transition,
// from this node's state. A client resumes where it left off with the
// Last-Event-ID header (or ?lastEventId=); ?env= keeps one environment.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	f, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "internal", "streaming is not supported by this connection")
		return
	}
	last := r.Header.Get("Last-Event-ID")
	if v := r.URL.Query().Get("lastEventId"); v != "" {
		last = v
	}
	after, err := fsm.ParseEventID(last)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	env := r.URL.Query().Get("env")
	if env != "" && !fsm.ValidEnvironmentName(env) {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("env: %q is not a valid environment name", env))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f.Flush()
	heartbeat := time.NewTicker(heartbeatEvery)
	defer heartbeat.Stop()
	for {
		changed := s.cfg.Store.Changed()
		for _, e := range s.cfg.Store.EventsAfter(after, env) {
			data, _ := json.Marshal(wireEvent(e))
			if _, err := fmt.Fprintf(w, "id: %s\nevent: transition\ndata: %s\n\n", e.ID, data); err != nil {
				return
			}
			after, _ = fsm.ParseEventID(e.ID)
		}
		f.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return
			}
			f.Flush()
		}
	}
}
