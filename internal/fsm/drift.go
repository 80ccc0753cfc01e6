package fsm

// This file holds SetDrift, which records that an environment's targets no
// longer hold the bundle deployed to them, or that they hold it again; the
// DriftDetected notification it raises; and what a self-heal deployment
// must satisfy (docs/domain.md#drift).

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Bounds of what a Drift records, so that a target whose every file
// changed cannot grow the state without end.
const (
	// MaxDriftFiles is how many file names a drift lists; the others are
	// counted in MoreFiles.
	MaxDriftFiles = 50
	// MaxDriftFileName bounds one file name, in bytes.
	MaxDriftFileName = 256
	// MaxDriftTargets is how many targets a drift names.
	MaxDriftTargets = 16
	// MaxDriftTargetName bounds one target's name, in bytes.
	MaxDriftTargetName = 512
)

// Drift records that an environment's targets departed from the bundle
// deployed to them: since when, from which deployment, on which targets,
// and which files (changed, added or removed by hand).
type Drift struct {
	// Deployment is the deployed deployment whose bundle the targets no
	// longer hold.
	Deployment string `json:"deployment"`
	// Since is when the drift was first recorded; Index is the Raft
	// index of that command.
	Since time.Time `json:"since"`
	Index uint64    `json:"index"`
	// Updated is when the files or targets recorded last changed.
	Updated time.Time `json:"updated"`
	// Targets names the targets that drifted.
	Targets []string `json:"targets"`
	// Files lists up to MaxDriftFiles of the paths that differ, sorted;
	// MoreFiles counts the others.
	Files     []string `json:"files,omitempty"`
	MoreFiles int      `json:"moreFiles,omitempty"`
	// SelfHeal is the self-heal deployment created for this drift, if
	// any: at most one is created per drift.
	SelfHeal string `json:"selfHeal,omitempty"`
}

// check reports what a restored snapshot's drift must not have: the
// bounds SetDrift keeps.
func (d *Drift) check() error {
	if d == nil {
		return nil
	}
	switch {
	case d.Deployment == "" || len(d.Targets) == 0 || len(d.Files)+d.MoreFiles == 0:
		return fmt.Errorf("names no deployment, target or file")
	case len(d.Files) > MaxDriftFiles || len(d.Targets) > MaxDriftTargets || d.MoreFiles < 0:
		return fmt.Errorf("lists more files or targets than allowed")
	}
	if err := checkNames("file", d.Files, MaxDriftFileName); err != nil {
		return err
	}
	return checkNames("target", d.Targets, MaxDriftTargetName)
}

func (d *Drift) clone() *Drift {
	c := *d
	c.Targets = slices.Clone(d.Targets)
	c.Files = slices.Clone(d.Files)
	return &c
}

// SetDrift records (Drifted) or clears the drift of an environment. The
// leader sends it only when what it found differs from what the state
// records, and the command is idempotent, so a retry is safe: recording
// the drift recorded changes nothing, and neither does clearing none.
//
// A drift is of the environment's deployed deployment, which Deployment
// must name: a check made against a deployment that is no longer deployed
// is refused. A drift of another deployment than the one recorded
// replaces it as a new drift (new Since, a new notification, a self-heal
// allowed again); one of the same deployment with other files or targets
// updates them and keeps Since.
type SetDrift struct {
	Environment string    `json:"environment"`
	Deployment  string    `json:"deployment,omitempty"`
	Drifted     bool      `json:"drifted"`
	Targets     []string  `json:"targets,omitempty"`
	Files       []string  `json:"files,omitempty"`
	MoreFiles   int       `json:"moreFiles,omitempty"`
	Time        time.Time `json:"time"`
}

// Type implements Command.
func (*SetDrift) Type() CommandType { return SetDriftCommand }

// DriftResult is what a SetDrift command returns.
type DriftResult struct {
	Environment *Environment
	// Unchanged is true when the state already recorded what the command
	// says: it changed nothing.
	Unchanged bool
}

func init() { register(SetDriftCommand, (*state).checkSetDrift, (*state).setDrift) }

// checkSetDrift refuses a SetDrift without a time, of an environment the
// state does not know, with names out of their bounds, a drift without a
// target or a file, a clear that carries some, and a drift of a
// deployment that is not the environment's deployed one.
func (s *state) checkSetDrift(c *SetDrift) error {
	op := "clear drift of"
	if c.Drifted {
		op = "record drift of"
	}
	switch {
	case !ValidEnvironmentName(c.Environment):
		return invalid("%s: environment name %q is not valid", op, c.Environment)
	case c.Time.IsZero():
		return invalid("%s %s: time is missing", op, c.Environment)
	case !c.Drifted && (len(c.Targets) > 0 || len(c.Files) > 0 || c.MoreFiles != 0):
		return invalid("clear drift of %s: a clear names no targets or files", c.Environment)
	case c.MoreFiles < 0:
		return invalid("%s %s: moreFiles %d is negative", op, c.Environment, c.MoreFiles)
	case len(c.Files) > MaxDriftFiles:
		return invalid("%s %s: %d files listed; at most %d, the others counted in moreFiles", op, c.Environment, len(c.Files), MaxDriftFiles)
	case len(c.Targets) > MaxDriftTargets:
		return invalid("%s %s: %d targets; at most %d", op, c.Environment, len(c.Targets), MaxDriftTargets)
	case c.Drifted && len(c.Targets) == 0:
		return invalid("record drift of %s: no target named", c.Environment)
	case c.Drifted && len(c.Files) == 0 && c.MoreFiles == 0:
		return invalid("record drift of %s: no file named", c.Environment)
	}
	if err := checkNames("file", c.Files, MaxDriftFileName); err != nil {
		return invalid("%s %s: %v", op, c.Environment, err)
	}
	if err := checkNames("target", c.Targets, MaxDriftTargetName); err != nil {
		return invalid("%s %s: %v", op, c.Environment, err)
	}
	e, ok := s.Environments[c.Environment]
	if !ok {
		return notFound("environment", c.Environment)
	}
	if c.Drifted && e.DeployedDeployment == "" {
		return fmt.Errorf("record drift of %s: nothing is deployed: %w", c.Environment, ErrWrongState)
	}
	if c.Drifted && c.Deployment != e.DeployedDeployment {
		return fmt.Errorf("record drift of %s against deployment %q: the deployed deployment is %q: %w",
			c.Environment, c.Deployment, e.DeployedDeployment, ErrWrongState)
	}
	return nil
}

