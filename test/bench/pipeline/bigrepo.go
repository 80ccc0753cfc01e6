package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/test/bench/benchrun"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// bigRepo is the plan part's repository, a bare repository under the
// daemon's root.
type bigRepo struct {
	name       string // its name under the daemon's root
	path       string
	base, head string // the last commit's parent, and the last commit
	env        string // the environment the last commit changes
	changed    string // the one file the last commit changes
}

// makeBigRepo generates a repository of files files and commits commits
// with `git fast-import`: the first commit adds every file (envs
// environments of two files each, common and policy files, and the rest as
// style files in folders of 200); each later commit changes one file, a
// quarter of them an environment's metadata.json; the last changes one
// environment's metadata.json by adding a layer.
func makeBigRepo(r *benchrun.Runner, s *setup, files, commits, envs int) *bigRepo {
	start := time.Now()
	b := &bigRepo{name: "big.git", path: filepath.Join(s.root, "big.git")}
	if _, err := runGit("", "init", "-q", "--bare", "-b", "main", b.path); err != nil {
		r.Fatalf("plan: %v", err)
	}
	cmd := exec.Command("git", "fast-import", "--quiet", "--done")
	cmd.Dir = b.path
	cmd.Env = gitserver.GitEnviron()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		r.Fatalf("plan: git fast-import: %v", err)
	}
	if err := cmd.Start(); err != nil {
		r.Fatalf("plan: git fast-import: %v", err)
	}
	b.env = envName(envs / 2)
	b.changed = "environments/" + b.env + "/metadata.json"
	werr := writeHistory(stdin, files, commits, envs, envs/2)
	stdin.Close()
	if err := cmd.Wait(); err != nil || werr != nil {
		r.Fatalf("plan: git fast-import: %v %v: %s", werr, err, stderr.String())
	}
	imported := time.Since(start)
	// A server's repository is packed; fast-import's pack is not a good one.
	if _, err := runGit(b.path, "repack", "-adq"); err != nil {
		r.Fatalf("plan: %v", err)
	}
	if b.head, err = runGit(b.path, "rev-parse", "refs/heads/main"); err != nil {
		r.Fatalf("plan: %v", err)
	}
	if b.base, err = runGit(b.path, "rev-parse", "refs/heads/main~1"); err != nil {
		r.Fatalf("plan: %v", err)
	}
	count, _ := runGit(b.path, "rev-list", "--count", "refs/heads/main")
	tree, _ := runGit(b.path, "ls-tree", "-r", "--name-only", "refs/heads/main")
	size, _ := runGit(b.path, "count-objects", "-vH")
	fmt.Fprintf(progress, "   generated %s in %v (fast-import %v, then repack): %s commits, %d files; %s\n",
		b.name, time.Since(start).Round(time.Millisecond), imported.Round(time.Millisecond), count,
		strings.Count(tree, "\n")+1, packSize(size))
	return b
}

// packSize picks the size-pack line of git count-objects -vH.
func packSize(countObjects string) string {
	for _, l := range strings.Split(countObjects, "\n") {
		if v, ok := strings.CutPrefix(l, "size-pack: "); ok {
			return "pack " + v
		}
	}
	return "pack size unknown"
}

func envName(i int) string { return fmt.Sprintf("env-%03d", i) }

// writeHistory writes the fast-import stream of makeBigRepo; the last
// commit adds a layer to environment number last.
func writeHistory(out io.Writer, files, commits, envs, last int) error {
	w := bufio.NewWriterSize(out, 1<<20)
	rng := rand.New(rand.NewPCG(2026, 5))
	styles := files - 2*envs - 2
	stylePath := func(i int) string { return fmt.Sprintf("styles/g%03d/style-%05d.json", i/200, i) }
	style := func(i, rev int) string {
		return fmt.Sprintf(`{"id": "style-%05d", "revision": %d, "stroke": "#%06x", "width": %d}`+"\n",
			i, rev, rng.IntN(1<<24), 1+rng.IntN(8))
	}
	const layers = 3
	revs := make([]int, envs)
	when := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
	commit := func(n int, msg string, files ...[2]string) {
		stamp := fmt.Sprintf("Honua Bench <bench@honua.invalid> %d +0000", when.Add(time.Duration(n)*time.Minute).Unix())
		fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\nauthor %s\ncommitter %s\ndata %d\n%s\n", n, stamp, stamp, len(msg), msg)
		for _, f := range files {
			fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n%s\n", f[0], len(f[1]), f[1])
		}
		w.WriteString("\n")
	}

	first := make([][2]string, 0, files)
	first = append(first,
		[2]string{"environments/common/shared-config.json", sharedConfigJSON},
		[2]string{".gitops/deployment-policy.yaml", policyYAML})
	for i := range envs {
		first = append(first,
			[2]string{"environments/" + envName(i) + "/metadata.json", metadataJSON(0, layers)},
			[2]string{"environments/" + envName(i) + "/datasources.json", sampleconfig.DataSources})
	}
	for i := range styles {
		first = append(first, [2]string{stylePath(i), style(i, 0)})
	}
	commit(1, "initial import", first...)
	for n := 2; n < commits; n++ {
		if n%4 == 0 {
			e := rng.IntN(envs)
			revs[e] = n
			commit(n, fmt.Sprintf("%s: retitle sample points", envName(e)),
				[2]string{"environments/" + envName(e) + "/metadata.json", metadataJSON(n, layers)})
			continue
		}
		i := rng.IntN(styles)
		commit(n, fmt.Sprintf("style %05d: revision %d", i, n), [2]string{stylePath(i), style(i, n)})
	}
	commit(commits, envName(last)+": add a layer",
		[2]string{"environments/" + envName(last) + "/metadata.json", metadataJSON(revs[last], layers+1)})
	w.WriteString("done\n")
	return w.Flush()
}
