package chaos

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/test/harness"
)

// workload runs the clients of a run: see the package documentation.
type workload struct {
	r      *Run
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	gates  *gateRegistry
	seq    uint64 // seeds of the workers' random sources

	// clients is the number of clients: the final resumptions are the
	// next one's.
	clients int

	mu        sync.Mutex
	suspended map[string]bool // the environments the workload asked to suspend
}

// StartWorkload starts the clients; StopWorkload stops them.
func (r *Run) StartWorkload() {
	r.t.Helper()
	if r.workload != nil {
		r.t.Fatal("the workload is already running")
	}
	w := &workload{r: r, gates: &gateRegistry{known: map[string]bool{}, ended: map[string]bool{}},
		suspended: map[string]bool{}}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	r.workload = w
	// Register the gate deployments that wait now, before any client
	// acts on them.
	w.scout(w.rng())
	client := 0
	for range 3 {
		w.loop(60*time.Millisecond, w.gateClient(client))
		client++
	}
	for _, env := range r.rbs {
		w.loop(150*time.Millisecond, w.rollbackClient(client, env))
		client++
	}
	w.loop(700*time.Millisecond, w.committer(client))
	client++
	w.loop(1500*time.Millisecond, w.syncer(client))
	client++
	w.clients = client
	w.loop(300*time.Millisecond, func(rng *rand.Rand) { w.scout(rng) })
	r.Logf("workload started: %d gate deployments waiting", len(w.gates.all()))
}

// StopWorkload stops the clients, waits for the operations in flight to
// return, and resumes every environment the workload suspended (recorded
// as operations too): a suspended environment's deployments would wait
// for ever, and the checks expect the cluster to settle.
func (r *Run) StopWorkload() {
	r.t.Helper()
	if r.workload == nil {
		return
	}
	r.workload.stop()
	r.workload.resumeAll()
	r.workload = nil
	ops := r.history.Ops()
	counts := map[OpKind]map[Outcome]int{}
	codes := map[OpKind]map[string]int{}
	for _, o := range ops {
		if counts[o.Kind] == nil {
			counts[o.Kind], codes[o.Kind] = map[Outcome]int{}, map[string]int{}
		}
		counts[o.Kind][o.Outcome]++
		if o.Code != "" {
			codes[o.Kind][o.Code]++
		}
	}
	for _, k := range []OpKind{OpApprove, OpReject, OpCancel, OpReadDeployment, OpRollback, OpSuspend, OpResume, OpReadEnvironment, OpSync, OpCommit} {
		c := counts[k]
		r.Logf("workload: %-16s ok %4d  failed %4d  unknown %3d  %v", k, c[OK], c[Failed], c[Unknown], codes[k])
	}
}

func (w *workload) stop() {
	w.cancel()
	w.wg.Wait()
}

func (w *workload) rng() *rand.Rand {
	w.seq++
	return rand.New(rand.NewPCG(uint64(w.r.opts.Seed), w.seq))
}

// loop runs f every interval until the workload stops.
func (w *workload) loop(interval time.Duration, f func(rng *rand.Rand)) {
	rng := w.rng()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-w.ctx.Done():
				return
			case <-tick.C:
			}
			f(rng)
		}
	}()
}

