package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/api"
)

// parseState accepts a state's name in any case: completed, Completed.
func parseState(flag, s string) (api.DeploymentState, error) {
	for _, st := range api.AllStates {
		if strings.EqualFold(string(st), s) {
			return st, nil
		}
	}
	names := make([]string, len(api.AllStates))
	for i, st := range api.AllStates {
		names[i] = string(st)
	}
	return "", usagef("--%s %q: not a deployment state (%s)", flag, s, strings.Join(names, ", "))
}

func (a *app) deployments(c *cli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	f := api.DeploymentFilter{Env: c.String("env"), Limit: c.Int("limit")}
	if f.Limit < 0 {
		return usagef("--limit %d: must be positive", f.Limit)
	}
	if s := c.String("state"); s != "" {
		st, err := parseState("state", s)
		if err != nil {
			return err
		}
		f.State = st
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	ds, err := e.client.Deployments(e.ctx, f, nil)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, ds)
	}
	if len(ds) == 0 {
		fmt.Fprintln(e.out, "No deployments.")
		return nil
	}
	var t table
	t.row("ID", "ENVIRONMENT", "STATE", "KIND", "COMMIT", "RISK", "APPROVALS", "INITIATOR", "CREATED", "UPDATED")
	for _, d := range ds {
		t.row(d.ID, d.Environment, e.state(d.State), d.Kind, shortSHA(d.Commit), orDash(d.Risk),
			approvals(d.Approvals, d.Required), d.Initiator, ago(e.now, d.CreatedAt), ago(e.now, d.UpdatedAt))
	}
	return t.write(e.out)
}

// planOf decodes a deployment's plan document; nil when it has none yet.
func planOf(d *api.Deployment) (*api.PlanDocument, error) {
	doc, err := d.PlanDocument()
	if doc != nil && doc.Plan == nil {
		doc.Plan = &api.Plan{}
	}
	return doc, err
}

// validationOf decodes a deployment's validation report; nil when it has
// none yet.
func validationOf(d *api.Deployment) (*api.ValidationReport, error) {
	return d.ValidationReport()
}

func (a *app) deployment(c *cli.Context) error {
	e, as, err := a.start(c, "<id>")
	if err != nil {
		return err
	}
	d, err := e.fetchDeployment(e.ctx, as[0])
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, d)
	}
	doc, err := planOf(d)
	if err != nil {
		return err
	}
	report, err := validationOf(d)
	if err != nil {
		return err
	}
	w := e.out
	since := d.UpdatedAt
	if n := len(d.Transitions); n > 0 {
		since = d.Transitions[n-1].Time
	}
	fprintf(w, "Deployment:   %s\n", d.ID)
	fprintf(w, "Environment:  %s\n", d.Environment)
	fprintf(w, "State:        %s (since %s)\n", e.state(d.State), ago(e.now, since))
	commit := shortSHA(d.Commit)
	if d.Branch != "" {
		commit += " (branch " + d.Branch + ")"
	}
	fprintf(w, "Commit:       %s\n", commit)
	if d.Subject != "" {
		fprintf(w, "Subject:      %s\n", oneLine(d.Subject))
	}
	fprintf(w, "Kind:         %s, started by %s\n", d.Kind, orDash(d.Initiator))
	if d.RollbackTo != "" {
		fprintf(w, "Restores:     %s\n", d.RollbackTo)
	}
	if d.DryRun {
		fmt.Fprintln(w, "Dry run:      yes (validate and plan only)")
	}
	fprintf(w, "Created:      %s (%s)\n", clock(d.CreatedAt), ago(e.now, d.CreatedAt))
	fprintf(w, "Updated:      %s (%s)\n", clock(d.UpdatedAt), ago(e.now, d.UpdatedAt))
	fprintf(w, "Risk:         %s\n", orDash(d.Risk))
	if d.Error != "" {
		fprintf(w, "Error:        %s\n", d.Error)
	}
	if d.FencingToken != 0 {
		fprintf(w, "Fencing:      token %d\n", d.FencingToken)
	}
	if b := d.Backup; b != nil && (b.Commit != "" || b.DeploymentID != "") {
		fprintf(w, "Backup:       %s at %s\n", orDash(b.DeploymentID), shortSHA(b.Commit))
	}

	fmt.Fprintln(w)
	if doc == nil {
		fmt.Fprintln(w, "Plan:         none yet")
	} else {
		fprintf(w, "Plan:         %s\n", planSummary(doc))
		if len(doc.Changes) > 0 {
			fmt.Fprintln(w)
			if err := e.writeChanges(doc, c.Bool("verbose")); err != nil {
				return err
			}
		}
	}

	fmt.Fprintln(w)
	e.writeApprovals(d)

	fmt.Fprintln(w)
	writeValidation(w, report)

	fmt.Fprintln(w)
	fmt.Fprintln(w, "History:")
	var t table
	t.row("TIME", "AGO", "FROM", "TO", "MESSAGE")
	for _, tr := range d.Transitions {
		t.row(clock(tr.Time), ago(e.now, tr.Time), orDash(string(tr.From)), e.state(tr.To), oneLine(tr.Message))
	}
	if err := t.write(w); err != nil {
		return err
	}
	return e.writeNotifications(w, d.Notifications)
}

