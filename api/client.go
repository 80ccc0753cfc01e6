// Package api is the Go client of the honuad HTTP API, used by honuactl and
// the tests. It talks to any node of a cluster and moves on to the next
// address when one cannot be reached; writes sent to a follower are
// forwarded to the leader by the server.
//
// Its types are the API's wire format, declared here and nowhere else: the
// package imports nothing of honuad's internals, so that the replicated
// state and the planner's documents can change without changing what
// clients read (internal/rpc converts them, and its golden files pin every
// answer's bytes).
package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config configures a Client.
type Config struct {
	// Addrs are the nodes to try, in order: host:port (plain http) or an
	// http:// or https:// URL.
	Addrs []string
	// Token is the bearer token; empty sends none.
	Token string
	// Timeout bounds one request (not an event stream); default 30s.
	Timeout time.Duration
	// TLS configures the https:// addresses: the CA the nodes'
	// certificates must be signed by (and the name they must carry), and
	// a client certificate for nodes that ask for one. Nil: the system's
	// roots and the host dialled. certs.Client builds one from files.
	// Clients given the same config share their connections; build it
	// once.
	TLS *tls.Config
	// Transport, when set, carries every request instead of a transport
	// built from TLS (which is then unused): the dashboard calls its own
	// node's API in process with one.
	Transport http.RoundTripper
}

// Client calls the honuad API.
type Client struct {
	bases  []*url.URL
	token  string
	http   *http.Client
	stream *http.Client
}

// ErrNoNodeReachable is returned when no address answered at all.
var ErrNoNodeReachable = errors.New("no node reachable")

// NewClient returns a client for the given nodes.
func NewClient(cfg Config) (*Client, error) {
	tr := cfg.Transport
	if tr == nil {
		tr = transportFor(cfg.TLS)
	}
	c := &Client{token: cfg.Token, http: &http.Client{Transport: tr, Timeout: cfg.Timeout}, stream: &http.Client{Transport: tr}}
	if c.http.Timeout == 0 {
		c.http.Timeout = 30 * time.Second
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
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("address %q: must be host:port or an http(s) URL", a)
		}
		c.bases = append(c.bases, u)
	}
	if len(c.bases) == 0 {
		return nil, errors.New("no address given")
	}
	return c, nil
}

// Error is an error answer of the API.
type Error struct {
	StatusCode int
	// Code is the API's error code: invalid, unauthorized, forbidden,
	// not_found, wrong_state, too_large, no_leader, unknown_outcome,
	// unavailable...
	Code    string
	Message string
	// Node is the node that answered.
	Node string
}

func (e *Error) Error() string { return e.Message }

// Retryable reports whether the same request may succeed later: no leader
// right now, or an outcome the server could not learn.
func (e *Error) Retryable() bool {
	return e.StatusCode == http.StatusServiceUnavailable
}

// Meta is what the answering node said about itself.
type Meta struct {
	Node   string
	Leader string
	// Index is the node's applied Raft index when it served a read.
	Index uint64
}

// QueryOptions change how a read is served.
type QueryOptions struct {
	// Consistent reads are served by the leader after it confirms with a
	// quorum that it leads: they see every acknowledged write.
	Consistent bool
}

func (o *QueryOptions) values() url.Values {
	v := url.Values{}
	if o != nil && o.Consistent {
		v.Set("consistent", "true")
	}
	return v
}

// do sends a request to the first node that can be reached, and decodes a
// 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) (*Meta, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, err
		}
	}
	resp, err := c.send(ctx, c.http, method, path, query, body, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	meta := metaOf(resp)
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return meta, fmt.Errorf("read the answer of %s: %w", meta.Node, err)
	}
	if resp.StatusCode >= 300 {
		return meta, errorOf(resp, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return meta, fmt.Errorf("decode the answer of %s: %w", meta.Node, err)
		}
	}
	return meta, nil
}

