package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/plan"
	"github.com/honua-io/honua-gitops/test/harness"
)

// startNode starts a one-node in-process cluster (raft with raft-boltdb on
// disk, as honuad runs it) and waits until it leads.
func startNode(dir string) (*cluster.Node, error) {
	cfg := cluster.DefaultConfig()
	cfg.NodeID = "bench"
	cfg.DataDir = filepath.Join(dir, "bench")
	cfg.RaftBind = "127.0.0.1:0"
	cfg.GossipBind = "127.0.0.1:0"
	cfg.APIAddr = "127.0.0.1:1"
	cfg.BootstrapExpect = 1
	cfg.Logger = slog.New(slog.DiscardHandler)
	return startNodeWith(cfg)
}

// startNodeWith starts a node of cfg and waits until it leads.
func startNodeWith(cfg cluster.Config) (*cluster.Node, error) {
	n, err := cluster.New(cfg, fsm.New(nil))
	if err != nil {
		return nil, err
	}
	n.Start()
	err = harness.Poll(waitTimeout, "the in-process node to lead", func() error {
		if !n.LeaderReady() {
			return errors.New("not leading yet")
		}
		return nil
	})
	if err != nil {
		_ = n.Shutdown(false)
		return nil, err
	}
	return n, nil
}

// filler drives deployments through the pipeline's commands, as the
// leader's reconciler does, one goroutine per environment, into do: the
// in-process node's Apply (through raft), or an FSM's directly (-large).
type filler struct {
	do      func(fsm.Command) (any, error)
	envs    int
	perEnv  int
	applied atomic.Int64
	start   time.Time // the time of the first command; each step adds a second
}

