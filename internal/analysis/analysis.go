package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/internal/policy"
)

// MaxResponse is the largest answer read from Prometheus, in bytes.
const MaxResponse = 1 << 20

// DefaultTimeout bounds one query when Client.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Client asks a Prometheus HTTP API. The zero value uses
// http.DefaultClient's transport with DefaultTimeout.
type Client struct {
	// HTTP is the client queries go through; nil means a client that
	// follows no redirect.
	HTTP *http.Client
	// Timeout bounds each query.
	Timeout time.Duration
}

// Status is the outcome of one check.
type Status string

// The statuses of a Result.
const (
	// Passed: the value is within the check's bounds.
	Passed Status = "passed"
	// Failed: the value is outside the bounds, missing or NaN, or the
	// query could not be answered under onError fail.
	Failed Status = "failed"
	// Errored: the query could not be answered under onError ignore; it
	// counts neither way.
	Errored Status = "error"
)

// Result is one check of one target.
type Result struct {
	// Check names the check.
	Check string
	// Target names the target judged.
	Target string
	// Value is the value measured; meaningful when Error is empty.
	Value float64
	// Status is passed, failed or error.
	Status Status
	// Error says why the query was not answered, or why its answer is not
	// a number.
	Error string
}

// Evaluate runs every check of a for the target named target, at the time
// Prometheus evaluates it (now; the query carries no time). It returns a
// result per check, in the policy's order, and whether all of them passed
// or errored (errors count per a.OnError).
func (c *Client) Evaluate(ctx context.Context, a *policy.Analysis, target string) ([]Result, bool) {
	out := make([]Result, 0, len(a.Checks))
	ok := true
	for _, ch := range a.Checks {
		r := Result{Check: ch.Name, Target: target}
		q, err := ch.QueryFor(target)
		var v float64
		if err == nil {
			v, err = c.Query(ctx, a.PrometheusURL, q)
		}
		var unanswered *UnansweredError
		switch {
		case errors.As(err, &unanswered):
			r.Error = err.Error()
			r.Status = Failed
			if a.OnError == policy.OnErrorIgnore {
				r.Status = Errored
			}
		case err != nil:
			r.Error, r.Status = err.Error(), Failed
		default:
			r.Value, r.Status = v, Failed
			if ch.Passes(v) {
				r.Status = Passed
			}
		}
		ok = ok && r.Status != Failed
		out = append(out, r)
	}
	return out, ok
}

// UnansweredError is a query Prometheus did not answer: unreachable, an
// error status, or an answer that is not the API's.
type UnansweredError struct {
	Err error
}

func (e *UnansweredError) Error() string { return "prometheus did not answer: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *UnansweredError) Unwrap() error { return e.Err }

// apiResponse is the envelope of /api/v1/query.
type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// Query evaluates an instant query against the Prometheus at base and
// returns its one number. A query Prometheus did not answer is an
// *UnansweredError; an answer that holds no number, several series or NaN
// is another error.
func (c *Client) Query(ctx context.Context, base, query string) (float64, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u, err := url.Parse(strings.TrimSuffix(base, "/") + "/api/v1/query")
	if err != nil {
		return 0, &UnansweredError{fmt.Errorf("prometheus url: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(url.Values{"query": {query}}.Encode()))
	if err != nil {
		return 0, &UnansweredError{err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, &UnansweredError{err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return 0, &UnansweredError{fmt.Errorf("read answer: %w", err)}
	}
	if len(body) > MaxResponse {
		return 0, &UnansweredError{fmt.Errorf("answer larger than %d bytes", MaxResponse)}
	}
	var ar apiResponse
	if err := json.Unmarshal(body, &ar); err != nil {
		return 0, &UnansweredError{fmt.Errorf("%s: answer is not the query API's (%v)", resp.Status, err)}
	}
	if ar.Status != "success" {
		return 0, &UnansweredError{fmt.Errorf("%s: %s: %s", resp.Status, ar.ErrorType, ar.Error)}
	}
	v, err := number(ar.Data.ResultType, ar.Data.Result)
	if err != nil {
		return 0, fmt.Errorf("query %q: %w", query, err)
	}
	return v, nil
}

// number extracts the one value of a scalar or a one-series vector.
func number(resultType string, raw json.RawMessage) (float64, error) {
	var pair []any
	switch resultType {
	case "scalar":
		if err := json.Unmarshal(raw, &pair); err != nil {
			return 0, fmt.Errorf("bad scalar: %w", err)
		}
	case "vector":
		var vec []struct {
			Value []any `json:"value"`
		}
		if err := json.Unmarshal(raw, &vec); err != nil {
			return 0, fmt.Errorf("bad vector: %w", err)
		}
		switch len(vec) {
		case 0:
			return 0, errors.New("no sample: the query answered an empty vector")
		case 1:
			pair = vec[0].Value
		default:
			return 0, fmt.Errorf("the query answered %d series; want one (aggregate it, e.g. with sum)", len(vec))
		}
	default:
		return 0, fmt.Errorf("the query answered a %s; want a scalar or a vector", resultType)
	}
	if len(pair) != 2 {
		return 0, errors.New("bad sample")
	}
	s, ok := pair[1].(string)
	if !ok {
		return 0, errors.New("bad sample value")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("bad sample value %q", s)
	}
	if math.IsNaN(v) {
		return 0, errors.New("the value is NaN (no traffic?)")
	}
	return v, nil
}
