package main

// honuactl environments: one line per environment, and the folders that
// are not environments with their problem.

import (
	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/api"
)

func (a *app) environmentsCommand() *cli.Command {
	return &cli.Command{Name: "environments",
		Usage:  "every environment: what is deployed, its newest deployment, pinned, suspended, drifted, waiting approvals",
		Action: a.environments}
}

// environmentsView is what `honuactl environments -o json` prints.
type environmentsView struct {
	Environments []api.EnvironmentDetail `json:"environments"`
	// Problems are the folders under environments/ that are not
	// environments, as the leader last saw them.
	Problems []api.FolderProblem `json:"problems,omitempty"`
}

func (a *app) environments(c *cli.Context) error {
	e, _, err := a.start(c)
	if err != nil {
		return err
	}
	// Consistent: what an operator checks during an incident must include
	// the suspension they just made through another node.
	envs, err := e.client.Environments(e.ctx, &api.QueryOptions{Consistent: true})
	if err != nil {
		return err
	}
	st, err := e.client.Status(e.ctx)
	if err != nil {
		return err
	}
	v := environmentsView{Environments: envs}
	if st.Repository != nil {
		v.Problems = st.Repository.Problems
	}
	if e.json {
		return printJSON(e.out, v)
	}
	var t table
	t.row("ENVIRONMENT", "DEPLOYED", "NEWEST", "STATE", "PINNED", "SUSPENDED", "DRIFTED", "APPROVALS")
	for _, en := range envs {
		if en.Environment == nil {
			continue
		}
		deployed := safe("-")
		if en.DeployedCommit != "" {
			deployed = cellf("%s (%s)", shortSHA(en.DeployedCommit), orDash(en.DeployedDeployment))
		}
		newest, state := "-", safe("-")
		if d := en.LatestDeployment; d != nil {
			newest, state = d.ID, e.state(d.State)
		}
		pinned := safe("-")
		if en.Pin != nil {
			pinned = cellf("to %s", shortSHA(en.Pin.Commit))
		}
		suspended := safe("-")
		if s := en.Suspended; s != nil {
			suspended = cellf("by %s %s: %s", s.By, ago(e.now, s.Since), oneLine(s.Reason))
		}
		drifted := safe("-")
		if d := en.Drift; d != nil {
			drifted = cellf("since %s (%d files)", ago(e.now, d.Since), len(d.Files)+d.MoreFiles)
		}
		waiting := safe("-")
		if d := en.WaitingDeployment; d != nil && d.State == api.StateAwaitingApproval {
			waiting = cellf("%s %s", d.ID, approvals(d.Approvals, d.Required))
		}
		t.row(en.Name, deployed, newest, state, pinned, suspended, drifted, waiting)
	}
	if err := t.write(e.out); err != nil {
		return err
	}
	for _, en := range envs {
		if en.Environment != nil && en.Drift != nil {
			fprintf(e.out, "%s %s\n", en.Name, driftNote(e.now, en.Drift))
		}
	}
	for _, p := range v.Problems {
		fprintf(e.out, "Not an environment, not deployed: %s: %s\n", p.Path, p.Message)
	}
	return nil
}
