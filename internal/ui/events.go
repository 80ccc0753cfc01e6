package ui

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

// heartbeatEvery keeps an idle stream (and the proxies in between) alive.
const heartbeatEvery = 15 * time.Second

// handleEvents streams the API's deployment transitions to the page, as
// text/event-stream, with the session's token. The page names the applied
// index its reads saw (?after=N): the stream starts with the transitions
// made after it, so none is missed and none already shown is sent. A
// reconnecting EventSource resumes with Last-Event-ID.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, ss *session) {
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		if v := r.URL.Query().Get("after"); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				s.renderError(w, r, ss, http.StatusBadRequest, "after must be an applied index")
				return
			}
			// Every event of a command at index n or before.
			last = fmt.Sprintf("%d.%d", n, math.MaxInt32)
		}
	}
	stream, err := ss.client.Events(r.Context(), api.EventOptions{LastEventID: last})
	if err != nil {
		s.renderAPIError(w, r, ss, err)
		return
	}
	defer stream.Close()
	events := make(chan *api.Event)
	go func() {
		defer close(events)
		for {
			e, err := stream.Next()
			if err != nil {
				return
			}
			select {
			case events <- e:
			case <-r.Context().Done():
				return
			}
		}
	}()
	rc := http.NewResponseController(w)
	write := func(text string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := fmt.Fprint(w, text); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if !write(": stream of " + s.cfg.NodeID + "\n\n") {
		return
	}
	heartbeat := time.NewTicker(heartbeatEvery)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-events:
			if !ok {
				return // the API ended the stream: the page reconnects
			}
			data, _ := json.Marshal(e)
			if !write(fmt.Sprintf("id: %s\nevent: transition\ndata: %s\n\n", e.ID, data)) {
				return
			}
		case <-heartbeat.C:
			if !write(": heartbeat\n\n") {
				return
			}
		}
	}
}
