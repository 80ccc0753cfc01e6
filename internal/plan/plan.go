package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Input is one version of an environment's configuration, each document
// already parsed into the JSON data model (map[string]any, []any, string,
// float64, bool, nil). Other integer and float types, as a YAML decoder
// produces, are accepted and compared as float64. A nil document is an absent
// file. The zero Input is "nothing deployed yet".
type Input struct {
	Metadata     any    // metadata.json: {"services": [...], "layers": [...], ...}
	DataSources  any    // datasources.json: {"dataSources": [...]}
	AppSettings  any    // appsettings.json (optional)
	SharedConfig any    // environments/common/shared-config.json (optional)
	Policy       []byte // .gitops/deployment-policy.yaml raw bytes (optional)
}

// Actions of a Change.
const (
	ActionAdded    = "added"
	ActionModified = "modified"
	ActionRemoved  = "removed"
)

// Kinds of resource a Change is about, in the order a Plan lists them.
const (
	KindService      = "service"      // services/<id>
	KindLayer        = "layer"        // layers/<id>
	KindField        = "field"        // layers/<id>/fields/<name>
	KindDataSource   = "dataSource"   // dataSources/<id>
	KindAppSetting   = "appSetting"   // appsettings/<dotted.key>
	KindSharedConfig = "sharedConfig" // shared-config/<dotted.key>
	KindDocument     = "document"     // metadata.json/<dotted.key>, datasources.json/<dotted.key>
	KindPolicy       = "policy"       // policy
)

var kindOrder = []string{KindService, KindLayer, KindField, KindDataSource,
	KindAppSetting, KindSharedConfig, KindDocument, KindPolicy}

// Plan is the set of changes that takes one version of an environment's
// configuration to another, with their risk (docs/domain.md#risk).
type Plan struct {
	Risk          Risk     `json:"risk"`          // the highest of the changes; RiskNone when nothing changed
	Breaking      bool     `json:"breaking"`      // any change is breaking
	PolicyChanged bool     `json:"policyChanged"` // .gitops/deployment-policy.yaml was added, changed or removed
	Added         int      `json:"added"`
	Modified      int      `json:"modified"`
	Removed       int      `json:"removed"`
	Changes       []Change `json:"changes"` // by kind (in the order of the Kind constants), then path; never nil
	// Truncated says the plan was cut to its budget (MaxChangesSize):
	// Changes lists only the first changes, and the last one listed may
	// omit diffs. Risk, Breaking, PolicyChanged and the counts above
	// still cover every change.
	Truncated bool `json:"truncated,omitempty"`
	// OmittedChanges counts the changes left out of Changes.
	OmittedChanges int `json:"omittedChanges,omitempty"`
}

// Change is one added, modified or removed resource.
type Change struct {
	Action   string      `json:"action"` // ActionAdded, ActionModified or ActionRemoved
	Kind     string      `json:"kind"`   // one of the Kind constants
	Path     string      `json:"path"`   // e.g. layers/sample-points/fields/name
	Breaking bool        `json:"breaking"`
	Risk     Risk        `json:"risk"`
	Reason   string      `json:"reason"`         // why this risk, e.g. "srid changed"
	Diff     []FieldDiff `json:"diff,omitempty"` // field-level; empty for added and removed resources
	// OmittedDiffs counts the diffs left out of Diff to keep the plan
	// within its budget.
	OmittedDiffs int `json:"omittedDiffs,omitempty"`
}

// FieldDiff is one changed attribute of a modified resource. Field is a
// dotted name ("storage.table"); list elements are named by index
// ("extent[0]") or, in lists of objects that all carry a unique "id" or
// "name", by that key ("styles[id=default].color").
//
// A value whose JSON is longer than MaxValueSize is replaced by its
// ValueSummary (size, digest and start), and FromSummarized or ToSummarized
// says so.
type FieldDiff struct {
	Field    string `json:"field"`
	From     any    `json:"from,omitempty"` // omitted for an added field
	To       any    `json:"to,omitempty"`   // omitted for a removed field
	Risk     Risk   `json:"risk"`
	Breaking bool   `json:"breaking"`
	Reason   string `json:"reason"`
	// FromSummarized and ToSummarized say that From or To holds a
	// ValueSummary of the value (see SummaryOf), not the value.
	FromSummarized bool `json:"fromSummarized,omitempty"`
	ToSummarized   bool `json:"toSummarized,omitempty"`
}