// do runs one API call as operation op: it records the call, the return
// and the result (fill reads what an ok call returned).
func (w *workload) do(op *Op, rng *rand.Rand, call func(ctx context.Context, cl *api.Client) error, fill func(*Op)) error {
	cl, node := w.r.client(op.Who, rng)
	op.Node = node
	h := w.r.history
	h.Begin(op)
	// Not the workload's context: an operation in flight when the workload
	// stops runs to its end (or its timeout).
	ctx, cancel := context.WithTimeout(context.Background(), workloadTimeout)
	defer cancel()
	err := call(ctx, cl)
	h.End(op, err, fill)
	return err
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// gateClient approves, rejects, cancels and reads gate deployments.
func (w *workload) gateClient(client int) func(rng *rand.Rand) {
	return func(rng *rand.Rand) {
		id := w.gates.pick(rng)
		if id == "" {
			return
		}
		who := pick(rng, approvers)
		switch p := rng.Float64(); {
		case p < 0.55:
			var res *api.ApproveResult
			_ = w.do(&Op{Client: client, Kind: OpApprove, Deployment: id, Who: who}, rng,
				func(ctx context.Context, cl *api.Client) (err error) {
					res, err = cl.Approve(ctx, id, "chaos approves")
					return err
				},
				func(o *Op) {
					o.Duplicate = res.Duplicate
					if res.Deployment != nil {
						o.State, o.Approvals = string(res.Deployment.State), approvalIdentities(res.Deployment)
						o.Canceller = canceller(res.Deployment)
					}
				})
		case p < 0.97:
			var d *api.Deployment
			err := w.do(&Op{Client: client, Kind: OpReadDeployment, Deployment: id, Who: who}, rng,
				func(ctx context.Context, cl *api.Client) (err error) {
					d, err = cl.Deployment(ctx, id, &api.QueryOptions{Consistent: true})
					return err
				},
				func(o *Op) { o.State, o.Approvals, o.Canceller = string(d.State), approvalIdentities(d), canceller(d) })
			if err == nil && (d.State == rejected || d.State == cancelled) {
				w.gates.markEnded(id)
			}
		case p < 0.985:
			var d *api.Deployment
			err := w.do(&Op{Client: client, Kind: OpReject, Deployment: id, Who: who}, rng,
				func(ctx context.Context, cl *api.Client) (err error) {
					d, err = cl.Reject(ctx, id, "chaos rejects")
					return err
				},
				func(o *Op) {
					o.State, o.Approvals, o.Canceller = string(d.State), approvalIdentities(d), canceller(d)
					if d.Rejection != nil {
						o.Rejecter = d.Rejection.Identity
					}
				})
			if err == nil {
				w.gates.markEnded(id)
			}
		default:
			w.cancelGate(client, id, who, rng)
		}
	}
}

// cancelGate cancels a gate deployment as who; an unknown outcome is
// retried once by the same identity, as a careful client would, and so is
// half of the acknowledged ones (through another random order of the
// nodes): the retry answers the cancelled deployment again.
func (w *workload) cancelGate(client int, id, who string, rng *rand.Rand) {
	for range 2 {
		var d *api.Deployment
		op := &Op{Client: client, Kind: OpCancel, Deployment: id, Who: who}
		err := w.do(op, rng,
			func(ctx context.Context, cl *api.Client) (err error) {
				d, err = cl.Cancel(ctx, id, "chaos cancels")
				return err
			},
			func(o *Op) { o.State, o.Approvals, o.Canceller = string(d.State), approvalIdentities(d), canceller(d) })
		if err == nil {
			w.gates.markEnded(id)
		}
		if op.Outcome == Failed || (op.Outcome == OK && rng.IntN(2) == 0) {
			return
		}
	}
}

// canceller returns who cancelled d, or "".
func canceller(d *api.Deployment) string {
	if d.Cancellation == nil {
		return ""
	}
	return d.Cancellation.Identity
}

// rollbackClient rolls env back to c0 or c1, asks for rollbacks that must
// be refused, suspends and resumes it (suspended a quarter of the time or
// so), reads its pin and suspension, and syncs it.
func (w *workload) rollbackClient(client int, env string) func(rng *rand.Rand) {
	commits := []string{w.r.c0, w.r.c1}
	return func(rng *rand.Rand) {
		who := pick(rng, approvers)
		switch p := rng.Float64(); {
		case p < 0.06:
			w.hostileRollback(client, env, who, rng)
		case p < 0.28:
			to := pick(rng, commits)
			var d *api.Deployment
			_ = w.do(&Op{Client: client, Kind: OpRollback, Env: env, Who: who, To: to}, rng,
				func(ctx context.Context, cl *api.Client) (err error) {
					d, err = cl.Rollback(ctx, env, to[:12])
					return err
				},
				func(o *Op) { o.Created, o.CreatedCommit, o.CreatedKind = d.ID, d.Commit, string(d.Kind) })
		case p < 0.30:
			w.suspend(client, env, who, rng)
		case p < 0.36:
			w.resume(client, env, who, rng)
		case p < 0.85:
			var e *api.EnvironmentDetail
			_ = w.do(&Op{Client: client, Kind: OpReadEnvironment, Env: env, Who: who}, rng,
				func(ctx context.Context, cl *api.Client) (err error) {
					e, err = cl.Environment(ctx, env, &api.QueryOptions{Consistent: true})
					return err
				},
				func(o *Op) {
					if e.Environment != nil {
						readEnvironment(o, e.Environment)
					}
				})
		default:
			w.sync(client, env, who, rng)
		}
	}
}

// readEnvironment records an environment's pin and suspension in o.
func readEnvironment(o *Op, e *api.Environment) {
	if e.Pin != nil {
		o.PinCommit, o.PinBy = e.Pin.Commit, e.Pin.By
	}
	if e.Suspended != nil {
		o.SuspendedBy = e.Suspended.By
	}
}

// suspend suspends env as who.
func (w *workload) suspend(client int, env, who string, rng *rand.Rand) {
	w.mu.Lock()
	w.suspended[env] = true
	w.mu.Unlock()
	var e *api.Environment
	_ = w.do(&Op{Client: client, Kind: OpSuspend, Env: env, Who: who}, rng,
		func(ctx context.Context, cl *api.Client) (err error) {
			e, err = cl.Suspend(ctx, env, "chaos suspends")
			return err
		},
		func(o *Op) { readEnvironment(o, e) })
}

// resume resumes env as who.
func (w *workload) resume(client int, env, who string, rng *rand.Rand) error {
	var e *api.Environment
	return w.do(&Op{Client: client, Kind: OpResume, Env: env, Who: who}, rng,
		func(ctx context.Context, cl *api.Client) (err error) {
			e, err = cl.Resume(ctx, env)
			return err
		},
		func(o *Op) { readEnvironment(o, e) })
}

// resumeAll resumes every environment the workload asked to suspend, once
// it stopped, until a consistent read shows it resumed; the resumptions
// and reads are recorded as a client of their own.
func (w *workload) resumeAll() {
	r := w.r
	r.t.Helper()
	rng := w.rng()
	w.mu.Lock()
	envs := slices.Sorted(maps.Keys(w.suspended))
	w.mu.Unlock()
	for _, env := range envs {
		who := pick(rng, approvers)
		err := harness.Poll(settleTimeout, env+" to be resumed", func() error {
			if err := w.resume(w.clients, env, who, rng); err != nil {
				return err
			}
			var e *api.EnvironmentDetail
			op := &Op{Client: w.clients, Kind: OpReadEnvironment, Env: env, Who: who}
			if err := w.do(op, rng,
				func(ctx context.Context, cl *api.Client) (err error) {
					e, err = cl.Environment(ctx, env, &api.QueryOptions{Consistent: true})
					return err
				},
				func(o *Op) {
					if e.Environment != nil {
						readEnvironment(o, e.Environment)
					}
				}); err != nil {
				return err
			}
			if op.SuspendedBy != "" {
				return fmt.Errorf("%s is suspended again, by %s", env, op.SuspendedBy)
			}
			return nil
		})
		if err != nil {
			r.t.Fatalf("resuming what the workload suspended: %v", err)
		}
	}
	if len(envs) > 0 {
		r.Logf("workload: resumed %v", envs)
	}
}

// hostileRollback asks for a rollback that skips the approvals a gate
// deployment waits for, or was rejected by: of env (an rb environment) to a
// gate deployment, or of the gate environment to its own deployment. Only
// a Completed deployment of the environment may be rolled back to, so it
// must be refused.
func (w *workload) hostileRollback(client int, env, who string, rng *rand.Rand) {
	id := w.gates.pick(rng)
	if id == "" {
		return
	}
	if rng.IntN(2) == 0 {
		env = id[:strings.LastIndexByte(id, '-')]
	}
	var d *api.Deployment
	_ = w.do(&Op{Client: client, Kind: OpRollback, Env: env, Who: who, To: id, Hostile: true}, rng,
		func(ctx context.Context, cl *api.Client) (err error) {
			d, err = cl.Rollback(ctx, env, id)
			return err
		},
		func(o *Op) { o.Created, o.CreatedCommit, o.CreatedKind = d.ID, d.Commit, string(d.Kind) })
}

func (w *workload) sync(client int, env, who string, rng *rand.Rand) {
	_ = w.do(&Op{Client: client, Kind: OpSync, Env: env, Who: who}, rng,
		func(ctx context.Context, cl *api.Client) error {
			_, err := cl.Sync(ctx, env)
			return err
		}, nil)
}

// committer commits the next revision of a random app environment.
func (w *workload) committer(client int) func(rng *rand.Rand) {
	return func(rng *rand.Rand) {
		env := pick(rng, w.r.apps)
		h := w.r.history
		op := h.Begin(&Op{Client: client, Kind: OpCommit, Env: env, Node: "git"})
		commit := w.r.repo.bumpEnv(env)
		h.End(op, nil, func(o *Op) { o.To = commit })
	}
}

// syncer syncs a random app environment.
func (w *workload) syncer(client int) func(rng *rand.Rand) {
	return func(rng *rand.Rand) {
		w.sync(client, pick(rng, w.r.apps), pick(rng, approvers), rng)
	}
}

// scout registers the gate deployments that wait for approval and that no
// client has touched: a new one appears after a rejection, with the next
// commit. Any node's (possibly stale) list will do: nothing but the
// workload changes such a deployment, and it has not acted on it yet.
func (w *workload) scout(rng *rand.Rand) {
	cl, _ := w.r.client(adminName, rng)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	for _, env := range w.r.gates {
		ds, err := cl.Deployments(ctx, api.DeploymentFilter{Env: env, Limit: 5}, nil)
		if err != nil {
			return
		}
		for _, d := range ds {
			if d.State == "AwaitingApproval" && d.Approvals == 0 {
				w.gates.register(d.ID)
			}
		}
	}
}

// gateRegistry holds the gate deployments the clients act on.
type gateRegistry struct {
	mu    sync.Mutex
	ids   []string
	known map[string]bool
	ended map[string]bool // known to be rejected or cancelled: picked less often
}

func (g *gateRegistry) register(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.known[id] {
		g.known[id] = true
		g.ids = append(g.ids, id)
	}
}

// markEnded records that id was rejected or cancelled.
func (g *gateRegistry) markEnded(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ended[id] = true
}

func (g *gateRegistry) all() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.ids)
}

// pick returns a deployment to act on: mostly one not known to be
// rejected or cancelled, sometimes any (to see wrong_state, and retried
// cancellations); "" when none is known.
func (g *gateRegistry) pick(rng *rand.Rand) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.ids) == 0 {
		return ""
	}
	var open []string
	for _, id := range g.ids {
		if !g.ended[id] {
			open = append(open, id)
		}
	}
	if len(open) > 0 && rng.Float64() < 0.9 {
		return pick(rng, open)
	}
	return pick(rng, g.ids)
}
