package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A node that sends an endless line, or an event whose data never ends,
// gets an error from Next once it passed the bound, not a client that
// buffers until it runs out of memory.
func TestEventStreamBoundsLinesAndEvents(t *testing.T) {
	for _, tc := range []struct{ name, chunk string }{
		{"one endless line", strings.Repeat("x", 64<<10)},
		{"endless data lines", "data: " + strings.Repeat("x", 64<<10) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(http.StatusOK)
				if tc.chunk[0] == 'x' {
					_, _ = w.Write([]byte("data: "))
				}
				for r.Context().Err() == nil {
					if _, err := w.Write([]byte(tc.chunk)); err != nil {
						return
					}
				}
			}))
			defer srv.Close()
			c, err := NewClient(Config{Addrs: []string{srv.URL}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := c.Events(ctx, EventOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = s.Next()
			if err == nil || !strings.Contains(err.Error(), "longer than") {
				t.Fatalf("Next = %v; want an error saying the event is longer than the bound", err)
			}
		})
	}
}
