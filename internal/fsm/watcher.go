package fsm

// This file holds the commands of the repository watcher: what it saw
// (ObserveCommit, SetSourceStatus) and what it is asked to do (RequestSync).

import (
	"slices"
	"time"
)

// ObserveCommit records the newest commit the watcher saw for an
// environment, creating the environment's record if needed.
type ObserveCommit struct {
	Environment string    `json:"environment"`
	Commit      string    `json:"commit"`
	Time        time.Time `json:"time"`
}

// Type implements Command.
func (*ObserveCommit) Type() CommandType { return ObserveCommitCommand }

func init() { register(ObserveCommitCommand, (*state).checkObserveCommit, (*state).observeCommit) }

// checkObserveCommit refuses a bad environment name, an empty commit or a
// missing time.
func (s *state) checkObserveCommit(c *ObserveCommit) error {
	if !ValidEnvironmentName(c.Environment) {
		return invalid("observe commit: environment name %q is not valid", c.Environment)
	}
	if c.Commit == "" {
		return invalid("observe commit for %s: commit is empty", c.Environment)
	}
	if c.Time.IsZero() {
		return invalid("observe commit for %s: time is missing", c.Environment)
	}
	return nil
}

// observeCommit records the commit, creating the environment's record if
// needed.
func (s *state) observeCommit(c *ObserveCommit) any {
	e := s.env(c.Environment)
	e.LatestSeenCommit, e.LatestSeenAt = c.Commit, c.Time
	return nil
}

// SetSourceStatus records what the leader last learned of the configuration
// repository: the branch head, or the error that stopped it from learning
// it. The leader applies it when either changes, not on every poll.
type SetSourceStatus struct {
	Head  string    `json:"head,omitempty"`
	Error string    `json:"error,omitempty"`
	Time  time.Time `json:"time"`
	// Problems, with a head, are that head's folder problems: they
	// replace the ones recorded (none clears them). With an error they
	// must be empty.
	Problems []FolderProblem `json:"problems,omitempty"`
}

// Bounds of SetSourceStatus.Problems.
const (
	MaxFolderProblems      = 32
	MaxFolderProblemLength = 512
)

// Type implements Command.
func (*SetSourceStatus) Type() CommandType { return SetSourceStatusCommand }

func init() {
	register(SetSourceStatusCommand, (*state).checkSetSourceStatus, (*state).setSourceStatus)
}

// checkSetSourceStatus refuses a status without a time, or with neither a
// head nor an error.
func (s *state) checkSetSourceStatus(c *SetSourceStatus) error {
	if c.Time.IsZero() {
		return invalid("set source status: time is missing")
	}
	if c.Error == "" && c.Head == "" {
		return invalid("set source status: a head or an error is required")
	}
	if len(c.Problems) > 0 && c.Error != "" {
		return invalid("set source status: folder problems come with a head, not with an error")
	}
	if len(c.Problems) > MaxFolderProblems {
		return invalid("set source status: %d folder problems; at most %d are recorded", len(c.Problems), MaxFolderProblems)
	}
	for i, p := range c.Problems {
		if p.Path == "" || p.Message == "" || len(p.Path) > MaxFolderProblemLength || len(p.Message) > MaxFolderProblemLength {
			return invalid("set source status: folder problem %d needs a path and a message of at most %d bytes each",
				i, MaxFolderProblemLength)
		}
	}
	return nil
}

// setSourceStatus records the error (since when it first appeared), or the
// head and a success, which clears the error.
func (s *state) setSourceStatus(c *SetSourceStatus) any {
	src := &s.Source
	if c.Error != "" {
		if src.Error == "" {
			src.ErrorSince = c.Time
		}
		src.Error = c.Error
		return nil
	}
	if c.Head != src.Head {
		src.Head, src.HeadSince = c.Head, c.Time
	}
	src.Problems = slices.Clone(c.Problems)
	src.Error, src.ErrorSince = "", time.Time{}
	src.LastSuccess = c.Time
	return nil
}

// RequestSync asks the leader to poll the repository now and deploy the
// environment's branch head, even when nothing changed (kind manual-sync).
// The request stays pending until a manual-sync deployment of the
// environment is created.
type RequestSync struct {
	Environment string    `json:"environment"`
	By          string    `json:"by"`
	Time        time.Time `json:"time"`
}

// Type implements Command.
func (*RequestSync) Type() CommandType { return RequestSyncCommand }

func init() { register(RequestSyncCommand, (*state).checkRequestSync, (*state).requestSync) }

// checkRequestSync refuses a malformed RequestSync and one for an
// environment the state has no record of.
func (s *state) checkRequestSync(c *RequestSync) error {
	if !ValidEnvironmentName(c.Environment) {
		return invalid("sync: environment name %q is not valid", c.Environment)
	}
	if c.By == "" || c.Time.IsZero() {
		return invalid("sync %s: who asked and when are required", c.Environment)
	}
	if _, ok := s.Environments[c.Environment]; !ok {
		return notFound("environment", c.Environment)
	}
	return nil
}

// requestSync records the request unless one is pending already, and
// returns a copy of the environment.
func (s *state) requestSync(c *RequestSync) any {
	e := s.Environments[c.Environment]
	if e.PendingSync == nil {
		e.PendingSync = &SyncRequest{By: c.By, Time: c.Time}
	}
	return e.clone()
}
