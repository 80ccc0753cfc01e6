package fsm

// This file holds the snapshot format of version 2, which is written and
// read one record at a time, so that neither side ever holds the encoded
// state in one buffer:
//
//	{"version":2,"appliedIndex":…,<the settings and counters>,"environments":E,"deployments":D,"notifications":N}
//	E lines, one environment each, by name
//	D lines, one deployment each, by id
//	N lines, one notification each, by id
//
// Each line is one record as encoding/json writes it (which escapes every
// control character, so a record never spans two lines). The header
// counts the records, so a truncated snapshot is refused, and the records
// are sorted, so two FSMs that applied the same log write the same bytes.
//
// Records are written with encoding/json and read with
// github.com/go-json-experiment/json (the encoding/json/v2 to be), whose
// streaming decoder parses each record once where encoding/json's scans it
// twice: restoring 10,000 deployments takes half the time (make
// bench-state). It is as strict as encoding/json with DisallowUnknownFields,
// and stricter on what our encoder never writes (invalid UTF-8, a member
// named twice).

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// decodeOptions make the decoder as strict as encoding/json's with
// DisallowUnknownFields.
var decodeOptions = jsonv2.RejectUnknownMembers(true)

// snapshotHeader is the first line of a version 2 snapshot: what the state
// holds besides its records, and how many records follow. Version must
// stay the first field: Restore tells the formats apart by the prefix
// `{"version":2,`.
type snapshotHeader struct {
	Version            int                 `json:"version"`
	AppliedIndex       uint64              `json:"appliedIndex"`
	DeploymentSeq      uint64              `json:"deploymentSeq"`
	LastFencingToken   uint64              `json:"lastFencingToken"`
	HistoryRetention   int                 `json:"historyRetention"`
	PlanRetention      int                 `json:"planRetention"`
	Source             SourceStatus        `json:"source"`
	NotificationRoutes []NotificationRoute `json:"notificationRoutes,omitempty"`
	Environments       int                 `json:"environments"`
	Deployments        int                 `json:"deployments"`
	Notifications      int                 `json:"notifications"`
}

// v2Prefix is how every version 2 snapshot starts.
const v2Prefix = `{"version":2,`

// stateView is a point-in-time copy of the state, taken under the FSM's
// lock and encoded outside it while Apply goes on. It copies each record's
// struct and whatever Apply changes in place (see frozen); the rest (plan
// documents, strings, transitions and approvals, which Apply only appends
// to or replaces) is shared with the live state and never written again.
type stateView struct {
	header        snapshotHeader
	environments  []*Environment
	deployments   []Deployment
	notifications []Notification
}

// view copies the state as of now. The caller holds the FSM's lock.
func (f *FSM) view() *stateView {
	st := f.st
	v := &stateView{
		header: snapshotHeader{
			Version: SnapshotVersion, AppliedIndex: f.applied,
			DeploymentSeq: st.DeploymentSeq, LastFencingToken: st.LastFencingToken,
			HistoryRetention: st.HistoryRetention, PlanRetention: st.PlanRetention,
			Source: st.Source, NotificationRoutes: cloneRoutes(st.NotificationRoutes),
			Environments: len(st.Environments), Deployments: len(st.Deployments), Notifications: len(st.Notifications),
		},
		environments:  make([]*Environment, 0, len(st.Environments)),
		deployments:   make([]Deployment, 0, len(st.Deployments)),
		notifications: make([]Notification, 0, len(st.Notifications)),
	}
	v.header.Source.Problems = slices.Clone(st.Source.Problems)
	for _, e := range st.Environments {
		v.environments = append(v.environments, e.clone())
	}
	for _, d := range st.Deployments {
		v.deployments = append(v.deployments, d.frozen())
	}
	for _, n := range st.Notifications {
		v.notifications = append(v.notifications, *n)
	}
	return v
}

// frozen returns a copy of d that Apply's later changes to d do not reach:
// the struct, and copies of what Apply changes in place (the backup record,
// the rollout's waves, the approval requirement, the abort). Transitions,
// approvals and the plan documents are shared: Apply only appends to the
// first two (past the copy's length) and replaces the documents whole.
func (d *Deployment) frozen() Deployment {
	c := *d
	c.Approval = d.Approval.clone()
	c.Rollout = cloneRollout(d.Rollout)
	if d.RolloutAbort != nil {
		a := *d.RolloutAbort
		c.RolloutAbort = &a
	}
	if d.Backup != nil {
		b := *d.Backup
		c.Backup = &b
	}
	return c
}