// writeValidation writes a validation report: its verdict and problems.
func writeValidation(w io.Writer, report *api.ValidationReport) {
	switch {
	case report == nil:
		fmt.Fprintln(w, "Validation:   not yet")
	case len(report.Problems) == 0:
		if report.Valid {
			fmt.Fprintln(w, "Validation:   valid")
		} else {
			fmt.Fprintln(w, "Validation:   invalid")
		}
	default:
		verdict := "invalid"
		if report.Valid {
			verdict = "valid"
		}
		fprintf(w, "Validation:   %s, %d problem(s):\n", verdict, len(report.Problems)+report.Omitted)
		for _, p := range report.Problems {
			fprintf(w, "  %s\n", p.Text)
		}
		if report.Omitted > 0 {
			fmt.Fprintf(w, "  … and %d more problem(s), not recorded\n", report.Omitted)
		}
	}
}

// planSummary is one line: what the plan was computed between, its risk,
// and its counts.
func planSummary(doc *api.PlanDocument) string {
	var b strings.Builder
	base := "nothing deployed"
	if doc.BaseCommit != "" {
		base = shortSHA(doc.BaseCommit)
	}
	fmt.Fprintf(&b, "%s → %s, risk %s", base, shortSHA(doc.Commit), doc.Risk)
	if doc.Breaking {
		b.WriteString(", breaking")
	}
	fmt.Fprintf(&b, "; %d added, %d modified, %d removed", doc.Added, doc.Modified, doc.Removed)
	if doc.PolicyChanged {
		b.WriteString("; the deployment policy changed")
	}
	if doc.Note != "" {
		fmt.Fprintf(&b, " (%s)", doc.Note)
	}
	return b.String()
}

// writeChanges lists a plan's changes, with their field diffs when
// verbose.
func (e *env) writeChanges(doc *api.PlanDocument, verbose bool) error {
	var t table
	t.row("ACTION", "KIND", "PATH", "RISK", "BREAKING", "REASON")
	for _, ch := range doc.Changes {
		t.row(ch.Action, ch.Kind, ch.Path, ch.Risk.String(), yesNo(ch.Breaking), ch.Reason)
		if verbose {
			for _, fd := range ch.Diff {
				t.row("", "", "  "+fieldDiff(fd), fd.Risk.String(), yesNo(fd.Breaking), fd.Reason)
			}
			if ch.OmittedDiffs > 0 {
				t.row("", "", fmt.Sprintf("  … %d more field diffs not listed", ch.OmittedDiffs), "", "", "")
			}
		}
	}
	if err := t.write(e.out); err != nil {
		return err
	}
	if note := truncationNote(doc); note != "" {
		fmt.Fprintln(e.out, note)
	}
	return nil
}

// truncationNote says how many changes a plan cut to its budget left out;
// "" when it is whole.
func truncationNote(doc *api.PlanDocument) string {
	if !doc.Truncated {
		return ""
	}
	return fmt.Sprintf("… %d more changes not listed: the plan was cut to its budget (the counts and risk above cover every change)", doc.OmittedChanges)
}

