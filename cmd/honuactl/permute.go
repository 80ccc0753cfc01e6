package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// completionFlag is the flag urfave/cli's shell completion scripts append.
const completionFlag = "--generate-bash-completion"

// permute moves the flags that follow a command's arguments in front of
// them, so that `honuactl deployment staging-3 -o json` means what it says:
// urfave/cli, like Go's flag package, stops reading flags at a command's
// first argument. Everything after "--" stays an argument.
func permute(app *cli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	rest := args[1:]
	if len(rest) > 0 && rest[len(rest)-1] == completionFlag {
		// Completion looks at the words as typed. A "--" (a long flag
		// being typed) would turn it off, and urfave/cli would run the
		// command instead: never do that from a TAB.
		out := slices.Clone(args)
		for i, a := range out {
			if a == "--" {
				out[i] = "-"
			}
		}
		return out
	}
	out := []string{args[0]}
	i := 0
	for i < len(rest) {
		a := rest[i]
		if a == "--" || !isFlag(a) {
			break
		}
		out = append(out, a)
		if takesValue(app.Flags, a) && i+1 < len(rest) {
			out = append(out, rest[i+1])
			i++
		}
		i++
	}
	if i < len(rest) {
		if cmd := findCommand(app.Commands, rest[i]); cmd != nil {
			out = append(out, rest[i])
			out = append(out, permuteCommand(cmd, rest[i+1:])...)
		} else {
			out = append(out, rest[i:]...)
		}
	}
	return out
}

// permuteCommand reorders what follows cmd's name: its flags first, then
// its arguments; a first argument naming a subcommand starts that
// subcommand's part.
func permuteCommand(cmd *cli.Command, rest []string) []string {
	var flags, positional []string
	if wantsHelp(cmd, rest) {
		// urfave/cli takes an argument beside --help for a help topic:
		// show this command's help instead.
		return []string{"--help"}
	}
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i:]...)
			return append(flags, positional...)
		case isFlag(a):
			flags = append(flags, a)
			if takesValue(cmd.Flags, a) && i+1 < len(rest) {
				flags = append(flags, rest[i+1])
				i++
			}
		default:
			if len(positional) == 0 {
				if sub := findCommand(cmd.Subcommands, a); sub != nil {
					flags = append(flags, a)
					return append(flags, permuteCommand(sub, rest[i+1:])...)
				}
			}
			positional = append(positional, a)
		}
	}
	if len(positional) > 0 && len(flags) > 0 {
		// Arguments after the flags; "--" keeps one that looks like a
		// flag an argument.
		return append(append(flags, "--"), positional...)
	}
	return append(flags, positional...)
}

// wantsHelp reports whether -h or --help is among cmd's own flags in rest
// (not a subcommand's, not after "--").
func wantsHelp(cmd *cli.Command, rest []string) bool {
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			return false
		case a == "-h" || a == "--help" || a == "-help":
			return true
		case isFlag(a):
			if takesValue(cmd.Flags, a) {
				i++
			}
		case findCommand(cmd.Subcommands, a) != nil:
			return false
		}
	}
	return false
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// takesValue reports whether the flag a (as written on the command line)
// is one of flags that takes a value in the next argument.
func takesValue(flags []cli.Flag, a string) bool {
	name := strings.TrimLeft(a, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false // unknown flags (and -h, --help) take none
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
