package fsm

import "slices"

// compact makes a freshly decoded state smaller in memory, without changing
// what it holds: a JSON decoder gives every occurrence of a string its own
// copy (each deployment's environment, kind, commits, the ids in
// environments' histories and as map keys), and grows slices by doubling.
// compact shares one copy of each repeated short string and trims slices
// to their length. It makes the state a third smaller (see
// TestCompactKeepsState and make bench-state).
func compact(st *state) {
	in := interner{}
	deployments := make(map[string]*Deployment, len(st.Deployments))
	for _, d := range st.Deployments {
		in.deployment(d)
		deployments[d.ID] = d
	}
	st.Deployments = deployments
	environments := make(map[string]*Environment, len(st.Environments))
	for _, e := range st.Environments {
		in.environment(e)
		environments[e.Name] = e
	}
	st.Environments = environments
}

// deployment makes d compact: its repeated strings shared, its slices
// trimmed.
func (in interner) deployment(d *Deployment) {
	d.ID = in.s(d.ID)
	d.Environment = in.s(d.Environment)
	d.Commit = in.s(d.Commit)
	d.Branch = in.s(d.Branch)
	d.Kind = Kind(in.known(string(d.Kind)))
	d.Initiator = in.s(d.Initiator)
	d.Risk = in.s(d.Risk)
	if d.Approval != nil {
		in.all(d.Approval.Groups)
	}
	d.Approvals = clip(d.Approvals)
	for i := range d.Approvals {
		d.Approvals[i].Identity = in.s(d.Approvals[i].Identity)
		in.all(d.Approvals[i].Groups)
	}
	if d.Rejection != nil {
		d.Rejection.Identity = in.s(d.Rejection.Identity)
	}
	d.Transitions = clip(d.Transitions)
	for i := range d.Transitions {
		d.Transitions[i].Message = in.s(d.Transitions[i].Message)
	}
	if b := d.Backup; b != nil {
		b.DeploymentID = in.s(b.DeploymentID)
		b.Commit = in.s(b.Commit)
		b.BundleID = in.s(b.BundleID)
	}
}

// environment makes e compact, as deployment does a deployment.
func (in interner) environment(e *Environment) {
	e.Name = in.s(e.Name)
	e.DeployedCommit = in.s(e.DeployedCommit)
	e.DeployedDeployment = in.s(e.DeployedDeployment)
	e.LatestSeenCommit = in.s(e.LatestSeenCommit)
	e.Current = in.s(e.Current)
	e.Waiting = in.s(e.Waiting)
	if e.Pin != nil {
		e.Pin.Commit = in.s(e.Pin.Commit)
		e.Pin.From = in.s(e.Pin.From)
		e.Pin.By = in.s(e.Pin.By)
	}
	e.History = clip(e.History)
	in.all(e.History)
}

// interner hands out one copy of each short string it is given.
type interner map[string]string

// maxInterned bounds the strings worth sharing: longer ones (error
// messages, say) are rarely repeated.
const maxInterned = 256

func (in interner) s(v string) string {
	if v == "" || len(v) > maxInterned {
		return v
	}
	if c, ok := in[v]; ok {
		return c
	}
	in[v] = v
	return v
}

// knownStrings are the kinds, which every record repeats.
var knownStrings = func() map[string]string {
	m := map[string]string{}
	for _, k := range []Kind{KindAuto, KindManualSync, KindRollback, KindAutoRollback, KindSelfHeal} {
		m[string(k)] = string(k)
	}
	return m
}()

// known is s for a kind: the one copy of the constant, looked up in a map
// of a few entries, which stays in the cache, rather than in the interner,
// which grows with the state.
func (in interner) known(v string) string {
	if c, ok := knownStrings[v]; ok {
		return c
	}
	return in.s(v)
}

func (in interner) all(vs []string) {
	for i, v := range vs {
		vs[i] = in.s(v)
	}
}

// clip returns s with its capacity trimmed to its length (nil when empty,
// as the decoder leaves an absent list).
func clip[S ~[]E, E any](s S) S {
	if len(s) == cap(s) {
		return s
	}
	if len(s) == 0 {
		if s == nil {
			return nil
		}
		return S{} // empty, not nil: it encodes as [], not null
	}
	return slices.Clone(s)
}
