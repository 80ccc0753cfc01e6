package fsm

// This file holds the replicated state and the dispatch of a command to
// its check and apply. The commands live in files by concern:
//
//	create.go       CreateDeployment, and the numbering and superseding of new deployments
//	transitions.go  TransitionDeployment and the deployment state machine
//	approvals.go    Approve and Reject
//	rollback.go     CreateRollback and SetPin
//	watcher.go      ObserveCommit, SetSourceStatus and RequestSync
//	fencing.go      IssueFencingToken
//	retention.go    SetSettings, and the pruning of history and plans
//	notification_routes.go    SetNotificationRoutes
//	notification_commands.go  RecordNotificationAttempt, MarkNotificationDelivered, RetryNotification
//	notification_outbox.go    the recording of notifications as deployments move
//	suspension.go   SetSuspension
//	cancel.go       CancelDeployment and OverrideWindow
//	drift.go        SetDrift, its DriftDetected notification, and self-heal deployments

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// state is the replicated data. Its methods are the pure, deterministic half
// of Apply: they read nothing but the command and the state. Each command
// has two: a check, which returns why the state refuses the command and
// changes nothing, and an apply, which executes a command its check
// accepted and cannot fail.
type state struct {
	Deployments  map[string]*Deployment  `json:"deployments"`
	Environments map[string]*Environment `json:"environments"`
	// DeploymentSeq numbers deployments; it only grows.
	DeploymentSeq    uint64 `json:"deploymentSeq"`
	LastFencingToken uint64 `json:"lastFencingToken"`
	HistoryRetention int    `json:"historyRetention"`
	PlanRetention    int    `json:"planRetention"`
	// Source is the repository's status as the leader last reported it.
	Source SourceStatus `json:"source"`
	// NotificationRoutes say which channels hear of which events; none
	// until SetNotificationRoutes sets some.
	NotificationRoutes []NotificationRoute `json:"notificationRoutes,omitempty"`
	// Notifications is the outbox, by notification id.
	Notifications map[string]*Notification `json:"notifications,omitempty"`

	// notesOf indexes Notifications by deployment id, to forget a
	// deployment's notifications with it. Not replicated: rebuilt on
	// restore.
	notesOf map[string][]string
	// index is the Raft index of the entry being applied; transitions
	// record it.
	index uint64
	// moved collects the deployments the entry being applied moved, for
	// the event log.
	moved []*Deployment
	// historyIndexed says that each environment's History lists exactly
	// its deployments, once each, so that a listing of one environment
	// may read its History instead of scanning every deployment. Apply
	// keeps it so (create appends to both, pruning deletes from both); a
	// restored state is checked (indexHistory). Not replicated.
	historyIndexed bool
}

// newState returns an empty state with the default settings.
func newState() *state {
	return &state{
		Deployments:      map[string]*Deployment{},
		Environments:     map[string]*Environment{},
		Notifications:    map[string]*Notification{},
		notesOf:          map[string][]string{},
		HistoryRetention: DefaultHistoryRetention,
		PlanRetention:    DefaultPlanRetention,
		historyIndexed:   true,
	}
}

// indexHistory sets historyIndexed: whether every deployment is listed
// once in its own environment's History, and History lists nothing else
// the state holds.
func (s *state) indexHistory() {
	listed := 0
	seen := make(map[string]bool, len(s.Deployments))
	for name, e := range s.Environments {
		for _, id := range e.History {
			d, ok := s.Deployments[id]
			if !ok {
				continue // pruned records are skipped by listings anyway
			}
			if seen[id] || d.Environment != name {
				s.historyIndexed = false
				return
			}
			seen[id] = true
			listed++
		}
	}
	s.historyIndexed = listed == len(s.Deployments)
}

// apply executes c, the command of the log entry at index, with the
// handlers its type registered: check first, which refuses a command with
// an error and changes nothing, then, if it accepted, apply, which cannot
// fail.
func (s *state) apply(index uint64, c Command) (any, error) {
	s.index = index
	s.moved = s.moved[:0]
	spec := specOf(c.Type())
	if spec == nil {
		return nil, invalid("command %T has no handler", c)
	}
	if err := spec.check(s, c); err != nil {
		return nil, err
	}
	res := spec.apply(s, c)
	s.notify()
	return res, nil
}

// check reports an inconsistency a restored snapshot must not have: a
// record missing or filed under another name, or a deployment numbered
// past the id counter, which would let a new id collide.
func (s *state) check() error {
	for name, e := range s.Environments {
		if e == nil || e.Name != name {
			return fmt.Errorf("environment %s: record does not match its key", name)
		}
		if err := e.Drift.check(); err != nil {
			return fmt.Errorf("environment %s: drift: %w", name, err)
		}
	}
	for id, d := range s.Deployments {
		if d == nil || d.ID != id {
			return fmt.Errorf("deployment %s: record does not match its key", id)
		}
		i := strings.LastIndexByte(id, '-')
		n, err := strconv.ParseUint(id[i+1:], 10, 64)
		if i < 0 || err != nil {
			return fmt.Errorf("deployment id %q is not of the form <environment>-<n>", id)
		}
		if n > s.DeploymentSeq {
			return fmt.Errorf("deployment %s is numbered past the id counter %d", id, s.DeploymentSeq)
		}
		if err := d.checkStates(); err != nil {
			return fmt.Errorf("deployment %s: %w", id, err)
		}
	}
	return s.checkNotifications()
}

// checkStates reports a state no deployment can be in: one this version does
// not know (the record was written by another) or none.
func (d *Deployment) checkStates() error {
	if !d.State.Valid() {
		return errors.New("its state is none of the known states")
	}
	for i, t := range d.Transitions {
		if !t.To.Valid() || t.From != 0 && !t.From.Valid() {
			return fmt.Errorf("transition %d names a state none of the known states", i+1)
		}
	}
	return nil
}

// env returns the record of environment name, creating an empty one if the
// state has none.
func (s *state) env(name string) *Environment {
	e, ok := s.Environments[name]
	if !ok {
		e = &Environment{Name: name, History: []string{}}
		s.Environments[name] = e
	}
	return e
}
