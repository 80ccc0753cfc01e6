package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
)

// EventOptions choose which events a stream sends.
type EventOptions struct {
	// Env keeps one environment's events.
	Env string
	// LastEventID resumes after the event with this id.
	LastEventID string
}

// EventStream reads server-sent events of deployment transitions.
type EventStream struct {
	body   io.ReadCloser
	r      *bufio.Reader
	lastID string
	// Node is the node that serves the stream.
	Node string
}

// Events opens the event stream. Close it when done.
func (c *Client) Events(ctx context.Context, o EventOptions) (*EventStream, error) {
	v := url.Values{}
	if o.Env != "" {
		v.Set("env", o.Env)
	}
	hdr := http.Header{}
	if o.LastEventID != "" {
		hdr.Set("Last-Event-ID", o.LastEventID)
	}
	resp, err := c.send(ctx, c.stream, http.MethodGet, "/v1/events", v, nil, hdr)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, errorOf(resp, b)
	}
	return &EventStream{body: resp.Body, r: bufio.NewReader(resp.Body), lastID: o.LastEventID,
		Node: resp.Header.Get("X-Honua-Node")}, nil
}

// Next returns the next event, blocking until one comes; io.EOF when the
// server closed the stream.
func (s *EventStream) Next() (*Event, error) {
	var id, data string
	for {
		line, err := s.readLine()
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if data == "" {
				continue // a heartbeat or an event without data
			}
			var e Event
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				return nil, fmt.Errorf("decode event %s: %w", id, err)
			}
			s.lastID = id
			return &e, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			if len(data) > MaxEventSize {
				return nil, fmt.Errorf("event stream: an event longer than %d bytes", MaxEventSize)
			}
		}
	}
}

// MaxEventSize bounds one line of the event stream and one event's data.
// An event is one transition, far smaller; a node that sends more is not
// read into memory without end.
const MaxEventSize = 1 << 20

// readLine returns the stream's next line, with its line break.
func (s *EventStream) readLine() (string, error) {
	var line []byte
	for {
		frag, err := s.r.ReadSlice('\n')
		if len(line)+len(frag) > MaxEventSize {
			return "", fmt.Errorf("event stream: a line longer than %d bytes", MaxEventSize)
		}
		line = append(line, frag...)
		switch {
		case err == bufio.ErrBufferFull:
		case err != nil:
			return "", err
		default:
			return string(line), nil
		}
	}
}

// LastEventID is the id of the last event Next returned: give it to Events
// to resume there.
func (s *EventStream) LastEventID() string { return s.lastID }

// Close ends the stream.
func (s *EventStream) Close() error { return s.body.Close() }

// EventIDAfter is the event id just past every transition made by the Raft
// entries up to index (an X-Honua-Index): a stream resumed there sends the
// transitions of later entries. An event id is "<index>.<n>", n the
// transition's place among its entry's; "" is the start of the stream.
func EventIDAfter(index uint64) string {
	if index == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", index, math.MaxInt32)
}
