package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/api"
)

// goldenAnswers are the answers the server gives, pinned by internal/rpc's
// golden tests: the status line, the Content-Type, a blank line, the body.
const goldenAnswers = "../internal/rpc/testdata/golden"

// clientType returns a new value of the type a client reads the golden
// answer name into.
func clientType(name string) any {
	switch {
	case strings.HasPrefix(name, "error-"), name == "readyz-not-ready":
		return &api.ErrorBody{}
	case name == "status":
		return &api.Status{}
	case name == "members":
		return &[]api.Member{}
	case name == "environments":
		return &[]api.EnvironmentDetail{}
	case strings.HasPrefix(name, "environment-"):
		return &api.EnvironmentDetail{}
	case strings.HasPrefix(name, "history-"):
		return &api.History{}
	case strings.HasPrefix(name, "notifications"):
		return &[]api.Notification{}
	case strings.HasPrefix(name, "notification-"):
		return &api.Notification{}
	case strings.HasPrefix(name, "deployments"):
		return &[]api.DeploymentSummary{}
	case strings.HasPrefix(name, "deployment-"), name == "reject", name == "rollback":
		return &api.Deployment{}
	case strings.HasPrefix(name, "approvers-"):
		return &api.EnvironmentApprovers{}
	case strings.HasPrefix(name, "approve"):
		return &api.ApproveResult{}
	case name == "sync":
		return &api.Environment{}
	case strings.HasPrefix(name, "whoami"):
		return &api.Identity{}
	case name == "keyring":
		return &api.Keyring{}
	case strings.HasPrefix(name, "keyring-"):
		return &api.KeyringChange{}
	}
	return nil
}

// TestClientReadsEveryAnswer: every field of every answer the server gives
// has its place in the api type a client reads it into, and writing that
// value again gives the server's bytes: nothing is lost or renamed between
// server and client.
func TestClientReadsEveryAnswer(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenAnswers, "*.golden"))
	if err != nil || len(files) < 50 {
		t.Fatalf("golden answers in %s: %d files, %v", goldenAnswers, len(files), err)
	}
	read := 0
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".golden")
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, body, ok := bytes.Cut(b, []byte("\n\n"))
		if !ok {
			t.Fatalf("%s: no blank line after the header", name)
		}
		if strings.HasPrefix(name, "events") {
			read += checkEvents(t, name, body)
			continue
		}
		v := clientType(name)
		if v == nil {
			continue // not an answer a client decodes (probes, snapshots, webhooks, debug)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Errorf("%s: decode into %T: %v", name, v, err)
			continue
		}
		var again bytes.Buffer
		enc := json.NewEncoder(&again)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), body) {
			t.Errorf("%s: %T written again differs from the answer:\n got %s\nwant %s", name, v, again.Bytes(), body)
		}
		if d, ok := v.(*api.Deployment); ok {
			checkDocuments(t, name, d)
		}
		read++
	}
	if read < 40 {
		t.Errorf("read %d answers; the golden files hold more", read)
	}
}

// checkEvents reads the data lines of an event stream as api.Events.
func checkEvents(t *testing.T, name string, body []byte) int {
	t.Helper()
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(data))
		dec.DisallowUnknownFields()
		var e api.Event
		if err := dec.Decode(&e); err != nil {
			t.Errorf("%s: decode %s: %v", name, data, err)
			continue
		}
		if again, _ := json.Marshal(e); string(again) != data {
			t.Errorf("%s: event written again differs:\n got %s\nwant %s", name, again, data)
		}
		n++
	}
	if n == 0 {
		t.Errorf("%s: no events", name)
	}
	return n
}

// checkDocuments reads a deployment's plan and validation report as
// api.PlanDocument and api.ValidationReport, every field known.
func checkDocuments(t *testing.T, name string, d *api.Deployment) {
	t.Helper()
	for _, doc := range []struct {
		raw json.RawMessage
		v   any
		get func() (any, error)
	}{
		{d.Plan, &api.PlanDocument{}, func() (any, error) { return d.PlanDocument() }},
		{d.Validation, &api.ValidationReport{}, func() (any, error) { return d.ValidationReport() }},
	} {
		got, err := doc.get()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(doc.raw) == 0 {
			if !isNil(got) {
				t.Errorf("%s: a document where the answer has none: %+v", name, got)
			}
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(doc.raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(doc.v); err != nil {
			t.Errorf("%s: decode into %T: %v", name, doc.v, err)
		}
		// Diffed values are any: a summarized one comes back a map, its
		// keys sorted, so compare the values, not the bytes.
		var want, again any
		b, _ := json.Marshal(got)
		if err := json.Unmarshal(doc.raw, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, want) {
			t.Errorf("%s: %T written again differs:\n got %s\nwant %s", name, got, b, doc.raw)
		}
	}
}

func isNil(v any) bool {
	switch x := v.(type) {
	case *api.PlanDocument:
		return x == nil
	case *api.ValidationReport:
		return x == nil
	}
	return v == nil
}
