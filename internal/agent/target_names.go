package agent

import (
	"fmt"
	"regexp"

	"github.com/honua-io/honua-gitops/internal/cluster"
)

// targetNameRE is the rule for a target's name, the one a policy's rollout
// waves refer to it by (policy.Wave.Targets).
var targetNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// validateTargetNames checks the names of env's targets: each one given is
// 1-63 lowercase letters, digits and '-', and no two are the same.
func validateTargetNames(env string, targets []TargetConfig) []error {
	var errs []error
	first := map[string]int{}
	for i, t := range targets {
		if t.Name == "" {
			continue
		}
		field := fmt.Sprintf("environments.%s.targets[%d].name", env, i)
		if !targetNameRE.MatchString(t.Name) {
			errs = append(errs, &cluster.FieldError{Field: field, Value: t.Name, Why: "must be 1-63 lowercase letters, digits and '-', not starting or ending with '-'"})
			continue
		}
		if j, dup := first[t.Name]; dup {
			errs = append(errs, &cluster.FieldError{Field: field, Value: t.Name, Why: fmt.Sprintf("repeats the name of targets[%d]; names are unique in an environment", j)})
			continue
		}
		first[t.Name] = i
	}
	return errs
}
