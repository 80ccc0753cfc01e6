package configrepo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"unicode/utf8"

	"github.com/dustin/go-humanize"
)

// Default limits of a Config. A file of the repository is copied into the
// bundle every target receives and parsed whole in the leader's memory;
// these bound both, far above any real configuration (a metadata.json with
// a thousand layers is a few hundred KiB).
const (
	DefaultMaxFileSize        = 4 << 20
	DefaultMaxEnvironmentSize = 16 << 20
)

// Config bounds what Load and ReadPolicy read from a commit. Sizes are
// checked before a file is read: a file over its limit is refused as a
// Problem that names it and the limit, and never read into memory. The zero
// Config uses the defaults.
type Config struct {
	// MaxFileSize bounds each file: a bundle file or the deployment policy.
	// 0 means DefaultMaxFileSize.
	MaxFileSize int64
	// MaxEnvironmentSize bounds the files of one environment's bundle
	// together, the shared configuration included. 0 means
	// DefaultMaxEnvironmentSize.
	MaxEnvironmentSize int64
}

func (c Config) maxFile() int64 {
	if c.MaxFileSize > 0 {
		return c.MaxFileSize
	}
	return DefaultMaxFileSize
}

func (c Config) maxEnvironment() int64 {
	if c.MaxEnvironmentSize > 0 {
		return c.MaxEnvironmentSize
	}
	return DefaultMaxEnvironmentSize
}

// fileTooLarge is the message of a file over the per-file limit.
func (c Config) fileTooLarge(size int64) string {
	return fmt.Sprintf("file is %s; the limit is %s per file (honuad --max-file-size)", sizeText(size), humanize.IBytes(uint64(c.maxFile())))
}

// sizeText is "20 MiB (20971520 bytes)".
func sizeText(n int64) string {
	return fmt.Sprintf("%s (%d bytes)", humanize.IBytes(uint64(max(n, 0))), n)
}

// readLimited reads the regular file name whole when it is no larger than
// limit. It asks fs.Stat first, so that a file over the limit is never
// opened (an fs.FS may read a file whole on Open), and then trusts neither
// that size nor the file to stop: it reads at most limit+1 bytes. A file
// over the limit returns its size (as far as it is known) and errTooLarge.
func readLimited(fsys fs.FS, name string, limit int64) ([]byte, int64, error) {
	fi, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, 0, err
	}
	if fi.IsDir() {
		return nil, 0, errors.New("it is a folder, not a file")
	}
	if fi.Size() > limit {
		return nil, fi.Size(), errTooLarge
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, 0, err
	}
	if int64(len(data)) > limit {
		return nil, max(fi.Size(), int64(len(data))), errTooLarge
	}
	return data, int64(len(data)), nil
}

// errTooLarge: a file is over its limit; the caller says which.
var errTooLarge = errors.New("over the size limit")

// maxDepth bounds how deep the values of a file nest: a list or object
// inside more than this many others is a problem, and is not read. Real
// configuration nests a few levels; the bound keeps the paths problems
// name, and every walk over a document, in proportion to its size.
const maxDepth = 100

// Bounds of what a Report records.
const (
	// MaxReportProblems is how many problems a Report lists; it counts
	// the others in Omitted.
	MaxReportProblems = 100
	// maxProblemText bounds a recorded problem's file, path and message
	// each, in bytes.
	maxProblemText = 1024
	// maxQuote is how many characters of a string value a message quotes.
	maxQuote = 64
)

// truncate cuts s to at most n bytes at a character boundary, ending it
// with "…" when it cut something.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// quote quotes a string value for a message, its first maxQuote
// characters and its length when it is longer.
func quote(s string) string {
	n := utf8.RuneCountInString(s)
	if n <= maxQuote {
		return strconv.Quote(s)
	}
	i := 0
	for range maxQuote {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return strconv.Quote(s[:i]) + "… (" + strconv.Itoa(n) + " characters)"
}
