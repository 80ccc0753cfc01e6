package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/certs"
	"github.com/honua-io/honua-gitops/test/harness"
)

// The helpers of the operations tests (recovery_test.go, snapshot_test.go):
// they compare the replicated state of nodes through GET /v1/debug/state,
// which needs the admin token.

// stateDigest is a node's GET /v1/debug/state: the SHA-256 of its FSM's
// snapshot bytes, equal on nodes that applied the same log.
type stateDigest struct {
	AppliedIndex uint64 `json:"appliedIndex"`
	SHA256       string `json:"sha256"`
	Bytes        int    `json:"bytes"`
}

func (d stateDigest) String() string {
	return fmt.Sprintf("index %d sha256 %.12s (%d bytes)", d.AppliedIndex, d.SHA256, d.Bytes)
}

// adminToken returns the fixture's admin bearer token.
func (s *scenarioFixture) adminToken(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(s.tokens["admin"])
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// nodeGet GETs path from node n with the bearer token and returns the
// answer's status and body.
func nodeGet(n *harness.Node, token, path string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, n.URL()+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := clientOf(n).Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: GET %s: %w", n, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: GET %s: %w", n, path, err)
	}
	return resp.StatusCode, body, nil
}

// clientOf returns the client the tests reach n's API with: apiClient, or
// with TLS on, a client that trusts the CA file n has now (it changes
// while a test rotates the CA).
func clientOf(n *harness.Node) *http.Client {
	ca := n.TLSFiles().CA
	if ca == "" {
		return apiClient
	}
	cfg, err := certs.Client(certs.ClientOptions{CAFile: ca})
	if err != nil {
		// Not a harness failure: the node's CA file is being replaced.
		return &http.Client{Transport: errTransport{err}}
	}
	return &http.Client{Timeout: apiClient.Timeout, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// errTransport fails every request with err.
type errTransport struct{ err error }

func (t errTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, t.err }

// nodeGetJSON GETs path from node n and decodes a 200 answer into out.
func nodeGetJSON(n *harness.Node, token, path string, out any) error {
	code, body, err := nodeGet(n, token, path)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("%s: GET %s: %d %s", n, path, code, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s: GET %s: %w", n, path, err)
	}
	return nil
}

// digestOf returns node n's state digest.
func digestOf(n *harness.Node, token string) (stateDigest, error) {
	var d stateDigest
	err := nodeGetJSON(n, token, "/v1/debug/state", &d)
	return d, err
}

// waitSameState waits until every running node of the cluster reports the
// same state digest, and returns it.
func waitSameState(t *testing.T, c *harness.Cluster, token string) stateDigest {
	t.Helper()
	var agreed stateDigest
	err := harness.Poll(waitTimeout, "every running node to hold the same state", func() error {
		var first *harness.Node
		for _, n := range c.Nodes() {
			if !n.Running() {
				continue
			}
			d, err := digestOf(n, token)
			if err != nil {
				return err
			}
			if first == nil {
				first, agreed = n, d
				continue
			}
			if d != agreed {
				return fmt.Errorf("%s has %s; %s has %s", first, agreed, n, d)
			}
		}
		if first == nil {
			return fmt.Errorf("no node is running")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return agreed
}

// waitStateIs waits until every running node of the cluster holds the state
// whose snapshot bytes hash to sha256.
func waitStateIs(t *testing.T, c *harness.Cluster, token, sha256, what string) stateDigest {
	t.Helper()
	var got stateDigest
	for _, n := range c.Nodes() {
		if !n.Running() {
			continue
		}
		err := harness.Poll(waitTimeout, fmt.Sprintf("%s to hold %s (sha256 %.12s)", n, what, sha256), func() (err error) {
			got, err = digestOf(n, token)
			if err == nil && got.SHA256 != sha256 {
				err = fmt.Errorf("it holds %s", got)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// records is what a node answers about environments and deployments: the
// records an operator sees, to compare before and after an operation.
type records struct {
	Environments json.RawMessage
	Deployments  json.RawMessage
}

// recordsOf fetches node n's environments and deployments, compacted so
// that two answers compare byte for byte.
func recordsOf(n *harness.Node, token string) (records, error) {
	var r records
	for _, q := range []struct {
		path string
		dst  *json.RawMessage
	}{
		{"/v1/environments", &r.Environments},
		{"/v1/deployments?limit=1000", &r.Deployments},
	} {
		code, body, err := nodeGet(n, token, q.path)
		if err != nil {
			return r, err
		}
		if code != http.StatusOK {
			return r, fmt.Errorf("%s: GET %s: %d %s", n, q.path, code, body)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, body); err != nil {
			return r, fmt.Errorf("%s: GET %s: %w", n, q.path, err)
		}
		*q.dst = buf.Bytes()
	}
	return r, nil
}

// equal reports whether two nodes' answers are the same records.
func (r records) equal(o records) bool {
	return bytes.Equal(r.Environments, o.Environments) && bytes.Equal(r.Deployments, o.Deployments)
}

// opsDeployment is the part of a deployment record the operations tests
// read.
type opsDeployment struct {
	ID           string `json:"id"`
	Environment  string `json:"environment"`
	State        string `json:"state"`
	FencingToken uint64 `json:"fencingToken"`
	Approvals    []struct {
		Identity string `json:"identity"`
	} `json:"approvals"`
}

func (d *opsDeployment) String() string {
	return fmt.Sprintf("%s: %s with %d approvals, fencing token %d", d.ID, d.State, len(d.Approvals), d.FencingToken)
}

// deploymentOn fetches deployment id from node n.
func deploymentOn(n *harness.Node, token, id string) (*opsDeployment, error) {
	var d opsDeployment
	err := nodeGetJSON(n, token, "/v1/deployments/"+id, &d)
	return &d, err
}
