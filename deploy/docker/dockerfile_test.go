package docker

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN...
	args string
	line int
}

// stage is the instructions from one FROM to the next.
type stage struct {
	from  string // the image, build arguments expanded
	name  string // AS name
	instr []instruction
}

// parseDockerfile reads the instructions of a Dockerfile: comments and
// blank lines dropped, lines ending in \ joined. It knows the subset of
// the syntax that this Dockerfile uses.
func parseDockerfile(src string) ([]instruction, error) {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, errors.New("the last instruction ends with a continuation")
	}
	return out, nil
}

// stages splits the instructions into build stages, expanding the global
// ARG defaults in FROM lines.
func stages(instrs []instruction) ([]stage, map[string]string) {
	global := map[string]string{}
	var out []stage
	for _, in := range instrs {
		switch {
		case in.cmd == "ARG" && len(out) == 0:
			k, v, _ := strings.Cut(in.args, "=")
			global[k] = v
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			s := stage{from: os.Expand(f[0], func(k string) string { return global[k] })}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			out = append(out, s)
		case len(out) > 0:
			out[len(out)-1].instr = append(out[len(out)-1].instr, in)
		}
	}
	return out, global
}

func readDockerfile(t *testing.T) []stage {
	t.Helper()
	src, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	instrs, err := parseDockerfile(string(src))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	st, _ := stages(instrs)
	return st
}

