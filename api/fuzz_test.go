package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The answers of a node are outside input for honuactl: a node of another
// version, a proxy in between, or something that is not honuad at all may
// answer. These targets feed the client arbitrary answers through its
// transport (no network). `make fuzz` runs each for a while; `go test` runs
// their seeds.

// answer is a transport that answers every request with one response.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: a.status, Status: fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: a.header.Clone(), Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: int64(len(a.body)),
		Request: req,
	}, nil
}

// FuzzClientAnswer calls every method of the client against a node that
// answers with an arbitrary status, headers and body. Properties: no panic;
// a status of 300 or more is an *Error carrying that status and a message,
// retryable exactly when it is 503; a 2xx that is not the JSON expected is
// an error that says the answer could not be decoded.
func FuzzClientAnswer(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `{"nodeId":"n1","state":"Leader","leader":{"id":"n1","apiAddr":"127.0.0.1:7201"},"term":3,"members":[]}`},
		{200, `[{"id":"n1","raftAddr":"127.0.0.1:7301","voter":true,"status":"alive"}]`},
		{200, `{"name":"production","history":["production-1"],"currentDeployment":{"id":"production-1","state":"Applying"}}`},
		{200, `{"environment":"production","deployments":[{"id":"production-1"}],"nextCursor":"production-1","totals":{"total":1}}`},
		{200, `{"id":"production-3","environment":"production","state":"AwaitingApproval","plan":{"risk":"high"},"transitions":[]}`},
		{200, `{"duplicate":false,"deployment":{"id":"production-3"}}`},
		{200, `{"appliedIndex":77}`},
		{202, `{"id":"production-4"}`},
		{200, ``},
		{200, `null`},
		{200, `{"createdAt":"not a time"}`},
		{200, `{"term":-1,"appliedIndex":1e400}`},
		{200, strings.Repeat("[", 10000)},
		{200, "\xff\xfe{}"},
		{400, `{"error":"limit: \"x\" must be a number from 1 to 1000","code":"invalid"}`},
		{401, `{"error":"unknown token","code":"unauthorized"}`},
		{404, ``},
		{409, `{"error":"","code":"wrong_state"}`},
		{413, `<html>too large</html>`},
		{500, `{"error":{"nested":true}}`},
		{502, "bad gateway\n"},
		{503, `{"error":"no leader","code":"no_leader"}`},
		{301, ``},
		{100, ``},
		{999, `{}`},
	} {
		f.Add(int16(s.status), []byte(s.body), "n1")
	}
	f.Fuzz(func(t *testing.T, status int16, body []byte, node string) {
		code := int(status)
		if code < 100 || code > 999 {
			return // not a status a transport returns
		}
		h := http.Header{"Content-Type": {"application/json"}}
		if !strings.ContainsAny(node, "\r\n\x00") {
			h.Set("X-Honua-Node", node)
			h.Set("X-Honua-Index", node)
		}
		c, err := NewClient(Config{Addrs: []string{"127.0.0.1:1"}, Token: "t"})
		if err != nil {
			t.Fatal(err)
		}
		rt := answer{status: code, header: h, body: body}
		c.http.Transport, c.stream.Transport = rt, rt
		c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		c.stream.CheckRedirect = c.http.CheckRedirect
		ctx := context.Background()
		calls := []struct {
			name string
			call func() error
			ok   int // the status the method takes as success; 0: any 2xx
		}{
			{"Status", func() error { _, err := c.Status(ctx); return err }, 0},
			{"Members", func() error { _, err := c.Members(ctx); return err }, 0},
			{"RemoveMember", func() error { return c.RemoveMember(ctx, "n2") }, 0},
			{"Environments", func() error { _, err := c.Environments(ctx, &QueryOptions{Consistent: true}); return err }, 0},
			{"Environment", func() error { _, err := c.Environment(ctx, "production", nil); return err }, 0},
			{"History", func() error {
				_, err := c.History(ctx, "production", HistoryOptions{Limit: 2, Cursor: "x"})
				return err
			}, 0},
			{"Deployments", func() error {
				_, err := c.Deployments(ctx, DeploymentFilter{Env: "production", Limit: 3}, nil)
				return err
			}, 0},
			{"Deployment", func() error { _, err := c.Deployment(ctx, "production-3", nil); return err }, 0},
			{"Approve", func() error { _, err := c.Approve(ctx, "production-3", "ok"); return err }, 0},
			{"Reject", func() error { _, err := c.Reject(ctx, "production-3", "no"); return err }, 0},
			{"Rollback", func() error { _, err := c.Rollback(ctx, "production", ""); return err }, 0},
			{"Sync", func() error { _, err := c.Sync(ctx, "production"); return err }, 0},
			{"RestoreSnapshot", func() error { _, err := c.RestoreSnapshot(ctx, []byte("backup")); return err }, 200},
			{"SaveSnapshot", func() error { _, err := c.SaveSnapshot(ctx, io.Discard); return err }, 200},
		}
		for _, m := range calls {
			err := m.call()
			failed := code >= 300 || (m.ok != 0 && code != m.ok)
			if !failed {
				if err != nil && !strings.Contains(err.Error(), "decode the answer") {
					t.Fatalf("%s answered %d %q = %v; want success or a decode error", m.name, code, body, err)
				}
				continue
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%s answered %d %q = %v; want an *Error", m.name, code, body, err)
			}
			if e.StatusCode != code || e.Message == "" || e.Retryable() != (code == http.StatusServiceUnavailable) {
				t.Fatalf("%s answered %d %q = %+v; want its status, a message, retryable only on 503", m.name, code, body, e)
			}
		}
		if code == http.StatusOK {
			s, err := c.Events(ctx, EventOptions{Env: "production", LastEventID: "1.0"})
			if err != nil {
				t.Fatalf("Events answered 200 = %v", err)
			}
			for range 1000 {
				if _, err := s.Next(); err != nil {
					break
				}
			}
			s.Close()
		}
	})
}

