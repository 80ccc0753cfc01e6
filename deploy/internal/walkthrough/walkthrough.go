// Package walkthrough reads the shell commands a Markdown page shows in
// its ```sh blocks (deploy/README.md), so that the deploy tests can run the
// very commands the page tells an operator to run, and check that what
// they make is what the manifests expect.
//
// It knows the little shell the walkthroughs use: comment lines, lines
// continued with a backslash, single and double quotes (their content
// kept as it is, $(...) included), and a redirection of standard output
// (> FILE). Anything else is a word.
package walkthrough

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Command is one command line of a walkthrough.
type Command struct {
	// Args are its words, quotes removed.
	Args []string
	// Stdout is the file its output is redirected to (> FILE), if any.
	Stdout string
	// Line is the line of the page it starts on, for messages.
	Line int
}

// String returns the command as the page shows it, roughly.
func (c Command) String() string {
	s := strings.Join(c.Args, " ")
	if c.Stdout != "" {
		s += " > " + c.Stdout
	}
	return s
}

// ErrNoSection is returned when the page has no section of that heading.
var ErrNoSection = errors.New("no such section")

// Commands returns the commands of the ```sh blocks in the section of page
// whose "## " heading is heading, in order.
func Commands(page []byte, heading string) ([]Command, error) {
	var (
		out               []Command
		inSection, inCode bool
		found             bool
		cur               strings.Builder
		start             int
	)
	sc := bufio.NewScanner(bytes.NewReader(page))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !inCode && strings.HasPrefix(line, "## "):
			inSection = strings.TrimSpace(line[3:]) == heading
			found = found || inSection
			continue
		case !inSection:
			continue
		case !inCode && trimmed == "```sh":
			inCode = true
			continue
		case inCode && trimmed == "```":
			if cur.Len() > 0 {
				return nil, fmt.Errorf("line %d: the block ends inside a continued command", n)
			}
			inCode = false
			continue
		case !inCode:
			continue
		case cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")):
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(trimmed)
		c, err := parse(cur.String())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		c.Line = start
		out = append(out, c)
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("## %s: %w", heading, ErrNoSection)
	}
	return out, nil
}

// parse splits one command line into words.
func parse(line string) (Command, error) {
	var (
		c       Command
		word    strings.Builder
		inWord  bool
		quote   rune
		pending bool // the next word is the redirection's file
	)
	flush := func() {
		if !inWord {
			return
		}
		w := word.String()
		switch {
		case pending:
			c.Stdout, pending = w, false
		default:
			c.Args = append(c.Args, w)
		}
		word.Reset()
		inWord = false
	}
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			flush()
		case r == '>' && !inWord:
			pending = true
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return Command{}, fmt.Errorf("unterminated %c quote in %q", quote, line)
	}
	flush()
	if pending {
		return Command{}, fmt.Errorf("> without a file in %q", line)
	}
	return c, nil
}

// Flag returns the values of a --name VALUE or --name=VALUE flag of c, in
// order.
func (c Command) Flag(name string) []string {
	var out []string
	for i, a := range c.Args {
		switch {
		case a == name && i+1 < len(c.Args):
			out = append(out, c.Args[i+1])
		case strings.HasPrefix(a, name+"="):
			out = append(out, a[len(name)+1:])
		}
	}
	return out
}

// HasPrefix reports whether c's words begin with prefix.
func (c Command) HasPrefix(prefix ...string) bool {
	if len(c.Args) < len(prefix) {
		return false
	}
	for i, p := range prefix {
		if c.Args[i] != p {
			return false
		}
	}
	return true
}

// ReadCertificate reads the first certificate of a PEM file, such as the
// ones the walkthroughs' `honuad tls` commands write.
func ReadCertificate(file string) (*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s holds no PEM block", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return c, nil
}