// fill creates perEnv deployments in each of envs environments, every one
// validated, planned against the one before it, deployed (every tenth after
// two approvals) and Completed.
func (f *filler) fill() error {
	if _, err := f.do(&fsm.SetSettings{HistoryRetention: f.perEnv}); err != nil {
		return fmt.Errorf("set history retention: %w", err)
	}
	errs := make([]error, f.envs)
	var wg sync.WaitGroup
	for i := range f.envs {
		wg.Go(func() { errs[i] = f.fillEnv(envName(f.envs, i+1)) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (f *filler) apply(c fsm.Command) (any, error) {
	res, err := f.do(c)
	if err != nil {
		return nil, fmt.Errorf("apply %T: %w", c, err)
	}
	f.applied.Add(1)
	return res, nil
}

func (f *filler) fillEnv(env string) error {
	now := f.start
	tick := func() time.Time {
		now = now.Add(time.Second)
		return now
	}
	var base plan.Input
	baseCommit := ""
	for k := range f.perEnv {
		commit := commitHash(env, k)
		head := input(env, k)
		doc := &plan.Document{BaseCommit: baseCommit, Commit: commit, Plan: plan.Compute(base, head)}
		planJSON, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		valJSON, _ := json.Marshal(configrepo.Report{Valid: true, Problems: []configrepo.ReportProblem{}})

		if _, err := f.apply(&fsm.ObserveCommit{Environment: env, Commit: commit, Time: tick()}); err != nil {
			return err
		}
		res, err := f.apply(&fsm.CreateDeployment{Environment: env, Commit: commit, Branch: "main", Kind: fsm.KindAuto,
			Initiator: "git-watcher", Time: tick(), Message: fmt.Sprintf("commit %s seen (poll)", commit[:12])})
		if err != nil {
			return err
		}
		id := res.(*fsm.Deployment).ID
		move := func(to fsm.DeploymentState, msg string, adjust func(*fsm.TransitionDeployment)) error {
			c := &fsm.TransitionDeployment{ID: id, To: to, Time: tick(), Message: msg}
			if adjust != nil {
				adjust(c)
			}
			_, err := f.apply(c)
			return err
		}
		if err := move(fsm.StateValidating, "validating commit "+commit[:12], nil); err != nil {
			return err
		}
		if err := move(fsm.StatePlanning, "planned: "+doc.Summary(), func(c *fsm.TransitionDeployment) {
			c.Plan, c.Validation, c.Risk = planJSON, valJSON, doc.Risk.String()
		}); err != nil {
			return err
		}
		cleared := "cleared to deploy"
		if k%10 == 9 {
			if err := move(fsm.StateAwaitingApproval, fmt.Sprintf("%s's policy requires approval (policy of %s): needs 2 approval(s)", env, commit[:12]),
				func(c *fsm.TransitionDeployment) {
					c.Approval = &fsm.ApprovalRequirement{Required: 2, Groups: []string{"devops-team"}, Expires: now.Add(24 * time.Hour)}
				}); err != nil {
				return err
			}
			for _, who := range []string{"alice", "bob"} {
				if _, err := f.apply(&fsm.Approve{ID: id, Identity: who, Groups: []string{"devops-team"}, Time: tick(),
					Comment: "looks good to " + who}); err != nil {
					return err
				}
			}
			cleared = "approved by alice, bob"
		}
		if err := move(fsm.StateBackingUp, cleared+"; backing up what is deployed", nil); err != nil {
			return err
		}
		if _, err := f.apply(&fsm.IssueFencingToken{ID: id}); err != nil {
			return err
		}
		if err := move(fsm.StateApplying, "backup recorded: "+id, func(c *fsm.TransitionDeployment) {
			c.BackupBundleID = id + "-backup"
		}); err != nil {
			return err
		}
		if err := move(fsm.StatePostValidating, "applied: directory /srv/honua/"+env+" switched", nil); err != nil {
			return err
		}
		if err := move(fsm.StateCompleted, "deployed and healthy", nil); err != nil {
			return err
		}
		base, baseCommit = head, commit
	}
	return nil
}

// nodeApply applies commands through the node's raft.
func nodeApply(n *cluster.Node) func(fsm.Command) (any, error) {
	return func(c fsm.Command) (any, error) { return n.Apply(context.Background(), c) }
}

// directApply applies commands to f without raft, one at a time, each at
// the next index: the same state raft would build, in a fraction of the
// time (for -large, whose 930,000 commands would take minutes through
// raft on disk).
func directApply(f *fsm.FSM) func(fsm.Command) (any, error) {
	var mu sync.Mutex
	index := f.AppliedIndex()
	return func(c fsm.Command) (any, error) {
		data, err := fsm.Encode(c)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		index++
		res := f.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data})
		if err, ok := res.(error); ok {
			return nil, err
		}
		return res, nil
	}
}

// commitHash is a stable 40-hex-digit commit id.
func commitHash(env string, k int) string {
	sum := sha1.Sum(fmt.Appendf(nil, "%s/%d", env, k))
	return hex.EncodeToString(sum[:])
}

// input is environment env's configuration at its k-th commit: five layers
// of six fields; each commit retitles one layer and realiases one field,
// and every tenth adds a layer.
func input(env string, k int) plan.Input {
	layers := []any{}
	n := 5 + k/10
	for l := range n {
		title := fmt.Sprintf("Layer %d", l)
		if l == k%5 {
			title = fmt.Sprintf("Layer %d, revision %d", l, k)
		}
		fields := []any{}
		for fi := range 6 {
			alias := fmt.Sprintf("Field %d", fi)
			if l == k%5 && fi == k%6 {
				alias = fmt.Sprintf("Field %d (rev %d)", fi, k)
			}
			fields = append(fields, map[string]any{"name": fmt.Sprintf("f%d", fi), "type": "string", "alias": alias})
		}
		layers = append(layers, map[string]any{
			"id": fmt.Sprintf("layer-%d", l), "serviceId": "main", "title": title,
			"description": "A layer of " + env, "geometryType": "Point", "srid": 4326.0,
			"storage": map[string]any{"table": fmt.Sprintf("public.layer_%d", l), "geometryColumn": "geom", "primaryKey": "id"},
			"fields":  fields,
		})
	}
	return plan.Input{
		Metadata: map[string]any{
			"services": []any{map[string]any{"id": "main", "title": "Main service", "dataSourceId": "gis"}},
			"layers":   layers,
		},
		DataSources: map[string]any{"dataSources": []any{map[string]any{"id": "gis", "provider": "postgis",
			"connection": map[string]any{"host": "db-" + env, "port": 5432.0, "database": "gis", "user": "honua", "passwordEnv": "PGPASSWORD"}}}},
	}
}
