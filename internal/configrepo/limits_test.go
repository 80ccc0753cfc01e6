package configrepo

import (
	"encoding/json"
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

// bigJSON is a valid JSON object of at least n bytes: one long string.
func bigJSON(n int) string {
	return `{"Blob": "` + strings.Repeat("x", n) + `"}`
}

func TestLoadRefusesAFileOverTheLimit(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name    string
		cfg     Config
		changes map[string]string
		file    string // the file refused
		want    []string
	}{
		{"default limit: a 20 MiB appsettings.json", Config{}, map[string]string{appFile: bigJSON(20 * mib)},
			appFile, []string{"20 MiB", "limit is 4.0 MiB per file", "--max-file-size"}},
		{"configured limit: metadata.json", Config{MaxFileSize: 512}, map[string]string{metaFile: validMetadataJSON},
			metaFile, []string{"(" + strconv.Itoa(len(validMetadataJSON)) + " bytes)", "limit is 512 B per file", "--max-file-size"}},
		{"a YAML file", Config{MaxFileSize: 100}, map[string]string{appFile: "", appYAML: validAppSettingsYAML},
			appYAML, []string{"limit is 100 B per file"}},
		{"the shared configuration", Config{MaxFileSize: 4096}, map[string]string{sharedFile: bigJSON(5000)},
			sharedFile, []string{"limit is 4.0 KiB per file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := with(validJSON, tt.changes)
			if tt.cfg.MaxFileSize > 0 {
				// Every other file fits.
				for name, data := range files {
					if name != tt.file && int64(len(data)) > tt.cfg.MaxFileSize {
						files[name] = "{}"
					}
				}
			}
			b, problems := tt.cfg.Load(repo(files), "prod")
			if b != nil || len(problems) != 1 {
				t.Fatalf("Load = %v, %v; want only the file over the limit refused", b != nil, problems)
			}
			p := problems[0]
			if p.File != tt.file || p.Line != 0 {
				t.Errorf("problem %q is about %s:%d; want the file %s as a whole", p, p.File, p.Line, tt.file)
			}
			for _, w := range tt.want {
				if !strings.Contains(p.Message, w) {
					t.Errorf("problem %q does not say %q", p, w)
				}
			}
		})
	}
}

func TestLoadAcceptsAFileAtTheLimit(t *testing.T) {
	files := with(validJSON, nil)
	var largest int64
	for _, data := range files {
		largest = max(largest, int64(len(data)))
	}
	if b, problems := (Config{MaxFileSize: largest}).Load(repo(files), "prod"); b == nil {
		t.Errorf("Load with files up to exactly the limit of %d bytes = %v; want a bundle", largest, problems)
	}
}

func TestLoadRefusesAnEnvironmentOverTheLimit(t *testing.T) {
	files := with(validJSON, map[string]string{sharedFile: bigJSON(600)})
	var total int
	for _, data := range files {
		total += len(data)
	}
	cfg := Config{MaxFileSize: 4096, MaxEnvironmentSize: int64(total - 1)}
	b, problems := cfg.Load(repo(files), "prod")
	if b != nil || len(problems) != 1 {
		t.Fatalf("Load = %v, %v; want the environment refused", b != nil, problems)
	}
	p := problems[0]
	if p.File != "environments/prod" {
		t.Errorf("problem %q is about %s; want environments/prod", p, p.File)
	}
	for _, w := range []string{"(" + strconv.Itoa(total) + " bytes)", "per environment", "--max-environment-size", "shared"} {
		if !strings.Contains(p.Message, w) {
			t.Errorf("problem %q does not say %q", p, w)
		}
	}
	cfg.MaxEnvironmentSize = int64(total)
	if b, problems := cfg.Load(repo(files), "prod"); b == nil {
		t.Errorf("Load with an environment of exactly the limit = %v; want a bundle", problems)
	}
}

// countingFS serves a MapFS and counts the bytes read from each file. It
// implements only fs.FS and fs.StatFS, so fs.ReadFile must go through Open
// and Read. lie, when set, makes Stat report that size for every file.
type countingFS struct {
	files fstest.MapFS
	lie   int64

	mu   sync.Mutex
	read map[string]int
}

func (c *countingFS) Open(name string) (fs.File, error) {
	f, err := c.files.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, fs: c, name: name}, nil
}

func (c *countingFS) Stat(name string) (fs.FileInfo, error) {
	fi, err := c.files.Stat(name)
	if err != nil || c.lie == 0 || fi.IsDir() {
		return fi, err
	}
	return lyingInfo{fi, c.lie}, nil
}

func (c *countingFS) bytesRead(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read[name]
}

type countingFile struct {
	fs.File
	fs   *countingFS
	name string
}

func (f *countingFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.fs.mu.Lock()
	f.fs.read[f.name] += n
	f.fs.mu.Unlock()
	return n, err
}

