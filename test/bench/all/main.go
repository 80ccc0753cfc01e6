// Command all runs every bench quietly, one after the other, and prints one
// table of their headline figures, each with its goal (issue 17's table)
// and the reference it was compared against in the same run:
//
//	go run ./test/bench/all                 # make bench-all
//	go run ./test/bench/all -only api,state -soak 2m
//
// Each bench is built once and run with -figures FILE, which it appends its
// figures to (package figures); its own output goes to a log file under
// -logs, named in the table when a bench fails. Nothing here asserts a
// figure: the table says which goals were met on this machine, this run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/honua-io/honua-gitops/test/bench/figures"
)

// run is one bench invocation.
type run struct {
	name string   // as -only names it
	pkg  string   // the bench's package, under test/bench
	args []string // its flags, after -figures
}

// runs are the benches in the order of issue 17's table.
func runs(soak time.Duration) []run {
	return []run{
		{name: "api", pkg: "api", args: []string{"-quiet"}},
		// Both profiles, 20 kills each, then the soak of the last (lan).
		{name: "failover", pkg: "failover", args: []string{"-kills", "20", "-raft-profile", "default,lan", "-soak", soak.String()}},
		{name: "pipeline", pkg: "pipeline", args: []string{"-quick", "-quiet"}},
		{name: "state", pkg: "state"},
		{name: "state-large", pkg: "state", args: []string{"-large"}},
	}
}

func main() {
	only := flag.String("only", "", "run only these benches, comma-separated (api, failover, pipeline, state, state-large)")
	soak := flag.Duration("soak", 10*time.Minute, "how long the failover bench runs a write load on a cluster with --raft-profile lan, counting leader changes")
	logs := flag.String("logs", "", "directory for each bench's output (default: a new temporary directory, kept)")
	flag.Parse()
	log.SetFlags(log.Ltime)

	todo := runs(*soak)
	if *only != "" {
		want := strings.Split(*only, ",")
		todo = slices.DeleteFunc(todo, func(r run) bool { return !slices.Contains(want, r.name) })
		if len(todo) != len(want) {
			log.Fatalf("-only %q names a bench that does not exist", *only)
		}
	}
	dir := *logs
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "honua-bench-all-"); err != nil {
			log.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	bins, err := build(ctx, dir, todo)
	if err != nil {
		log.Fatal(err)
	}
	figFile := filepath.Join(dir, "figures.jsonl")
	var failed []string
	for _, r := range todo {
		logName := filepath.Join(dir, r.name+".log")
		start := time.Now()
		log.Printf("running %s (output in %s)", r.name, logName)
		if err := runOne(ctx, bins[r.pkg], figFile, logName, r.args); err != nil {
			log.Printf("%s failed after %v: %v", r.name, time.Since(start).Round(time.Second), err)
			failed = append(failed, fmt.Sprintf("%s (%v; see %s)", r.name, err, logName))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		log.Printf("%s done in %v", r.name, time.Since(start).Round(time.Second))
	}
	f, err := os.Open(figFile)
	var all []figures.Figure
	if err == nil {
		all, err = figures.Read(f)
		f.Close()
	}
	if err != nil && !os.IsNotExist(err) {
		log.Fatal(err)
	}
	print(os.Stdout, all, failed)
	if len(failed) > 0 {
		os.Exit(1)
	}
}

// build compiles each bench once, so that no bench's time includes a
// compilation.
func build(ctx context.Context, dir string, todo []run) (map[string]string, error) {
	bins := map[string]string{}
	for _, r := range todo {
		if bins[r.pkg] != "" {
			continue
		}
		out := filepath.Join(dir, "bench-"+r.pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./test/bench/"+r.pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build test/bench/%s: %w", r.pkg, err)
		}
		bins[r.pkg] = out
	}
	return bins, nil
}

// runOne runs a bench binary with its figures going to figFile and all its
// output to logName.
func runOne(ctx context.Context, bin, figFile, logName string, args []string) error {
	out, err := os.Create(logName)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-figures", figFile}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	// SIGTERM first, so that the bench's cleanups stop its nodes.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	return cmd.Run()
}

// print writes the table of figures, then the benches that failed.
func print(w io.Writer, all []figures.Figure, failed []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "bench\tfigure\tmeasured\tgoal\tverdict\treference\tratio")
	met := 0
	goals := 0
	for _, f := range all {
		verdict, ratio := "-", ""
		if f.Goal != "" {
			goals++
			verdict = "NOT met"
			if f.Met {
				verdict = "met"
				met++
			}
		}
		if f.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f×", f.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Bench, f.Name, f.Measured, f.Goal, verdict, f.Reference, ratio)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d of %d goals met on this machine, this run.\n", met, goals)
	for _, f := range failed {
		fmt.Fprintf(w, "FAILED: %s\n", f)
	}
}
