// Package api is the Go client of the honuad HTTP API, used by honuactl and
// the tests. It talks to any node of a cluster and moves on to the next
// address when one cannot be reached.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures a Client.
type Config struct {
	// Addrs are the nodes to try, in order: host:port or a URL.
	Addrs []string
	// Timeout bounds one request; default 10s.
	Timeout time.Duration
}

// Client calls the honuad API.
type Client struct {
	bases []*url.URL
	http  *http.Client
}

// NewClient returns a client for the given nodes.
func NewClient(cfg Config) (*Client, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("no address given")
	}
	c := &Client{http: &http.Client{Timeout: cfg.Timeout}}
	if c.http.Timeout == 0 {
		c.http.Timeout = 10 * time.Second
	}
	for _, a := range cfg.Addrs {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !strings.Contains(a, "://") {
			a = "http://" + a
		}
		u, err := url.Parse(a)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("address %q: must be host:port or a URL", a)
		}
		c.bases = append(c.bases, u)
	}
	if len(c.bases) == 0 {
		return nil, errors.New("no address given")
	}
	return c, nil
}

// Error is an error response of the API.
type Error struct {
	StatusCode int
	Code       string `json:"code"`
	Message    string `json:"error"`
	Node       string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d, %s)", e.Message, e.StatusCode, e.Code)
}

// get fetches path from the first node that answers and decodes the JSON
// body into out.
func (c *Client) get(ctx context.Context, path string, out any) error {
	var errs []error
	for _, base := range c.bases {
		u := base.JoinPath(path)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "connection refused") {
				errs = append(errs, fmt.Errorf("%s: %w", base.Host, err))
				continue
			}
			return err
		}
		return decode(resp, out)
	}
	return fmt.Errorf("no node answered: %w", errors.Join(errs...))
}

func decode(resp *http.Response, out any) error {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode >= 300 {
		e := &Error{StatusCode: resp.StatusCode, Node: resp.Header.Get("X-Honua-Node")}
		if json.Unmarshal(body, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(body))
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// Status returns the answering node's view of the cluster.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.get(ctx, "/v1/status", &s); err != nil {
		return nil, err
	}
	return &s, nil
}
