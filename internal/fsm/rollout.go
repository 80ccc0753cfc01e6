package fsm

// This file holds RecordWave, the progress of a deployment rolled out wave
// by wave (docs/domain.md#rollouts): which wave is applying, baking, passed
// or failed, with which fencing token, and what its analyses measured. A
// new leader resumes from it: it re-applies a wave still applying with a
// fresh token (never the recorded one), goes on baking a wave that was
// baking without applying it again, and starts the next wave after a
// passed one.

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Bounds of a rollout's record.
const (
	// MaxRolloutWaves is how many waves a deployment records.
	MaxRolloutWaves = 16
	// MaxWaveTargets is how many targets a wave names.
	MaxWaveTargets = 32
	// MaxWaveTargetName bounds a target's name.
	MaxWaveTargetName = 63
	// MaxAnalysisResults is how many results one analysis round holds
	// (checks × targets of the wave).
	MaxAnalysisResults = 256
	// MaxAnalysisText bounds a result's check name and error, and a
	// wave's message, in bytes.
	MaxAnalysisText = 512
)

// WavePhase is where a wave of a rollout is.
type WavePhase string

// The phases of a wave, in order; a wave ends passed or failed.
const (
	// WaveApplying: its targets are being given the bundle, with the
	// wave's token.
	WaveApplying WavePhase = "applying"
	// WaveBaking: its targets hold the bundle and passed their health
	// checks; analyses run until the bake ends.
	WaveBaking WavePhase = "baking"
	// WavePassed: the bake ended with the analyses within their limit.
	WavePassed WavePhase = "passed"
	// WaveFailed: a health check failed or the analyses failed beyond
	// their limit; the deployment fails and rolls back.
	WaveFailed WavePhase = "failed"
)

