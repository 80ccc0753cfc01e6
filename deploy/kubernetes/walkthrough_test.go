package kubernetes

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/honua-io/honua-gitops/deploy/internal/walkthrough"
	"github.com/honua-io/honua-gitops/test/harness"
)

// walkthroughSecrets are the Secrets deploy/README.md's Kubernetes
// walkthrough creates, by name, each key's content in a local file.
type walkthroughSecrets map[string]map[string]string

// runWalkthrough runs the bin/honuad commands of deploy/README.md's
// Kubernetes walkthrough, as the page shows them, in a temporary directory
// with the honuad built from this tree, and returns the Secrets its
// kubectl create secret commands would make of what they wrote. A key is
// left out when its content is not the walkthrough's to make (the
// operator's tokens.yaml, git token, openssl's webhook secrets).
func runWalkthrough(t *testing.T, namespace string) walkthroughSecrets {
	t.Helper()
	return runSections(t, walkthroughSection{"Kubernetes", namespace})
}

// walkthroughSection is a "## " section of deploy/README.md and the
// namespace its Secrets must be created in.
type walkthroughSection struct{ heading, namespace string }

// runSections is runWalkthrough for the sections given, run in order in
// one directory (a later one uses what an earlier one made).
func runSections(t *testing.T, sections ...walkthroughSection) walkthroughSecrets {
	t.Helper()
	page, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	type command struct {
		walkthrough.Command
		namespace string
	}
	var cmds []command
	for _, sec := range sections {
		cs, err := walkthrough.Commands(page, sec.heading)
		if err != nil {
			t.Fatalf("deploy/README.md: %v", err)
		}
		for _, c := range cs {
			cmds = append(cmds, command{c, sec.namespace})
		}
	}
	bin, dir := harness.Build(t), t.TempDir()
	honuad := func(c walkthrough.Command, args []string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("deploy/README.md line %d: %s: %v\n%s", c.Line, c, err, errText(err))
		}
		return out
	}
	write := func(name string, content []byte) string {
		t.Helper()
		p := filepath.Join(dir, "literal-"+name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secrets := walkthroughSecrets{}
	for _, cn := range cmds {
		c, namespace := cn.Command, cn.namespace
		switch {
		case c.HasPrefix("bin/honuad"):
			out := honuad(c, c.Args[1:])
			if c.Stdout != "" {
				if err := os.WriteFile(filepath.Join(dir, c.Stdout), out, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		case c.HasPrefix("kubectl", "-n") && len(c.Args) > 6 && strings.Join(c.Args[3:6], " ") == "create secret generic":
			if c.Args[2] != namespace {
				t.Errorf("deploy/README.md line %d creates a Secret in namespace %q; the kustomization's is %q", c.Line, c.Args[2], namespace)
			}
			name := c.Args[6]
			keys := map[string]string{}
			for _, f := range c.Flag("--from-file") {
				key, p, _ := strings.Cut(f, "=")
				if local := filepath.Join(dir, p); fileExists(local) {
					keys[key] = local
				}
			}
			for _, l := range c.Flag("--from-literal") {
				key, v, _ := strings.Cut(l, "=")
				inner, ok := strings.CutPrefix(v, "$(bin/honuad ")
				switch {
				case ok && strings.HasSuffix(inner, ")"):
					out := honuad(c, strings.Fields(strings.TrimSuffix(inner, ")")))
					keys[key] = write(name+"-"+key, []byte(strings.TrimRight(string(out), "\n")))
				case !strings.Contains(v, "$("):
					keys[key] = write(name+"-"+key, []byte(v))
				}
			}
			secrets[name] = keys
		}
	}
	return secrets
}

// podFiles maps the path of each file the pod would see in a mounted
// Secret the walkthrough fills to the local file holding its content.
func podFiles(sts *appsv1.StatefulSet, secrets walkthroughSecrets) map[string]string {
	files := map[string]string{}
	for _, c := range sts.Spec.Template.Spec.Containers {
		for _, m := range c.VolumeMounts {
			for _, v := range sts.Spec.Template.Spec.Volumes {
				if v.Name != m.Name || v.Secret == nil {
					continue
				}
				for key, local := range secrets[v.Secret.SecretName] {
					files[path.Join(m.MountPath, key)] = local
				}
			}
		}
	}
	return files
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// errText returns the standard error of a failed command, if it kept it.
func errText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// TestWalkthroughCreatesEverySecret checks that deploy/README.md tells
// the operator to create every Secret the StatefulSet mounts.
func TestWalkthroughCreatesEverySecret(t *testing.T) {
	b := build(t)
	sts := one(t, "StatefulSet", b.statefulSets)
	secrets := runWalkthrough(t, b.namespaces["StatefulSet/"+sts.Name])
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		if _, ok := secrets[v.Secret.SecretName]; !ok {
			t.Errorf("the StatefulSet mounts Secret %s, which deploy/README.md's walkthrough does not create", v.Secret.SecretName)
		}
	}
}
