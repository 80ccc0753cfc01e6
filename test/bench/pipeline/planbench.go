package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/honua-io/honua-gitops/test/bench/benchrun"

	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/gitrepo"
	"github.com/honua-io/honua-gitops/internal/plan"
)

// planResult holds every side's figures, one per run.
type planResult struct {
	envs int
	// go-git side: Fetch; Environments + Changed of each; Load of base and
	// head + plan.Compute; and their sum.
	fetch, changed, plan, goTotal []time.Duration
	goBytes                       []traffic
	git                           []*gitSide // one per gitVariants
	summary                       string     // the plan, in words
}

// gitSide is one variant of the git side: git fetch; git diff
// --name-status; and their sum.
type gitSide struct {
	name               string
	args               []string
	fetch, diff, total []time.Duration
	bytes              []traffic
	waits              stalls // of one traced git fetch
}

// benchPlan builds the big repository, clones the commit before its last
// with both go-git (through gitrepo) and git, and then, from a fresh copy
// of each clone per run, times fetching and planning the last commit.
func benchPlan(r *benchrun.Runner, s *setup, o options) planResult {
	res := planResult{envs: o.envs}
	for _, v := range gitVariants {
		res.git = append(res.git, &gitSide{name: v.name, args: v.args})
	}
	big := makeBigRepo(r, s, o.files, o.history, o.envs)
	proxy := startProxy(r, s.daemon.Addr())
	url := "git://" + proxy.Addr() + "/" + big.name
	mustGit := func(dir string, args ...string) string {
		out, err := runGit(dir, args...)
		if err != nil {
			r.Fatalf("plan: %v", err)
		}
		return out
	}

	// The clones hold the commit before the last, as after the poll that
	// deployed it.
	mustGit(big.path, "update-ref", "refs/heads/main", big.base)
	seed := r.TempDir()
	goSeed, gitSeed := filepath.Join(seed, "go-git"), filepath.Join(seed, "git.git")
	var cloneTime time.Duration
	t, _, err := proxy.measure(func() error {
		repo, err := gitrepo.Open(gitrepo.Config{URL: url, Branch: "main", Dir: goSeed, Timeout: 10 * time.Minute})
		if err != nil {
			return err
		}
		start := time.Now()
		got, err := repo.Fetch(context.Background())
		cloneTime = time.Since(start)
		if err == nil && got != big.base {
			err = fmt.Errorf("first Fetch() = %s; want %s", got, big.base)
		}
		return err
	})
	if err != nil {
		r.Fatalf("plan: go-git clone: %v", err)
	}
	fmt.Fprintf(progress, "   first clone with gitrepo.Fetch: %v, %s\n", cloneTime.Round(time.Millisecond), t)
	t, _, err = proxy.measure(func() error {
		start := time.Now()
		_, err := runGit("", "clone", "-q", "--bare", url, gitSeed)
		cloneTime = time.Since(start)
		return err
	})
	if err != nil {
		r.Fatalf("plan: git clone: %v", err)
	}
	fmt.Fprintf(progress, "   first clone with git clone --bare: %v, %s\n", cloneTime.Round(time.Millisecond), t)
	mustGit(big.path, "update-ref", "refs/heads/main", big.head)

	var stopProfile func()
	if o.cpuProfile != "" {
		stopProfile = startProfile(r, o.cpuProfile)
	}
	for i := range o.planRuns {
		dir := r.TempDir()
		copyClone := func(seed, name string) string {
			dst := filepath.Join(dir, name)
			if err := os.CopyFS(dst, os.DirFS(seed)); err != nil {
				r.Fatalf("plan: copy clone: %v", err)
			}
			return dst
		}
		sides := []func(){func() { res.goRun(r, proxy, url, copyClone(goSeed, "go-git"), big) }}
		for j, g := range res.git {
			sides = append(sides, func() { g.run(r, proxy, url, copyClone(gitSeed, fmt.Sprintf("git%d.git", j)), big) })
		}
		// Rotate which side goes first.
		for j := range sides {
			sides[(i+j)%len(sides)]()
		}
		n := len(res.goTotal) - 1
		line := fmt.Sprintf("   run %d: go-git fetch %s + changed %s + load/plan %s = %s, %s", i+1,
			ms(res.fetch[n]), ms(res.changed[n]), ms(res.plan[n]), ms(res.goTotal[n]), res.goBytes[n])
		for _, g := range res.git {
			line += fmt.Sprintf("\n          %s: fetch %s + diff %s = %s, %s", g.name,
				ms(g.fetch[n]), ms(g.diff[n]), ms(g.total[n]), g.bytes[n])
		}
		fmt.Fprintln(progress, line)
		if err := os.RemoveAll(dir); err != nil {
			r.Fatalf("plan: %v", err)
		}
	}
	if stopProfile != nil {
		stopProfile()
	}
	for j, g := range res.git {
		dir := filepath.Join(r.TempDir(), fmt.Sprintf("git%d.git", j))
		if err := os.CopyFS(dir, os.DirFS(gitSeed)); err != nil {
			r.Fatalf("plan: copy clone: %v", err)
		}
		w, err := traceStalls(dir, append(append([]string(nil), g.args...), "fetch", "-q", url, "+refs/heads/main:refs/heads/main")...)
		if err != nil {
			r.Fatalf("plan: trace %s fetch: %v", g.name, err)
		}
		g.waits = w
		fmt.Fprintf(progress, "   %s fetch traced once with GIT_TRACE_PACKET: %s\n", g.name, w)
	}
	fmt.Fprintf(progress, "   plan of %s: %s\n", big.env, res.summary)
	return res
}

