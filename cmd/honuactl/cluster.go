package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/api"
)

func (a *app) status(c *cli.Context) error {
	e, _, err := a.start(c)
	if err != nil {
		return err
	}
	st, err := e.client.Status(e.ctx)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, st)
	}
	leader := "none known"
	if st.Leader != nil {
		leader = fmt.Sprintf("%s (%s)", st.Leader.ID, st.Leader.APIAddr)
	}
	w := e.out
	fprintf(w, "Node:        %s (%s)\n", st.NodeID, st.State)
	fprintf(w, "Leader:      %s\n", leader)
	fprintf(w, "Term:        %d\n", st.Term)
	fprintf(w, "Index:       applied %d, committed %d, last %d\n", st.AppliedIndex, st.CommitIndex, st.LastIndex)
	if st.Version != "" {
		fprintf(w, "Version:     %s\n", st.Version)
	}
	if r := st.Repository; r != nil {
		fprintf(w, "Repository:  %s (branch %s)\n", r.URL, orDash(r.Branch))
		if r.Head != "" {
			fprintf(w, "Head:        %s (since %s)\n", shortSHA(r.Head), ago(e.now, r.HeadSince))
		}
		if r.Error != "" {
			fprintf(w, "Poll error:  %s (since %s)\n", r.Error, ago(e.now, r.ErrorSince))
		}
		for _, p := range r.Problems {
			fprintf(w, "Not deployed: %s: %s\n", p.Path, p.Message)
		}
	} else {
		fmt.Fprintln(w, "Repository:  none watched")
	}
	envs, err := e.client.Environments(e.ctx, nil)
	if err != nil {
		return err
	}
	printDrift(e, envs)
	for _, ed := range envs {
		if ed.Environment != nil && ed.Suspended != nil {
			s := ed.Suspended
			fprintf(w, "Suspended:   %s by %s %s: %s\n", ed.Name, s.By, ago(e.now, s.Since), s.Reason)
		}
	}
	fmt.Fprintln(w)
	return printMembers(w, st)
}

func (a *app) members(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("members: unknown subcommand %q (use members remove <id>)", c.Args().First())
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	// The status names the leader too: one request.
	st, err := e.client.Status(e.ctx)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, st.Members)
	}
	return printMembers(e.out, st)
}

func printMembers(w io.Writer, st *api.Status) error {
	var t table
	t.row("ID", "STATUS", "ROLE", "VOTER", "API", "RAFT", "GOSSIP", "VERSION")
	for _, m := range st.Members {
		role := "follower"
		if st.Leader != nil && st.Leader.ID == m.ID {
			role = "leader"
		}
		t.row(m.ID, m.Status, role, fmt.Sprint(m.Voter), orDash(m.APIAddr), orDash(m.RaftAddr), orDash(m.GossipAddr), orDash(m.Version))
	}
	return t.write(w)
}

func (a *app) removeMember(c *cli.Context) error {
	e, as, err := a.start(c, "<id>")
	if err != nil {
		return err
	}
	if err := e.client.RemoveMember(e.ctx, as[0]); err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, map[string]string{"removed": as[0]})
	}
	fprintf(e.out, "Removed %s from the cluster.\n", as[0])
	return nil
}

// versionInfo is `honuactl version -o json`.
type versionInfo struct {
	Client struct {
		Version string `json:"version"`
		Go      string `json:"go"`
	} `json:"client"`
	Server *serverVersion `json:"server,omitempty"`
	// ServerError says why the server's version is missing.
	ServerError string `json:"serverError,omitempty"`
}

type serverVersion struct {
	Node    string `json:"node"`
	Version string `json:"version"`
}

func (a *app) version(c *cli.Context) error {
	e, _, err := a.start(c)
	if err != nil {
		return err
	}
	var v versionInfo
	v.Client.Version, v.Client.Go = version, runtime.Version()
	st, err := e.client.Status(e.ctx)
	switch {
	case err == nil:
		v.Server = &serverVersion{Node: st.NodeID, Version: st.Version}
	case errors.Is(err, api.ErrNoNodeReachable):
		v.ServerError = "no node reachable"
	default:
		var ae *api.Error
		if errors.As(err, &ae) {
			v.ServerError = describeAPIError(ae)
		} else {
			v.ServerError = err.Error()
		}
	}
	if e.json {
		return printJSON(e.out, v)
	}
	fprintf(e.out, "Client:  honuactl %s (%s)\n", v.Client.Version, v.Client.Go)
	if v.Server != nil {
		fprintf(e.out, "Server:  honuad %s (node %s)\n", orDash(v.Server.Version), v.Server.Node)
	} else {
		fprintf(e.out, "Server:  unknown (%s)\n", v.ServerError)
	}
	return nil
}