// fieldDiff is "field: from → to".
func fieldDiff(fd api.FieldDiff) string {
	return fmt.Sprintf("%s: %s → %s", fd.Field, value(fd.From, fd.FromSummarized), value(fd.To, fd.ToSummarized))
}

// value shows a diffed value as JSON; (none) when absent, and what the plan
// recorded of a value too large to record.
func value(v any, summarized bool) string {
	if v == nil {
		return "(none)"
	}
	if s, ok := api.SummaryOf(v); summarized && ok {
		return fmt.Sprintf("(%s value, sha256 %.12s…, starts %s…)", humanize.IBytes(uint64(max(s.Bytes, 0))), s.SHA256, s.Prefix)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// writeApprovals shows what the policy asked for and who answered.
func (e *env) writeApprovals(d *api.Deployment) {
	w := e.out
	switch req := d.Approval; {
	case req == nil && len(d.Approvals) == 0 && d.Rejection == nil:
		fmt.Fprintln(w, "Approvals:    none required")
		return
	case req != nil:
		line := fmt.Sprintf("%d of %d", len(d.Approvals), req.Required)
		if len(req.Groups) > 0 {
			line += " from " + strings.Join(req.Groups, ", ")
		}
		if !req.Expires.IsZero() {
			verb := "expires"
			if req.Expires.Before(e.now) {
				verb = "expired"
			}
			line += fmt.Sprintf("; %s %s (%s)", verb, clock(req.Expires), ago(e.now, req.Expires))
		}
		fprintf(w, "Approvals:    %s\n", line)
	default:
		fprintf(w, "Approvals:    %d\n", len(d.Approvals))
	}
	if len(d.Approvals) > 0 {
		var t table
		t.row("WHO", "GROUPS", "WHEN", "COMMENT")
		for _, ap := range d.Approvals {
			t.row(ap.Identity, orDash(strings.Join(ap.Groups, ",")), ago(e.now, ap.Time), oneLine(ap.Comment))
		}
		_ = t.write(w)
	}
	if r := d.Rejection; r != nil {
		fprintf(w, "Rejected by %s %s: %s\n", r.Identity, ago(e.now, r.Time), r.Reason)
	}
}

func (a *app) diff(c *cli.Context) error {
	e, as, err := a.start(c, "<id>")
	if err != nil {
		return err
	}
	d, err := e.fetchDeployment(e.ctx, as[0])
	if err != nil {
		return err
	}
	doc, err := planOf(d)
	if err != nil {
		return err
	}
	if e.json {
		if doc == nil {
			return printJSON(e.out, nil)
		}
		return printJSON(e.out, json.RawMessage(d.Plan))
	}
	if doc == nil && d.PlanDropped {
		fprintf(e.out, "Deployment %s no longer keeps its plan (risk %s): only each environment's newest deployments do (honuad --plan-retention).\n",
			d.ID, orDash(d.Risk))
		return nil
	}
	if doc == nil {
		fprintf(e.out, "Deployment %s has no plan yet (it is %s).\n", d.ID, e.state(d.State))
		return nil
	}
	fprintf(e.out, "Plan of %s (%s): %s\n", d.ID, d.Environment, planSummary(doc))
	e.writeDiff(doc)
	return nil
}

// writeDiff lists a plan's changes with their field diffs, one block each.
func (e *env) writeDiff(doc *api.PlanDocument) {
	if len(doc.Changes) == 0 {
		fmt.Fprintln(e.out, "No changes.")
		return
	}
	signs := map[string]string{api.ActionAdded: "+", api.ActionModified: "~", api.ActionRemoved: "-"}
	for _, ch := range doc.Changes {
		fmt.Fprintln(e.out)
		fprintf(e.out, "%s %s %s %s  [%s]\n", orDash(signs[ch.Action]), ch.Action, ch.Kind, ch.Path, rating(ch.Risk, ch.Breaking, ch.Reason))
		for _, fd := range ch.Diff {
			fprintf(e.out, "    %s  [%s]\n", fieldDiff(fd), rating(fd.Risk, fd.Breaking, fd.Reason))
		}
		if ch.OmittedDiffs > 0 {
			fmt.Fprintf(e.out, "    … %d more field diffs not listed\n", ch.OmittedDiffs)
		}
	}
	if note := truncationNote(doc); note != "" {
		fmt.Fprintln(e.out)
		fmt.Fprintln(e.out, note)
	}
}

// rating is "high, breaking: srid changed".
func rating(r api.Risk, breaking bool, reason string) string {
	s := "risk " + r.String()
	if breaking {
		s += ", breaking"
	}
	if reason != "" {
		s += ": " + reason
	}
	return s
}

func (a *app) history(c *cli.Context) error {
	as, err := args(c, "<env>")
	if err != nil {
		return err
	}
	limit := c.Int("limit")
	if limit < 0 {
		return usagef("--limit %d: must be positive", limit)
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	h, err := e.client.History(e.ctx, as[0], api.HistoryOptions{Limit: limit})
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, h)
	}
	verbose := c.Bool("verbose")
	if len(h.Deployments) == 0 {
		fprintf(e.out, "No deployments of %s.\n", h.Environment)
	} else {
		var t table
		head := []any{"ID", "STATE", "KIND", "COMMIT", "RISK", "APPROVALS", "INITIATOR", "CREATED", "DURATION"}
		if verbose {
			head = append(head, "MESSAGE")
		}
		t.row(head...)
		for _, d := range h.Deployments {
			took := "running"
			if d.State.Terminal() {
				took = duration(d.UpdatedAt.Sub(d.CreatedAt))
			}
			r := []any{d.ID, e.state(d.State), d.Kind, shortSHA(d.Commit), orDash(d.Risk),
				approvals(d.Approvals, d.Required), d.Initiator, ago(e.now, d.CreatedAt), took}
			if verbose {
				msg := d.Message
				if d.Error != "" && !strings.Contains(msg, d.Error) {
					msg += " (error: " + d.Error + ")"
				}
				r = append(r, oneLine(msg))
			}
			t.row(r...)
		}
		if err := t.write(e.out); err != nil {
			return err
		}
	}
	tot := h.Totals
	fmt.Fprintln(e.out)
	if len(h.Deployments) < tot.Total {
		fprintf(e.out, "Showing %d of %d deployments kept (see more with --limit).\n", len(h.Deployments), tot.Total)
	}
	fprintf(e.out, "Total:             %d: %d Completed, %d Failed, %d RolledBack, %d Rejected, %d Superseded, %d Cancelled, %d in progress\n",
		tot.Total, tot.Completed, tot.Failed, tot.RolledBack, tot.Rejected, tot.Superseded, tot.Cancelled, tot.InProgress)
	if n := tot.Completed + tot.Failed + tot.RolledBack; n > 0 {
		fprintf(e.out, "Success rate:      %s (%d of %d that reached their targets)\n", percent(tot.SuccessRate), tot.Completed, n)
	} else {
		fmt.Fprintln(e.out, "Success rate:      - (none reached their targets yet)")
	}
	fprintf(e.out, "Average duration:  %s\n", orDash(tot.AverageDuration))
	if en, err := e.client.Environment(e.ctx, h.Environment, &api.QueryOptions{Consistent: true}); err == nil && en.Environment != nil && en.Suspended != nil {
		s := en.Suspended
		fprintf(e.out, "Suspended:         by %s %s: %s (new deployments wait until `honuactl resume %s`)\n",
			s.By, ago(e.now, s.Since), s.Reason, h.Environment)
	}
	return nil
}

// fetchDeployment reads a deployment from the node asked; when that node
// does not know it yet (a write it has not applied, such as a rollback just
// created through another node), it asks again for a consistent read,
// which the leader serves.
func (e *env) fetchDeployment(ctx context.Context, id string) (*api.Deployment, error) {
	d, err := e.client.Deployment(ctx, id, nil)
	var ae *api.Error
	if errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
		return e.client.Deployment(ctx, id, &api.QueryOptions{Consistent: true})
	}
	return d, err
}
