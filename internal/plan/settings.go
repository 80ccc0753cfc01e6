package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// securityWords mark a settings key as security-sensitive when its dotted
// path (list keys such as [name=x] included), or any key inside its value,
// contains one of them (case-insensitively). The match is deliberately broad ("key" also catches
// "ApiKey" and "KeyVault", and "Keywords"): rating a harmless key high costs
// an approval, missing a security key could open the server.
var securityWords = []string{"auth", "security", "cors", "token", "secret", "password",
	"key", "tls", "cert", "allowedhosts", "origin"}

// isSecurityKey reports whether a settings difference touches a security key.
func isSecurityKey(d rawDiff) bool {
	names := objectKeys(d.from, objectKeys(d.to, []string{d.field}))
	for _, n := range names {
		n = strings.ToLower(n)
		for _, w := range securityWords {
			if strings.Contains(n, w) {
				return true
			}
		}
	}
	return false
}

// rateSetting rates a difference in appsettings or shared-config.
func rateSetting(d rawDiff) (Risk, bool, string) {
	if isSecurityKey(d) {
		return RiskHigh, d.action() == ActionRemoved, "security setting " + d.verb()
	}
	return rateGeneric(d)
}

// diffSettings returns one change per differing key of a settings document
// (appsettings.json or shared-config.json), at the deepest key that differs;
// a key added or removed whole is one change. name is the path prefix.
func diffSettings(kind, name string, base, head any) []Change {
	return perKeyChanges(kind, name, base, head, rateSetting)
}

// diffDocument returns one change per differing key of the top level of
// metadata.json or datasources.json outside services, layers and
// dataSources, rated as unknown keys.
func diffDocument(name string, base, head map[string]any) []Change {
	return perKeyChanges(KindDocument, name, base, head, rateGeneric)
}

func perKeyChanges(kind, name string, base, head any, r rater) []Change {
	var raw []rawDiff
	bm, okB := objectOrAbsent(base)
	hm, okH := objectOrAbsent(head)
	if okB && okH {
		raw = diffMaps("", bm, hm, diffOptions{}, nil)
	} else {
		// A document that is not an object: compare it whole.
		raw = diffValue("", base, head, base != nil, head != nil, nil)
	}
	var cs []Change
	for _, d := range raw {
		path := name
		if d.field != "" {
			path += "/" + d.field
		}
		c := modifiedChange(kind, path, rate([]rawDiff{d}, r))
		c.Action = d.action()
		cs = append(cs, c)
	}
	return cs
}

// objectOrAbsent returns v as an object, treating an absent document as an
// empty one.
func objectOrAbsent(v any) (map[string]any, bool) {
	if v == nil {
		return map[string]any{}, true
	}
	m, ok := v.(map[string]any)
	return m, ok
}

// diffPolicy returns the change to .gitops/deployment-policy.yaml, if its
// bytes differ. nil is an absent file; an empty slice is an empty file. The
// diff gives the SHA-256 of each version, which names it in the repository
// history without copying the file into every plan.
func diffPolicy(base, head []byte) (Change, bool) {
	if (base == nil) == (head == nil) && bytes.Equal(base, head) {
		return Change{}, false
	}
	d := FieldDiff{Field: "sha256", Risk: RiskHigh}
	c := Change{Action: ActionModified, Kind: KindPolicy, Path: "policy", Risk: RiskHigh}
	switch {
	case base == nil:
		c.Action, c.Reason = ActionAdded, "deployment policy added"
	case head == nil:
		c.Action, c.Reason = ActionRemoved, "deployment policy removed"
	default:
		c.Reason = "deployment policy changed"
	}
	if base != nil {
		d.From = digest(base)
	}
	if head != nil {
		d.To = digest(head)
	}
	d.Reason = c.Reason
	c.Diff = []FieldDiff{d}
	return c, true
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