// encode writes the view as a version 2 snapshot: sorted, one record a
// line. It does not hold the FSM's lock.
func (v *stateView) encode(w io.Writer) error {
	slices.SortFunc(v.environments, func(a, b *Environment) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(v.deployments, func(a, b Deployment) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(v.notifications, func(a, b Notification) int { return strings.Compare(a.ID, b.ID) })
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw) // one value a line
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&v.header); err != nil {
		return fmt.Errorf("encode snapshot header: %w", err)
	}
	for _, e := range v.environments {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("encode snapshot: environment %s: %w", e.Name, err)
		}
	}
	for i := range v.deployments {
		if err := enc.Encode(&v.deployments[i]); err != nil {
			return fmt.Errorf("encode snapshot: deployment %s: %w", v.deployments[i].ID, err)
		}
	}
	for i := range v.notifications {
		if err := enc.Encode(&v.notifications[i]); err != nil {
			return fmt.Errorf("encode snapshot: notification %s: %w", v.notifications[i].ID, err)
		}
	}
	return bw.Flush()
}

// decodeV2 reads a version 2 snapshot whose first bytes r still holds, one
// record at a time, into a state: each record is made compact (see
// compact) as it arrives, so the decoder's garbage stays one record's.
func decodeV2(r io.Reader) (*state, uint64, error) {
	dec := jsontext.NewDecoder(r)
	var h snapshotHeader
	if err := jsonv2.UnmarshalDecode(dec, &h, decodeOptions); err != nil {
		return nil, 0, fmt.Errorf("version 2 header: %w", err)
	}
	if h.Environments < 0 || h.Deployments < 0 || h.Notifications < 0 {
		return nil, 0, fmt.Errorf("version 2 header: negative record count")
	}
	st := newState()
	st.DeploymentSeq, st.LastFencingToken = h.DeploymentSeq, h.LastFencingToken
	st.HistoryRetention, st.PlanRetention = h.HistoryRetention, h.PlanRetention
	st.Source, st.NotificationRoutes = h.Source, h.NotificationRoutes
	// The counts come from outside: they size the maps only up to a bound.
	const maxPresize = 1 << 18
	st.Environments = make(map[string]*Environment, min(h.Environments, maxPresize))
	st.Deployments = make(map[string]*Deployment, min(h.Deployments, maxPresize))
	st.Notifications = make(map[string]*Notification, min(h.Notifications, maxPresize))
	in := interner{}
	for i := range h.Environments {
		e := new(Environment)
		if err := decodeRecord(dec, e, "environment", i, h.Environments); err != nil {
			return nil, 0, err
		}
		in.environment(e)
		if _, dup := st.Environments[e.Name]; dup {
			return nil, 0, fmt.Errorf("environment %s: recorded twice", e.Name)
		}
		st.Environments[e.Name] = e
	}
	for i := range h.Deployments {
		d := new(Deployment)
		if err := decodeRecord(dec, d, "deployment", i, h.Deployments); err != nil {
			return nil, 0, err
		}
		in.deployment(d)
		if _, dup := st.Deployments[d.ID]; dup {
			return nil, 0, fmt.Errorf("deployment %s: recorded twice", d.ID)
		}
		st.Deployments[d.ID] = d
	}
	for i := range h.Notifications {
		n := new(Notification)
		if err := decodeRecord(dec, n, "notification", i, h.Notifications); err != nil {
			return nil, 0, err
		}
		if _, dup := st.Notifications[n.ID]; dup {
			return nil, 0, fmt.Errorf("notification %s: recorded twice", truncate(n.ID, maxNotificationIDLen))
		}
		st.Notifications[n.ID] = n
	}
	if _, err := dec.ReadValue(); !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("data after the %d records the header counts", h.Environments+h.Deployments+h.Notifications)
	}
	return st, h.AppliedIndex, nil
}

// decodeRecord decodes the i-th of n records of a kind.
func decodeRecord(dec *jsontext.Decoder, v any, kind string, i, n int) error {
	err := jsonv2.UnmarshalDecode(dec, v, decodeOptions)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("truncated: %d of the %d %ss the header counts", i, n, kind)
	}
	if err != nil {
		return fmt.Errorf("%s %d of %d: %w", kind, i+1, n, err)
	}
	return nil
}