// FuzzEventStream reads an arbitrary server-sent event stream. Properties:
// no panic; the stream ends with io.EOF or an error that names the event
// it could not decode; no more events come than the stream has lines.
func FuzzEventStream(f *testing.F) {
	ev := func(id, to string) string {
		b, _ := json.Marshal(Event{ID: id, DeploymentID: "production-3", Environment: "production", To: DeploymentState(to)})
		return "id: " + id + "\nevent: transition\ndata: " + string(b) + "\n\n"
	}
	for _, s := range []string{
		ev("12.0", "Pending") + ": heartbeat\n\n" + ev("13.0", "Validating"),
		ev("12.0", "Pending")[:40],
		"id: 1.0\r\ndata: {\"id\":\"1.0\"}\r\n\r\n",
		"data: {\"id\":\ndata: \"2.0\"}\n\n",
		"data: not json\n\n",
		"id: 3.0\n\n\n\ndata: {}\n\n",
		":\n:\n\n",
		"data: " + strings.Repeat("[", 10000) + "\n\n",
		"data: {\"time\":\"x\"}\n\n",
		"\xff\xfe\n\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		s := &EventStream{body: io.NopCloser(bytes.NewReader(stream)), r: bufio.NewReader(bytes.NewReader(stream))}
		blocks := bytes.Count(stream, []byte("\n"))
		for i := 0; ; i++ {
			if i > blocks {
				t.Fatalf("Next returned %d events from a stream of %d lines", i, blocks)
			}
			e, err := s.Next()
			if err != nil {
				if err != io.EOF && !strings.HasPrefix(err.Error(), "decode event") && !strings.HasPrefix(err.Error(), "event stream: ") {
					t.Fatalf("Next = %v; want io.EOF, a decode error or a bound", err)
				}
				return
			}
			if e == nil {
				t.Fatal("Next returned no event and no error")
			}
		}
	})
}
