package fsm

import "slices"

// EveryGroup is the approver group that stands for every group: an identity
// that has it is in whatever approver groups a deployment's approval names.
// Only the identity of a node without a tokens file, the admin "anonymous"
// who may do anything, has it; internal/rpc refuses it in a tokens file.
const EveryGroup = "*"

// InApproverGroups reports whether an identity with groups is in one of
// approvers: it has one of them, or EveryGroup.
func InApproverGroups(groups, approvers []string) bool {
	return slices.Contains(groups, EveryGroup) || intersects(approvers, groups)
}

// intersects reports whether a and b share an element.
func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