// send tries each node in turn while the connection itself fails.
func (c *Client) send(ctx context.Context, hc *http.Client, method, path string, query url.Values, body []byte, hdr http.Header) (*http.Response, error) {
	var errs []error
	for _, base := range c.bases {
		u := base.JoinPath(path)
		u.RawQuery = query.Encode()
		req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := hc.Do(req)
		if err == nil {
			return checkScheme(base.Host, resp)
		}
		if ctx.Err() != nil || !unreachable(err) {
			return nil, describeTLS(base.Host, err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", base.Host, err))
	}
	return nil, fmt.Errorf("%w: %w", ErrNoNodeReachable, errors.Join(errs...))
}

// unreachable reports whether err means the node could not be reached, so
// that nothing was sent and the next node may be tried.
func unreachable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dns)
}

func metaOf(resp *http.Response) *Meta {
	m := &Meta{Node: resp.Header.Get("X-Honua-Node"), Leader: resp.Header.Get("X-Honua-Leader")}
	m.Index, _ = strconv.ParseUint(resp.Header.Get("X-Honua-Index"), 10, 64)
	return m
}

func errorOf(resp *http.Response, body []byte) error {
	e := &Error{StatusCode: resp.StatusCode, Node: resp.Header.Get("X-Honua-Node")}
	var eb ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		e.Code, e.Message = eb.Code, eb.Error
	} else {
		e.Message = strings.TrimSpace(string(body))
		if e.Message == "" {
			e.Message = resp.Status
		}
	}
	return e
}

// Status returns the answering node's view of the cluster.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	_, err := c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &s)
	return &s, err
}

// Whoami returns the identity of the client's token.
func (c *Client) Whoami(ctx context.Context) (*Identity, error) {
	var id Identity
	_, err := c.do(ctx, http.MethodGet, "/v1/whoami", nil, nil, &id)
	return &id, err
}

// Ready reports whether the answering node is ready (GET /readyz): nil, or
// an *Error whose message says why not.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/readyz", nil, nil, nil)
	return err
}

// Approvers returns the approver groups of the policy in force for env,
// as the leader reads them: who may roll env back or sync it.
func (c *Client) Approvers(ctx context.Context, env string) (*EnvironmentApprovers, error) {
	var a EnvironmentApprovers
	_, err := c.do(ctx, http.MethodGet, "/v1/environments/"+url.PathEscape(env)+"/approvers", nil, nil, &a)
	return &a, err
}

// Members lists the cluster's servers.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var ms []Member
	_, err := c.do(ctx, http.MethodGet, "/v1/cluster/members", nil, nil, &ms)
	return ms, err
}

// RemoveMember removes a (failed) server from the raft configuration
// (admin).
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/cluster/members/"+url.PathEscape(id), nil, nil, nil)
	return err
}

// Environments lists the environments, each without its history ids
// (HistoryLength counts them; Environment and History give them).
func (c *Client) Environments(ctx context.Context, q *QueryOptions) ([]EnvironmentDetail, error) {
	var es []EnvironmentDetail
	_, err := c.do(ctx, http.MethodGet, "/v1/environments", q.values(), nil, &es)
	return es, err
}

// Environment returns one environment.
func (c *Client) Environment(ctx context.Context, name string, q *QueryOptions) (*EnvironmentDetail, error) {
	var e EnvironmentDetail
	_, err := c.do(ctx, http.MethodGet, "/v1/environments/"+url.PathEscape(name), q.values(), nil, &e)
	return &e, err
}

// HistoryOptions page through an environment's history.
type HistoryOptions struct {
	Limit  int
	Cursor string
}

// History returns a page of an environment's deployments, newest first.
func (c *Client) History(ctx context.Context, env string, o HistoryOptions) (*History, error) {
	v := url.Values{}
	if o.Limit > 0 {
		v.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		v.Set("cursor", o.Cursor)
	}
	var h History
	_, err := c.do(ctx, http.MethodGet, "/v1/environments/"+url.PathEscape(env)+"/history", v, nil, &h)
	return &h, err
}

// DeploymentFilter selects deployments.
type DeploymentFilter struct {
	Env   string
	State DeploymentState
	Limit int
}