// goRun is one run of the go-git side in the clone at dir.
func (res *planResult) goRun(r *benchrun.Runner, proxy *countingProxy, url, dir string, big *bigRepo) {
	repo, err := gitrepo.Open(gitrepo.Config{URL: url, Branch: "main", Dir: dir, Timeout: time.Minute})
	if err != nil {
		r.Fatalf("plan: %v", err)
	}
	var fetch, changed, planned time.Duration
	t, _, err := proxy.measure(func() error {
		start := time.Now()
		head, err := repo.Fetch(context.Background())
		if err != nil {
			return err
		}
		if head != big.head {
			return fmt.Errorf("Fetch() = %s; want %s", head, big.head)
		}
		fetch = time.Since(start)

		start = time.Now()
		headFS, err := repo.FS(head)
		if err != nil {
			return err
		}
		envs, problems := configrepo.Environments(headFS)
		if len(problems) > 0 {
			return fmt.Errorf("environments: %v", problems)
		}
		var envsChanged []string
		for _, env := range envs {
			// The paths the reconciler watches for an environment.
			ch, err := repo.Changed(big.base, head, "environments/"+env, configrepo.CommonDir, configrepo.PolicyPath)
			if err != nil {
				return err
			}
			if ch {
				envsChanged = append(envsChanged, env)
			}
		}
		changed = time.Since(start)
		if !slices.Equal(envsChanged, []string{big.env}) {
			return fmt.Errorf("changed environments %v; want [%s]", envsChanged, big.env)
		}

		start = time.Now()
		baseFS, err := repo.FS(big.base)
		if err != nil {
			return err
		}
		var p *plan.Plan
		for _, env := range envsChanged {
			base, err := input(baseFS, env)
			if err != nil {
				return fmt.Errorf("base: %w", err)
			}
			next, err := input(headFS, env)
			if err != nil {
				return fmt.Errorf("head: %w", err)
			}
			p = plan.Compute(base, next)
		}
		planned = time.Since(start)
		res.summary = p.Summary()
		return nil
	})
	if err != nil {
		r.Fatalf("plan: go-git side: %v", err)
	}
	res.fetch = append(res.fetch, fetch)
	res.changed = append(res.changed, changed)
	res.plan = append(res.plan, planned)
	res.goTotal = append(res.goTotal, fetch+changed+planned)
	res.goBytes = append(res.goBytes, t)
}

// input loads env at a commit as the reconciler does: the bundle and the
// raw policy.
func input(fsys fs.FS, env string) (plan.Input, error) {
	b, problems := configrepo.Load(fsys, env)
	if b == nil {
		return plan.Input{}, fmt.Errorf("%s does not validate: %v", env, problems)
	}
	raw, _, err := configrepo.ReadPolicy(fsys)
	if err != nil {
		return plan.Input{}, err
	}
	return plan.Input{Metadata: b.Metadata, DataSources: b.DataSources, AppSettings: b.AppSettings,
		SharedConfig: b.SharedConfig, Policy: raw}, nil
}

// run is one run of this git side in the bare clone at dir.
func (g *gitSide) run(r *benchrun.Runner, proxy *countingProxy, url, dir string, big *bigRepo) {
	var fetch, diff time.Duration
	t, _, err := proxy.measure(func() error {
		start := time.Now()
		args := append(append([]string(nil), g.args...), "fetch", "-q", url, "+refs/heads/main:refs/heads/main")
		if _, err := runGit(dir, args...); err != nil {
			return err
		}
		fetch = time.Since(start)
		start = time.Now()
		out, err := runGit(dir, "diff", "--name-status", big.base, big.head)
		if err != nil {
			return err
		}
		diff = time.Since(start)
		if want := "M\t" + big.changed; out != want {
			return fmt.Errorf("git diff --name-status printed %q; want %q", out, want)
		}
		return nil
	})
	if err != nil {
		r.Fatalf("plan: %s side: %v", g.name, err)
	}
	g.fetch = append(g.fetch, fetch)
	g.diff = append(g.diff, diff)
	g.total = append(g.total, fetch+diff)
	g.bytes = append(g.bytes, t)
}
