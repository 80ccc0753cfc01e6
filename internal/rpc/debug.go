package rpc

import (
	"net/http"
	"net/http/pprof"
)

// routeDebug serves Go's profiles and execution traces at /debug/pprof/,
// as Consul's enable_debug does: to admin tokens only, by the node asked
// (a profile of the leader is taken by asking the leader). A CPU profile
// or trace lasts ?seconds= (net/http/pprof's default 30 s), which must stay
// under --http-write-timeout.
func (s *Server) routeDebug() {
	for _, r := range []struct {
		path string
		h    http.HandlerFunc
	}{
		{"/debug/pprof/", pprof.Index}, // and every named profile: heap, allocs, goroutine, mutex, block
		{"/debug/pprof/cmdline", pprof.Cmdline},
		{"/debug/pprof/profile", pprof.Profile},
		{"/debug/pprof/symbol", pprof.Symbol},
		{"/debug/pprof/trace", pprof.Trace},
	} {
		s.route("GET "+r.path, "debug_pprof", RoleAdmin, false, r.h)
	}
}
