package harness

import (
	"os/exec"
	"regexp"
)

// AgentEnvVars returns the HONUA_* environment variables honuad agent reads,
// as its --help lists them ($HONUA_NODE_ID, ...): manifests that set one
// it does not list set it for nothing.
func AgentEnvVars(t TB) map[string]bool {
	t.Helper()
	out, err := exec.Command(Build(t), "agent", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("honuad agent --help: %v\n%s", err, out)
	}
	known := map[string]bool{}
	for _, m := range agentEnvRE.FindAllStringSubmatch(string(out), -1) {
		known[m[1]] = true
	}
	if !known["HONUA_NODE_ID"] {
		t.Fatalf("honuad agent --help lists no $HONUA_NODE_ID; its format changed:\n%s", out)
	}
	return known
}

var agentEnvRE = regexp.MustCompile(`\$(HONUA_[A-Z0-9_]+)`)