// WaveRecord is the replicated progress of one wave.
type WaveRecord struct {
	Targets []string  `json:"targets"`
	Phase   WavePhase `json:"phase"`
	// Token is the fencing token the wave's targets were given last.
	Token   uint64    `json:"token"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// BakeUntil is when the bake ends, set when the wave starts baking.
	BakeUntil time.Time `json:"bakeUntil,omitzero"`
	// Rounds and FailedRounds count the analyses run and failed.
	Rounds       int `json:"rounds,omitempty"`
	FailedRounds int `json:"failedRounds,omitempty"`
	// Last is the last analysis round, LastFailed the last one that
	// failed.
	Last       *AnalysisRound `json:"last,omitempty"`
	LastFailed *AnalysisRound `json:"lastFailed,omitempty"`
	Message    string         `json:"message,omitempty"`
	// Promoted, once set (ControlRollout), ends the wave's bake early.
	Promoted *RolloutControl `json:"promoted,omitempty"`
}

// AnalysisRound is one analysis of a wave: every check for every target.
type AnalysisRound struct {
	Time    time.Time        `json:"time"`
	Passed  bool             `json:"passed"`
	Results []AnalysisResult `json:"results"`
}

// AnalysisResult is one check of one target, with the value measured.
type AnalysisResult struct {
	Check  string  `json:"check"`
	Target string  `json:"target"`
	Value  float64 `json:"value"`
	// Status is passed, failed or error (an unanswered query that the
	// policy's onError says to ignore).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// RecordWave records a step of wave Wave of a deployment in Applying:
//   - a new wave (Wave is the number of waves recorded, the last one
//     passed) starts applying with Token;
//   - a wave applying again takes a higher Token (a new leader re-applies
//     with a fresh token, never the recorded one);
//   - an applying wave starts baking until BakeUntil, with its Token;
//   - a baking wave records an analysis round (Round);
//   - a wave applying or baking ends passed (only from baking) or failed.
type RecordWave struct {
	ID        string         `json:"id"`
	Wave      int            `json:"wave"`
	Phase     WavePhase      `json:"phase"`
	Targets   []string       `json:"targets"`
	Token     uint64         `json:"token,omitempty"`
	Time      time.Time      `json:"time"`
	BakeUntil time.Time      `json:"bakeUntil,omitzero"`
	Round     *AnalysisRound `json:"round,omitempty"`
	Message   string         `json:"message,omitempty"`
}

// Type implements Command.
func (*RecordWave) Type() CommandType { return RecordWaveCommand }

func init() { register(RecordWaveCommand, (*state).checkRecordWave, (*state).recordWave) }

func (s *state) checkRecordWave(c *RecordWave) error {
	op := fmt.Sprintf("record wave %d of deployment %s", c.Wave, c.ID)
	switch {
	case c.Time.IsZero():
		return invalid("%s: time is missing", op)
	case c.Wave < 0 || c.Wave >= MaxRolloutWaves:
		return invalid("%s: waves are numbered 0 to %d", op, MaxRolloutWaves-1)
	case len(c.Targets) == 0 || len(c.Targets) > MaxWaveTargets:
		return invalid("%s: %d targets; want 1 to %d", op, len(c.Targets), MaxWaveTargets)
	case len(c.Message) > MaxAnalysisText:
		return invalid("%s: message longer than %d bytes", op, MaxAnalysisText)
	}
	if err := checkNames("target", c.Targets, MaxWaveTargetName); err != nil {
		return invalid("%s: %v", op, err)
	}
	if c.Round != nil {
		if c.Phase != WaveBaking && c.Phase != WaveFailed && c.Phase != WavePassed {
			return invalid("%s: an analysis round while %s", op, c.Phase)
		}
		if len(c.Round.Results) > MaxAnalysisResults {
			return invalid("%s: %d analysis results; at most %d", op, len(c.Round.Results), MaxAnalysisResults)
		}
		for _, r := range c.Round.Results {
			if len(r.Check) > MaxAnalysisText || len(r.Error) > MaxAnalysisText || len(r.Target) > MaxWaveTargetName ||
				len(r.Status) > 16 || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
				return invalid("%s: an analysis result out of bounds", op)
			}
		}
	}
	d, ok := s.Deployments[c.ID]
	if !ok {
		return notFound("deployment", c.ID)
	}
	if d.State != StateApplying {
		return fmt.Errorf("cannot %s: it is %s; waves are recorded while Applying: %w", op, d.State, ErrWrongState)
	}
	n := len(d.Rollout)
	switch {
	case c.Wave == n:
		if n > 0 && d.Rollout[n-1].Phase != WavePassed {
			return fmt.Errorf("cannot %s: wave %d is %s, not passed: %w", op, n-1, d.Rollout[n-1].Phase, ErrWrongState)
		}
		if c.Phase != WaveApplying || c.Token == 0 {
			return invalid("%s: a new wave starts applying, with a token", op)
		}
		return nil
	case c.Wave != n-1:
		return fmt.Errorf("cannot %s: %d waves are recorded: %w", op, n, ErrWrongState)
	}
	w := d.Rollout[n-1]
	if !slices.Equal(w.Targets, c.Targets) {
		return invalid("%s: targets %v are not the wave's %v", op, c.Targets, w.Targets)
	}
	switch c.Phase {
	case WaveApplying:
		if w.Phase != WaveApplying || c.Token <= w.Token {
			return fmt.Errorf("cannot %s: applying again needs a wave still applying and a token above %d: %w", op, w.Token, ErrWrongState)
		}
	case WaveBaking:
		if (w.Phase != WaveApplying && w.Phase != WaveBaking) || c.Token != w.Token {
			return fmt.Errorf("cannot %s: baking needs a wave applying or baking with token %d: %w", op, w.Token, ErrWrongState)
		}
		if w.Phase == WaveApplying && c.BakeUntil.IsZero() {
			return invalid("%s: a wave starts baking with the end of its bake", op)
		}
	case WavePassed:
		if w.Phase != WaveBaking {
			return fmt.Errorf("cannot %s: only a baking wave passes, it is %s: %w", op, w.Phase, ErrWrongState)
		}
	case WaveFailed:
		if w.Phase != WaveApplying && w.Phase != WaveBaking {
			return fmt.Errorf("cannot %s: it is %s already: %w", op, w.Phase, ErrWrongState)
		}
	default:
		return invalid("%s: phase %q is not applying, baking, passed or failed", op, c.Phase)
	}
	return nil
}

// recordWave records the step and returns a copy of the deployment.
func (s *state) recordWave(c *RecordWave) any {
	d := s.Deployments[c.ID]
	if c.Wave == len(d.Rollout) {
		d.Rollout = append(d.Rollout, WaveRecord{Targets: slices.Clone(c.Targets), Started: c.Time})
	}
	w := &d.Rollout[c.Wave]
	w.Phase, w.Updated = c.Phase, c.Time
	if c.Token != 0 {
		w.Token = c.Token
	}
	if !c.BakeUntil.IsZero() {
		w.BakeUntil = c.BakeUntil
	}
	if c.Message != "" {
		w.Message = c.Message
	}
	if c.Round != nil {
		r := c.Round.clone()
		w.Rounds++
		w.Last = r
		if !r.Passed {
			w.FailedRounds++
			w.LastFailed = r
		}
	}
	d.UpdatedAt = c.Time
	return d.clone()
}

func (r *AnalysisRound) clone() *AnalysisRound {
	if r == nil {
		return nil
	}
	c := *r
	c.Results = slices.Clone(r.Results)
	return &c
}

// cloneRollout returns a deep copy of a rollout record.
func cloneRollout(ws []WaveRecord) []WaveRecord {
	out := slices.Clone(ws)
	for i := range out {
		out[i].Targets = slices.Clone(out[i].Targets)
		out[i].Last = out[i].Last.clone()
		out[i].LastFailed = out[i].LastFailed.clone()
		if p := out[i].Promoted; p != nil {
			c := *p
			out[i].Promoted = &c
		}
	}
	return out
}
