package docs

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// help is what a command's --help says.
type help struct {
	flags    []helpFlag
	commands []string
}

// helpFlag is one flag of a --help.
type helpFlag struct {
	name       string   // without dashes: "output"
	aliases    []string // without dashes: ["o"]
	env        []string // environment variables it is read from
	def        string   // the default shown, unquoted; "" when none
	takesValue bool
}

func (h *help) flag(name string) (helpFlag, bool) {
	for _, f := range h.flags {
		if f.name == name || slices.Contains(f.aliases, name) {
			return f, true
		}
	}
	return helpFlag{}, false
}

var (
	helpMu    sync.Mutex
	helpCache = map[string]*help{}

	flagNameRE  = regexp.MustCompile(`-{1,2}[A-Za-z0-9][A-Za-z0-9-]*`)
	helpLineRE  = regexp.MustCompile(`^\s+(-.*?)\s{2,}(.*)$`)
	envRE       = regexp.MustCompile(`\[(\$[A-Z0-9_]+(?:, \$[A-Z0-9_]+)*)\]`)
	usageEnvRE  = regexp.MustCompile(`\(env (HONUA_[A-Z0-9_]+)\)`)
	defaultRE   = regexp.MustCompile(`\(default: ([^)]*)\)`)
	commandLine = regexp.MustCompile(`^\s+([a-z][a-z0-9-]*)(?:, [a-z]+)?\s{2,}`)
)

// helpOf runs "bin args... --help" and parses it.
func helpOf(t *testing.T, bin string, args ...string) *help {
	t.Helper()
	key := bin + " " + strings.Join(args, " ")
	helpMu.Lock()
	defer helpMu.Unlock()
	if h, ok := helpCache[key]; ok {
		return h
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t, bin), append(slices.Clone(args), "--help")...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", key, err, out)
	}
	h := parseHelp(string(out))
	if len(h.flags) == 0 {
		t.Fatalf("%s --help lists no flags:\n%s", key, out)
	}
	helpCache[key] = h
	return h
}

// parseHelp reads urfave/cli's help: the OPTIONS (or GLOBAL OPTIONS) and
// COMMANDS sections.
func parseHelp(out string) *help {
	h := &help{}
	section := ""
	for _, line := range strings.Split(out, "\n") {
		if line != "" && line[0] != ' ' {
			section = strings.TrimSuffix(line, ":")
			continue
		}
		switch section {
		case "OPTIONS", "GLOBAL OPTIONS":
			m := helpLineRE.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			var f helpFlag
			for _, n := range flagNameRE.FindAllString(m[1], -1) {
				n = strings.TrimLeft(n, "-")
				switch {
				case f.name == "":
					f.name = n
				case n != f.name && !slices.Contains(f.aliases, n):
					f.aliases = append(f.aliases, n)
				}
			}
			f.takesValue = strings.Contains(m[1], " value")
			usage := m[2]
			if e := envRE.FindStringSubmatch(usage); e != nil {
				for _, v := range strings.Split(e[1], ", ") {
					f.env = append(f.env, strings.TrimPrefix(v, "$"))
				}
			}
			for _, e := range usageEnvRE.FindAllStringSubmatch(usage, -1) {
				f.env = append(f.env, e[1])
			}
			if d := defaultRE.FindAllStringSubmatch(usage, -1); d != nil {
				f.def = strings.Trim(d[len(d)-1][1], `"`)
			}
			h.flags = append(h.flags, f)
		case "COMMANDS":
			if m := commandLine.FindStringSubmatch(line); m != nil && m[1] != "help" {
				h.commands = append(h.commands, m[1])
			}
		}
	}
	return h
}

// flagTable returns the rows of a page's flag table under a section,
// keyed by the flag's name without dashes.
func flagTable(t *testing.T, name, section string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, row := range table(t, name, section, "flag") {
		names := flagNameRE.FindAllString(row["flag"], -1)
		if len(names) == 0 {
			t.Errorf("docs/%s, section %q: row without a flag: %v", name, section, row)
			continue
		}
		primary := strings.TrimLeft(names[0], "-")
		if _, dup := out[primary]; dup {
			t.Errorf("docs/%s, section %q: --%s is listed twice", name, section, primary)
		}
		out[primary] = row
	}
	return out
}

// checkFlagTable compares a documented flag table with a --help: the same
// flags (but --help), aliases, environment variables and defaults.
func checkFlagTable(t *testing.T, where string, h *help, rows map[string]map[string]string) {
	t.Helper()
	for _, f := range h.flags {
		if f.name == "help" {
			continue
		}
		row, ok := rows[f.name]
		if !ok {
			t.Errorf("%s does not document --%s", where, f.name)
			continue
		}
		var aliases []string
		for _, n := range flagNameRE.FindAllString(row["flag"], -1)[1:] {
			aliases = append(aliases, strings.TrimLeft(n, "-"))
		}
		if !sameSet(aliases, f.aliases) {
			t.Errorf("%s: --%s has aliases %v; --help says %v", where, f.name, aliases, f.aliases)
		}
		var env []string
		if v := row["environment variable"]; v != "" {
			env = strings.Split(strings.ReplaceAll(v, " ", ""), ",")
		}
		if !sameSet(env, f.env) {
			t.Errorf("%s: --%s is read from %v; --help says %v", where, f.name, env, f.env)
		}
		if got := row["default"]; got != f.def {
			t.Errorf("%s: --%s defaults to %q; --help says %q", where, f.name, got, f.def)
		}
	}
	for name := range rows {
		if _, ok := h.flag(name); !ok || name == "help" {
			t.Errorf("%s documents --%s, which the command does not have", where, name)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// checkCommandLine checks one documented honuad or honuactl command line:
// its commands exist and so do its flags.
func checkCommandLine(t *testing.T, line string) error {
	t.Helper()
	tokens := strings.Fields(line)
	bin := tokens[0][strings.LastIndexByte(tokens[0], '/')+1:]
	top := helpOf(t, bin)
	h := top
	var path []string
	args := false // an argument was seen: no more subcommands
	for i := 1; i < len(tokens); i++ {
		tok := strings.Trim(tokens[i], "[]`.,)")
		switch {
		case tok == "" || tok == "-" || tok == "--" || tok == "...":
		case strings.HasPrefix(tok, "-"):
			name, _, hasValue := strings.Cut(strings.TrimLeft(tok, "-"), "=")
			f, ok := h.flag(name)
			if !ok && bin == "honuactl" {
				f, ok = top.flag(name)
			}
			if !ok {
				return fmt.Errorf("%s %s has no flag %s", bin, strings.Join(path, " "), tok)
			}
			if f.takesValue && !hasValue {
				i++
			}
		case !args && slices.Contains(h.commands, tok):
			path = append(path, tok)
			h = helpOf(t, bin, path...)
		case !args && len(h.commands) > 0 && !strings.HasPrefix(tok, "<"):
			return fmt.Errorf("%s %s has no command %q (it has %v)", bin, strings.Join(path, " "), tok, h.commands)
		default:
			args = true
		}
	}
	if len(path) == 0 && len(tokens) > 1 && !strings.HasPrefix(tokens[1], "-") {
		return fmt.Errorf("no %s command in it", bin)
	}
	return nil
}