// Compute returns the plan that takes base to head. It never fails: shapes
// that validation rejects are still diffed as well as they can be, and
// dangling references are rated critical.
//
// Resources are matched by id (services, layers, data sources) and fields by
// name, so reordering a list of them is not a change. Ratings, docs/domain.md#risk
// first and then where it is silent:
//
//   - service, layer, field added: low. Removed: medium, breaking.
//   - title, description, alias, keywords (of any resource) added, changed or
//     removed: low. keywords are compared as a set: reordering is no change.
//   - layer geometryType, srid, or any key under storage (table, geometryColumn,
//     primaryKey, and unknown ones such as schema) changed, added or removed:
//     high, breaking.
//   - layer serviceId changed: medium, breaking (the layer moves to another
//     service's endpoint). service dataSourceId changed: high, breaking.
//   - field type changed: high, breaking. Field renamed: high, breaking. A
//     rename is inferred when a layer loses exactly one field and gains exactly
//     one, at the same index in the fields list, with an equal type; it is
//     reported as one modified change at the new name, "renamed from a to b".
//   - data source added or removed, provider or any key under connection
//     changed: high, not breaking.
//   - appsettings and shared-config: a key whose dotted path, or any key
//     inside its value, contains (case-insensitively) auth, security, cors,
//     token, secret, password, key, tls, cert, allowedhosts or origin is a
//     security key: added or changed high, removed high and breaking. Other
//     keys: added or changed low, removed medium and breaking. Both files are
//     diffed to the deepest changed key (appsettings/Logging.LogLevel.Default);
//     a key added or removed as a whole is one change.
//   - unknown keys of any resource, and top-level keys of metadata.json and
//     datasources.json other than services, layers and dataSources: added or
//     changed low, removed medium and breaking; diffed recursively.
//   - the policy file added, changed (bytes differ) or removed: high, not
//     breaking, and PolicyChanged.
//   - a data source or service removed while head still refers to it, or a
//     changed resource that refers to a service or data source head lacks:
//     critical, breaking (validation rejects these before planning).
//
// The plan is bounded (see MaxChangesSize): large values are summarized,
// long names cut, and a plan of too many changes truncated. The same inputs
// always give a Plan whose json.Marshal is byte-identical.
func Compute(base, head Input) *Plan {
	b, h := parse(base), parse(head)
	var cs []Change
	cs = append(cs, serviceKind.diff(b.services, h.services)...)
	cs = append(cs, layerKind.diff(b.layers, h.layers)...)
	cs = append(cs, diffAllFields(b.layers, h.layers)...)
	cs = append(cs, dataSourceKind.diff(b.dataSources, h.dataSources)...)
	cs = append(cs, diffSettings(KindAppSetting, "appsettings", b.appSettings, h.appSettings)...)
	cs = append(cs, diffSettings(KindSharedConfig, "shared-config", b.sharedConfig, h.sharedConfig)...)
	cs = append(cs, diffDocument("metadata.json", b.metadataExtra, h.metadataExtra)...)
	cs = append(cs, diffDocument("datasources.json", b.dataSourcesExtra, h.dataSourcesExtra)...)
	if c, ok := diffPolicy(base.Policy, head.Policy); ok {
		cs = append(cs, c)
	}
	rateReferences(cs, h)
	return bound(newPlan(cs))
}

// newPlan sorts the changes and totals them.
func newPlan(cs []Change) *Plan {
	p := &Plan{Changes: cs}
	if p.Changes == nil {
		p.Changes = []Change{}
	}
	slices.SortStableFunc(p.Changes, func(a, b Change) int {
		return cmp.Or(
			cmp.Compare(slices.Index(kindOrder, a.Kind), slices.Index(kindOrder, b.Kind)),
			strings.Compare(a.Path, b.Path),
			strings.Compare(a.Action, b.Action),
		)
	})
	for _, c := range p.Changes {
		p.Risk = max(p.Risk, c.Risk)
		p.Breaking = p.Breaking || c.Breaking
		p.PolicyChanged = p.PolicyChanged || c.Kind == KindPolicy
		switch c.Action {
		case ActionAdded:
			p.Added++
		case ActionModified:
			p.Modified++
		case ActionRemoved:
			p.Removed++
		}
	}
	return p
}

// Summary returns the plan in one line, for example
// "3 changes (1 added, 2 modified, 0 removed), risk high, breaking".
func (p *Plan) Summary() string {
	if p == nil {
		p = newPlan(nil)
	}
	n := p.Added + p.Modified + p.Removed
	noun := "changes"
	if n == 1 {
		noun = "change"
	}
	s := fmt.Sprintf("%d %s (%d added, %d modified, %d removed), risk %s",
		n, noun, p.Added, p.Modified, p.Removed, p.Risk)
	if p.Breaking {
		s += ", breaking"
	}
	return s
}

// modifiedChange builds the change for a resource whose attributes differ:
// its risk is the highest of its diffs, and its reason theirs (as many as
// fit MaxTextSize, then how many more there are).
func modifiedChange(kind, path string, diffs []FieldDiff) Change {
	c := Change{Action: ActionModified, Kind: kind, Path: path, Diff: diffs}
	for _, d := range diffs {
		c.Risk = max(c.Risk, d.Risk)
		c.Breaking = c.Breaking || d.Breaking
	}
	var reasons []string
	seen := map[string]bool{}
	size, more := 0, 0
	for _, d := range diffs {
		if d.Risk != c.Risk || seen[d.Reason] {
			continue
		}
		seen[d.Reason] = true
		// Room for "; and 1000000 more" after it.
		if more > 0 || (len(reasons) > 0 && size+2+len(d.Reason) > MaxTextSize-20) {
			more++
			continue
		}
		reasons = append(reasons, d.Reason)
		size += 2 + len(d.Reason)
	}
	c.Reason = strings.Join(reasons, "; ")
	if more > 0 {
		c.Reason += fmt.Sprintf("; and %d more", more)
	}
	return c
}