// checkNames refuses an empty, overlong or repeated name. (A name that is
// not UTF-8 does not reach it: the JSON of the log entry replaces it.)
func checkNames(what string, names []string, limit int) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		switch {
		case n == "":
			return fmt.Errorf("a %s name is empty", what)
		case len(n) > limit:
			return fmt.Errorf("%s name %q… is longer than %d bytes", what, truncate(n, 40), limit)
		case seen[n]:
			return fmt.Errorf("%s %q is named twice", what, n)
		}
		seen[n] = true
	}
	return nil
}

// setDrift records or clears the drift unless the state already says so,
// raising DriftDetected for a new drift, and returns a *DriftResult.
func (s *state) setDrift(c *SetDrift) any {
	e := s.Environments[c.Environment]
	if !c.Drifted {
		if e.Drift == nil {
			return &DriftResult{Environment: e.clone(), Unchanged: true}
		}
		e.Drift = nil
		return &DriftResult{Environment: e.clone()}
	}
	targets, files := slices.Sorted(slices.Values(c.Targets)), slices.Sorted(slices.Values(c.Files))
	if d := e.Drift; d != nil && d.Deployment == c.Deployment {
		if slices.Equal(d.Targets, targets) && slices.Equal(d.Files, files) && d.MoreFiles == c.MoreFiles {
			return &DriftResult{Environment: e.clone(), Unchanged: true}
		}
		d.Targets, d.Files, d.MoreFiles, d.Updated = targets, files, c.MoreFiles, c.Time
		return &DriftResult{Environment: e.clone()}
	}
	e.Drift = &Drift{Deployment: c.Deployment, Since: c.Time, Index: s.index, Updated: c.Time,
		Targets: targets, Files: files, MoreFiles: c.MoreFiles}
	s.notifyDrift(e)
	return &DriftResult{Environment: e.clone()}
}

// notifyDrift records a DriftDetected notification of e's new drift for
// every channel of the matching routes. Its id is that of an event of the
// drifted deployment ("<deployment>.DriftDetected.<channel>"), so it is
// bounded and forgotten like the deployment's other notifications; a
// later drift of the same deployment replaces a notification that is
// delivered or failed, and leaves a pending one to be delivered.
func (s *state) notifyDrift(e *Environment) {
	d := e.Drift
	for _, r := range s.NotificationRoutes {
		if !r.matches(EventDriftDetected, e.Name) {
			continue
		}
		for _, ch := range r.Channels {
			id := NotificationID(d.Deployment, EventDriftDetected, ch)
			if n, ok := s.Notifications[id]; ok && n.State == NotificationPending {
				continue
			}
			if _, ok := s.Notifications[id]; !ok {
				s.notesOf[d.Deployment] = append(s.notesOf[d.Deployment], id)
			}
			s.Notifications[id] = &Notification{
				ID: id, DeploymentID: d.Deployment, Environment: e.Name, Channel: ch, Event: EventDriftDetected,
				State: NotificationPending, CreatedAt: d.Since, Index: s.index,
				Actor: "honua", Reason: truncate(describeDrift(d), MaxNotificationReason), NextTry: d.Since, Updated: d.Since,
			}
		}
	}
}

// describeDrift says what drifted: "targets directory /srv/x: files a.json,
// b.json (and 3 more)".
func describeDrift(d *Drift) string {
	files := strings.Join(d.Files, ", ")
	if d.MoreFiles > 0 {
		files += fmt.Sprintf(" (and %d more)", d.MoreFiles)
	}
	return fmt.Sprintf("%s no longer holds the bundle of deployment %s: %s",
		strings.Join(d.Targets, ", "), d.Deployment, files)
}

// checkSelfHeal refuses a self-heal deployment of e that is not called
// for: e has no drift of its deployed deployment, one was already created
// for this drift, commit is not the deployed one, or another deployment
// is waiting or active.
func (s *state) checkSelfHeal(c *CreateDeployment) error {
	e := s.Environments[c.Environment]
	switch {
	case e == nil || e.Drift == nil || e.Drift.Deployment != e.DeployedDeployment:
		return fmt.Errorf("create self-heal deployment for %s: no drift of the deployed bundle is recorded: %w", c.Environment, ErrWrongState)
	case e.Drift.SelfHeal != "":
		return fmt.Errorf("create self-heal deployment for %s: self-heal deployment %s was already created for this drift: %w", c.Environment, e.Drift.SelfHeal, ErrWrongState)
	case c.Commit != e.DeployedCommit:
		return invalid("create self-heal deployment for %s: commit %s is not the deployed commit %s", c.Environment, c.Commit, e.DeployedCommit)
	case e.Current != "":
		return fmt.Errorf("create self-heal deployment for %s: deployment %s is changing its targets: %w", c.Environment, e.Current, ErrConflict)
	case e.Waiting != "":
		return fmt.Errorf("create self-heal deployment for %s: deployment %s is waiting: %w", c.Environment, e.Waiting, ErrConflict)
	}
	return nil
}