// find returns the stage's instructions of kind cmd.
func (s stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instr {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// env returns the stage's ARG defaults and ENV values, in order.
func (s stage) env() []string {
	var out []string
	for _, in := range s.instr {
		if in.cmd == "ARG" || in.cmd == "ENV" {
			if k, v, ok := strings.Cut(in.args, "="); ok {
				out = append(out, k+"="+strings.Trim(v, `"`))
			}
		}
	}
	return out
}

// goBuilds returns the build stage's RUN commands that run go build, with
// the RUN options (--mount=...) taken off.
func (s stage) goBuilds() []string {
	var out []string
	for _, in := range s.find("RUN") {
		args := in.args
		for strings.HasPrefix(args, "--") {
			_, args, _ = strings.Cut(args, " ")
			args = strings.TrimSpace(args)
		}
		if strings.Contains(args, "go build") {
			out = append(out, args)
		}
	}
	return out
}

// TestDockerfile reads the Dockerfile (no Docker engine here to build it):
// a Go build stage making a static binary, and a minimal final stage
// running honuad as a non-root user.
func TestDockerfile(t *testing.T) {
	st := readDockerfile(t)
	if len(st) != 2 {
		t.Fatalf("Dockerfile has %d stages; want 2 (build and final)", len(st))
	}
	build, final := st[0], st[1]
	if !strings.HasPrefix(build.from, "golang:1.26") || build.name == "" {
		t.Errorf("build stage FROM %s AS %q; want golang:1.26 with a name", build.from, build.name)
	}
	if !slices.Contains(build.env(), "CGO_ENABLED=0") {
		t.Errorf("build stage does not set CGO_ENABLED=0 (ARG/ENV: %v): the binary would need libc", build.env())
	}
	runs := build.goBuilds()
	if len(runs) == 0 {
		t.Fatal("build stage runs no go build")
	}
	for _, flag := range []string{"-trimpath", "-s -w", "-X main.version=${VERSION}", "./cmd/honuad"} {
		if !strings.Contains(strings.Join(runs, "\n"), flag) {
			t.Errorf("the go build commands lack %q:\n%s", flag, strings.Join(runs, "\n"))
		}
	}

	minimal := strings.HasPrefix(final.from, "gcr.io/distroless/static") || final.from == "scratch"
	if !minimal {
		t.Errorf("final stage FROM %s; want distroless static or scratch", final.from)
	}
	if final.find("RUN") != nil {
		t.Errorf("final stage has RUN instructions; a minimal base has no shell")
	}
	users := final.find("USER")
	if len(users) == 0 {
		t.Fatal("final stage sets no USER")
	}
	user, _, _ := strings.Cut(users[len(users)-1].args, ":")
	if user == "" || user == "0" || user == "root" {
		t.Errorf("final stage USER %q; want a non-root user", users[len(users)-1].args)
	}
	var copied []string
	for _, in := range final.find("COPY") {
		if strings.Contains(in.args, "--from="+build.name) {
			copied = append(copied, strings.Fields(in.args)...)
		}
	}
	if !slices.Contains(copied, "/out/honuad") {
		t.Errorf("final stage does not COPY /out/honuad from the build stage: %v", copied)
	}
	eps := final.find("ENTRYPOINT")
	if len(eps) != 1 {
		t.Fatalf("final stage has %d ENTRYPOINTs; want 1", len(eps))
	}
	var ep []string
	if err := json.Unmarshal([]byte(eps[0].args), &ep); err != nil || len(ep) == 0 {
		t.Fatalf("ENTRYPOINT %s: want the exec form, a JSON array (%v)", eps[0].args, err)
	}
	if path.Base(ep[0]) != "honuad" {
		t.Errorf("ENTRYPOINT %q; want honuad", ep)
	}
	var cmd []string
	if cmds := final.find("CMD"); len(cmds) != 1 || json.Unmarshal([]byte(cmds[0].args), &cmd) != nil || !slices.Equal(cmd, []string{"agent"}) {
		t.Errorf("CMD = %v; want [\"agent\"]", cmd)
	}
}

// TestDockerfileBuildCommand runs the build stage's go build commands here,
// with its ARG and ENV values and /out in a temporary directory, and checks
// that they make static binaries that report the version they were given.
func TestDockerfileBuildCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds honuad and honuactl; skipped with -short")
	}
	build := readDockerfile(t)[0]
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	out := t.TempDir()
	env := append(os.Environ(), build.env()...)
	env = append(env, "VERSION=v9.9.9-dockerfile-test")
	for _, run := range build.goBuilds() {
		cmd := exec.Command("sh", "-c", strings.ReplaceAll(run, "/out/", out+"/"))
		cmd.Dir, cmd.Env = root, env
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", run, err, b)
		}
	}
	for _, bin := range []string{"honuad", "honuactl"} {
		p := filepath.Join(out, bin)
		f, err := elf.Open(p)
		if err != nil {
			t.Errorf("%s: %v", bin, err)
			continue
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("%s has a program interpreter: it is not static", bin)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s links %v: it is not static", bin, libs)
		}
		f.Close()
		// honuad --version; honuactl version (which also asks a server:
		// none answers at port 1).
		args := map[string][]string{"honuad": {"--version"}, "honuactl": {"--addr", "127.0.0.1:1", "version"}}[bin]
		v, err := exec.Command(p, args...).CombinedOutput()
		if err != nil || !bytes.Contains(v, []byte("v9.9.9-dockerfile-test")) {
			t.Errorf("%s %s = %q (%v); want the VERSION build argument", bin, strings.Join(args, " "), v, err)
		}
	}
}

func TestParseDockerfile(t *testing.T) {
	src := "# c\nARG A=1\nFROM img:${A} AS b\nRUN --mount=type=cache,target=/x \\\n    go build \\\n    # inside\n    -o /out/x .\nFROM scratch\n"
	instrs, err := parseDockerfile(src)
	if err != nil {
		t.Fatal(err)
	}
	st, global := stages(instrs)
	if global["A"] != "1" || len(st) != 2 || st[0].from != "img:1" || st[0].name != "b" || st[1].from != "scratch" {
		t.Fatalf("stages = %+v, args %v", st, global)
	}
	if got := st[0].goBuilds(); len(got) != 1 || !regexp.MustCompile(`^go build +-o /out/x \.$`).MatchString(got[0]) {
		t.Errorf("goBuilds = %q", got)
	}
}
