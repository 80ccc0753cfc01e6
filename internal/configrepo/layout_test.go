package configrepo

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestEnvironments(t *testing.T) {
	long := strings.Repeat("a", 63)
	tooLong := strings.Repeat("a", 64)
	rule := "an environment name is 1 to 63 lowercase letters, digits and dashes, starting and ending with a letter or digit"
	tests := []struct {
		name         string
		files        map[string]string
		want         []string
		wantProblems []Problem
	}{
		{
			name: "sorted, common and files skipped",
			files: map[string]string{
				"environments/staging/metadata.json":      "{}",
				"environments/production/metadata.json":   "{}",
				"environments/dev-2/x":                    "",
				"environments/common/shared-config.json":  "{}",
				"environments/README.md":                  "",
				"environments/" + long + "/metadata.json": "{}",
				"environments/0/metadata.json":            "{}",
			},
			want: []string{"0", long, "dev-2", "production", "staging"},
		},
		{
			name: "invalid names reported",
			files: map[string]string{
				"environments/Prod/metadata.json":            "{}",
				"environments/-x/metadata.json":              "{}",
				"environments/x-/metadata.json":              "{}",
				"environments/a_b/metadata.json":             "{}",
				"environments/" + tooLong + "/metadata.json": "{}",
				"environments/.hidden/metadata.json":         "{}",
				"environments/ok/metadata.json":              "{}",
			},
			want: []string{"ok"},
			wantProblems: []Problem{
				{File: "environments", Message: `folder "-x" is not a valid environment name: ` + rule},
				{File: "environments", Message: `folder ".hidden" is not a valid environment name: ` + rule},
				{File: "environments", Message: `folder "Prod" is not a valid environment name: ` + rule},
				{File: "environments", Message: `folder "a_b" is not a valid environment name: ` + rule},
				{File: "environments", Message: `folder "` + tooLong + `" is not a valid environment name: ` + rule},
				{File: "environments", Message: `folder "x-" is not a valid environment name: ` + rule},
			},
		},
		{
			name:         "no environments folder",
			files:        map[string]string{"README.md": ""},
			wantProblems: []Problem{{File: "environments", Message: "folder is missing; each environment is a folder under environments/"}},
		},
		{
			name:  "only common",
			files: map[string]string{"environments/common/shared-config.json": "{}"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := Environments(repo(tt.files))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Environments = %q; want %q", got, tt.want)
			}
			assertProblems(t, problems, tt.wantProblems)
		})
	}
}

func TestValidEnvironmentName(t *testing.T) {
	for name, want := range map[string]bool{
		"production": true, "dev-2": true, "a": true, "0": true, strings.Repeat("a", 63): true,
		"": false, "common": false, "Prod": false, "-x": false, "x-": false, "a_b": false,
		"a/b": false, "..": false, strings.Repeat("a", 64): false, "prod\n": false,
	} {
		if got := ValidEnvironmentName(name); got != want {
			t.Errorf("ValidEnvironmentName(%q) = %v; want %v", name, got, want)
		}
	}
}

func TestReadPolicy(t *testing.T) {
	policy := "apiVersion: honua.io/v1\nkind: DeploymentPolicy\n"
	data, ok, err := ReadPolicy(repo(map[string]string{PolicyPath: policy}))
	if err != nil || !ok || string(data) != policy {
		t.Errorf("ReadPolicy = %q, %v, %v; want the file, true, nil", data, ok, err)
	}
	data, ok, err = ReadPolicy(repo(validJSON))
	if err != nil || ok || data != nil {
		t.Errorf("ReadPolicy without a policy = %q, %v, %v; want nil, false, nil", data, ok, err)
	}
	_, _, err = ReadPolicy(repo(map[string]string{PolicyPath + "/x": ""}))
	if err == nil {
		t.Errorf("ReadPolicy of a folder: want an error")
	}
}

func TestMergedSettings(t *testing.T) {
	shared := map[string]any{
		"Logging": map[string]any{"Level": "Information", "Console": true},
		"Cors":    []any{"a"},
		"Keep":    "shared",
	}
	app := map[string]any{
		"Logging": map[string]any{"Level": "Debug"},
		"Cors":    []any{"b"},
		"Keep":    nil,
		"Own":     1.0,
	}
	want := map[string]any{
		"Logging": map[string]any{"Level": "Debug", "Console": true},
		"Cors":    []any{"b"},
		"Keep":    nil,
		"Own":     1.0,
	}
	got := MergedSettings(shared, app)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MergedSettings = %#v; want %#v", got, want)
	}
	got.(map[string]any)["Logging"].(map[string]any)["Console"] = false
	if shared["Logging"].(map[string]any)["Console"] != true {
		t.Errorf("MergedSettings result shares maps with its argument")
	}
	if got := MergedSettings(shared, nil); !reflect.DeepEqual(got, shared) {
		t.Errorf("MergedSettings(shared, nil) = %#v; want the shared settings", got)
	}
	if got := MergedSettings(nil, app); !reflect.DeepEqual(got, app) {
		t.Errorf("MergedSettings(nil, app) = %#v; want the app settings", got)
	}
}

func TestProblemError(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: metaFile, Line: 12, Column: 7, Path: "layers[1].srid", Message: "must be a positive integer, got -3"},
			"environments/prod/metadata.json:12:7: layers[1].srid: must be a positive integer, got -3"},
		{Problem{File: metaFile, Message: "file is empty"}, "environments/prod/metadata.json: file is empty"},
		{Problem{File: metaFile, Line: 3, Message: "invalid YAML"}, "environments/prod/metadata.json:3: invalid YAML"},
		{Problem{Message: "bad name"}, "bad name"},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("Error() = %q; want %q", got, tt.want)
		}
	}
}
