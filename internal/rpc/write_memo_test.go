package rpc

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// TestDocMemoAnswersAsWireDeployment: the memo's answer for a deployment is
// byte for byte wireDeployment's, also when the same deployment's stored
// documents change (a plan dropped by retention, a record restored from a
// backup) after it was remembered.
func TestDocMemoAnswersAsWireDeployment(t *testing.T) {
	planA, planB := goldenPlan(t, "c0", "c1"), goldenPlan(t, "c1", "c2")
	report := goldenValidation(t, configrepo.Problem{File: "layers/roads.json", Message: "srid is missing"})
	var m docMemo
	for _, step := range []struct {
		name             string
		plan, validation json.RawMessage
	}{
		{"first answer", planA, report},
		{"again, remembered", planA, report},
		{"another plan", planB, report},
		{"plan dropped", nil, nil},
		{"a document that does not decode as a plan", json.RawMessage(`["not", "a plan"]`), nil},
		{"plan back", planA, nil},
	} {
		d := &fsm.Deployment{ID: "production-3", Environment: "production", Commit: "c1", State: fsm.StateAwaitingApproval,
			Plan: fsm.NewDocument(step.plan), Validation: fsm.NewDocument(step.validation)}
		got, err := json.Marshal(m.wireDeployment(d))
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(wireDeployment(d))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: memo's answer\n%s\nwant wireDeployment's\n%s", step.name, got, want)
		}
	}
	if m.wireDeployment(nil) != nil {
		t.Fatal("wireDeployment(nil) != nil")
	}
}