func (f *countingFile) Stat() (fs.FileInfo, error) {
	fi, err := f.File.Stat()
	if err != nil || f.fs.lie == 0 || fi.IsDir() {
		return fi, err
	}
	return lyingInfo{fi, f.fs.lie}, nil
}

type lyingInfo struct {
	fs.FileInfo
	size int64
}

func (i lyingInfo) Size() int64 { return i.size }

func TestLoadNeverReadsAFileOverTheLimitWhole(t *testing.T) {
	const limit = 4096
	big := bigJSON(1 << 20)
	for _, tt := range []struct {
		name string
		lie  int64 // what Stat says of every file's size; 0: the truth
	}{
		{"stat tells the size", 0},
		{"stat says every file is small", 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfs := &countingFS{files: repo(with(validJSON, map[string]string{appFile: big})), lie: tt.lie, read: map[string]int{}}
			b, problems := (Config{MaxFileSize: limit}).Load(cfs, "prod")
			if b != nil || len(problems) != 1 || problems[0].File != appFile {
				t.Fatalf("Load = %v, %v; want %s refused", b != nil, problems, appFile)
			}
			if n := cfs.bytesRead(appFile); n > limit+1 {
				t.Errorf("Load read %d bytes of the %d-byte %s; want at most the limit (%d) and one", n, len(big), appFile, limit)
			}
		})
	}
}

func TestReadPolicyOverTheLimit(t *testing.T) {
	policy := "apiVersion: honua.io/v1\nkind: DeploymentPolicy\n# " + strings.Repeat("x", 2000) + "\n"
	cfs := &countingFS{files: repo(map[string]string{PolicyPath: policy}), read: map[string]int{}}
	data, ok, err := (Config{MaxFileSize: 1024}).ReadPolicy(cfs)
	var p Problem
	if !errors.As(err, &p) || data != nil || !ok {
		t.Fatalf("ReadPolicy of a policy over the limit = %d bytes, %v, %v; want true and a Problem", len(data), ok, err)
	}
	if p.File != PolicyPath || !strings.Contains(p.Message, "limit is 1.0 KiB per file") {
		t.Errorf("ReadPolicy problem = %q; want it to name %s and the limit", p, PolicyPath)
	}
	if n := cfs.bytesRead(PolicyPath); n > 1025 {
		t.Errorf("ReadPolicy read %d bytes of the policy; want at most the limit and one", n)
	}
	if _, _, err := ReadPolicy(repo(map[string]string{PolicyPath: policy})); err != nil {
		t.Errorf("ReadPolicy under the default limit = %v; want the file", err)
	}
}

func TestProblemsQuoteLongValuesShortly(t *testing.T) {
	long := strings.Repeat("y", 100000)
	files := with(validJSON, map[string]string{metaFile: strings.Replace(validMetadataJSON, `"srid": 4326`, `"srid": "`+long+`"`, 1)})
	_, problems := Load(repo(files), "prod")
	if len(problems) != 1 {
		t.Fatalf("Load = %v; want one problem about srid", problems)
	}
	msg := problems[0].Message
	if len(msg) > 300 || !strings.Contains(msg, "100000") {
		t.Errorf("problem about a %d-character srid is %d bytes: %.200q…; want a short quote that gives the length", len(long), len(msg), msg)
	}
}

func TestNewReportIsBounded(t *testing.T) {
	var problems []Problem
	for i := range 1000 {
		problems = append(problems, Problem{File: metaFile, Line: i + 1, Column: 1, Path: "layers[" + strconv.Itoa(i) + "].srid",
			Message: "must be a positive integer, got " + strings.Repeat("z", 10000)})
	}
	r := NewReport(problems)
	if r.Valid || len(r.Problems) != MaxReportProblems || r.Omitted != 1000-MaxReportProblems {
		t.Errorf("NewReport(1000 problems) = valid %v, %d problems, %d omitted; want invalid, %d, %d",
			r.Valid, len(r.Problems), r.Omitted, MaxReportProblems, 1000-MaxReportProblems)
	}
	for _, p := range r.Problems {
		if len(p.Message) > maxProblemText || len(p.Text) > 2*maxProblemText {
			t.Fatalf("reported problem has a %d-byte message and %d-byte text; want at most %d", len(p.Message), len(p.Text), maxProblemText)
		}
		if !strings.Contains(p.Message, "…") {
			t.Fatalf("cut message %q does not say it was cut", p.Message)
		}
	}
	b, _ := json.Marshal(r)
	if len(b) > 256<<10 {
		t.Errorf("report of 1000 long problems is %d bytes; want it bounded", len(b))
	}
	if r := NewReport(problems[:3]); len(r.Problems) != 3 || r.Omitted != 0 {
		t.Errorf("NewReport(3 problems) = %d problems, %d omitted; want all 3", len(r.Problems), r.Omitted)
	}
}