// Deployments lists deployments, newest first.
func (c *Client) Deployments(ctx context.Context, f DeploymentFilter, q *QueryOptions) ([]DeploymentSummary, error) {
	v := q.values()
	if f.Env != "" {
		v.Set("env", f.Env)
	}
	if f.State != "" {
		v.Set("state", string(f.State))
	}
	if f.Limit > 0 {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	var ds []DeploymentSummary
	_, err := c.do(ctx, http.MethodGet, "/v1/deployments", v, nil, &ds)
	return ds, err
}

// Deployment returns a deployment's whole record.
func (c *Client) Deployment(ctx context.Context, id string, q *QueryOptions) (*Deployment, error) {
	var d Deployment
	_, err := c.do(ctx, http.MethodGet, "/v1/deployments/"+url.PathEscape(id), q.values(), nil, &d)
	return &d, err
}

// Approve approves a deployment that is AwaitingApproval as the token's
// identity. Approving twice is one approval.
func (c *Client) Approve(ctx context.Context, id, comment string) (*ApproveResult, error) {
	var r ApproveResult
	_, err := c.do(ctx, http.MethodPost, "/v1/deployments/"+url.PathEscape(id)+"/approve", nil,
		map[string]string{"comment": comment}, &r)
	return &r, err
}

// Reject rejects a deployment that is AwaitingApproval; reason is required.
func (c *Client) Reject(ctx context.Context, id, reason string) (*Deployment, error) {
	var d Deployment
	_, err := c.do(ctx, http.MethodPost, "/v1/deployments/"+url.PathEscape(id)+"/reject", nil,
		map[string]string{"reason": reason}, &d)
	return &d, err
}

// Rollback rolls env back: to the previous Completed deployment when to is
// empty, or to a deployment id or commit. It returns the rollback
// deployment.
func (c *Client) Rollback(ctx context.Context, env, to string) (*Deployment, error) {
	var d Deployment
	_, err := c.do(ctx, http.MethodPost, "/v1/environments/"+url.PathEscape(env)+"/rollback", nil,
		map[string]string{"to": to}, &d)
	return &d, err
}

// Sync asks for env to be deployed from the branch head now.
func (c *Client) Sync(ctx context.Context, env string) (*Environment, error) {
	var e Environment
	_, err := c.do(ctx, http.MethodPost, "/v1/environments/"+url.PathEscape(env)+"/sync", nil, struct{}{}, &e)
	return &e, err
}

// SaveSnapshot writes a consistent backup of the cluster's replicated
// state, taken by the leader, to w (admin).
func (c *Client) SaveSnapshot(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, c.stream, http.MethodGet, "/v1/snapshot", nil, nil, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return 0, errorOf(resp, b)
	}
	return io.Copy(w, resp.Body)
}

// RestoreSnapshot replaces the cluster's replicated state with a backup
// SaveSnapshot wrote (admin). It returns the leader's applied index after.
func (c *Client) RestoreSnapshot(ctx context.Context, backup []byte) (uint64, error) {
	resp, err := c.send(ctx, c.stream, http.MethodPost, "/v1/snapshot", nil, backup,
		http.Header{"Content-Type": {"application/octet-stream"}})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, errorOf(resp, b)
	}
	var out struct {
		AppliedIndex uint64 `json:"appliedIndex"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return 0, fmt.Errorf("decode the answer: %w", err)
	}
	return out.AppliedIndex, nil
}

// Keyring returns the answering node's gossip keyring (admin). The node
// asked answers for itself: give the client that one node's address.
func (c *Client) Keyring(ctx context.Context) (*Keyring, error) {
	var k Keyring
	_, err := c.do(ctx, http.MethodGet, "/v1/agent/keyring", nil, nil, &k)
	return &k, err
}

// ChangeKeyring installs, uses or removes a gossip key (op) on the
// answering node alone (admin); key is base64, as honuad keygen prints it.
func (c *Client) ChangeKeyring(ctx context.Context, op, key string) (*KeyringChange, error) {
	var k KeyringChange
	_, err := c.do(ctx, http.MethodPost, "/v1/agent/keyring", nil, KeyringOp{Op: op, Key: key}, &k)
	return &k, err
}
