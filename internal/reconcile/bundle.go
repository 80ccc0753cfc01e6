package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/honua-io/honua-gitops/internal/target"
)

// buildBundle assembles what an environment's targets receive for commit:
// its files with environments/common/shared-config.json, and the manifest.
// JSON files go byte for byte as they are in the repository; a file written
// in YAML is converted, so the server always reads JSON.
func (r *Reconciler) buildBundle(ctx context.Context, env, commit string, m target.Manifest) (*target.Bundle, error) {
	fsys, err := r.commitFS(ctx, commit)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", short(commit), err)
	}
	b, problems := r.cfg.ConfigRepo.Load(fsys, env)
	if b == nil {
		var texts []string
		for _, p := range problems[:min(len(problems), maxSummaryProblems)] {
			texts = append(texts, p.Error())
		}
		return nil, fmt.Errorf("commit %s does not validate (%d problems): %s", short(commit), len(problems), strings.Join(texts, "; "))
	}
	docs := map[string]any{
		"metadata": b.Metadata, "datasources": b.DataSources, "appsettings": b.AppSettings, "shared-config": b.SharedConfig,
	}
	files := map[string][]byte{}
	for name, data := range b.Files {
		ext := path.Ext(name)
		base := strings.TrimSuffix(name, ext)
		if ext == ".json" {
			files[name] = data
			continue
		}
		doc, ok := docs[base]
		if !ok {
			return nil, fmt.Errorf("bundle file %s: no parsed document to convert", name)
		}
		j, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("convert %s to JSON: %w", name, err)
		}
		files[base+".json"] = append(j, '\n')
	}
	bundle := &target.Bundle{Manifest: m, Files: files}
	if err := bundle.Validate(); err != nil {
		return nil, err
	}
	return bundle, nil
}
