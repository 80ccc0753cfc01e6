package chaos

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// The checks of the target agents after a run read what each agent
// accepted from the agent itself: GET /v1/bundle (the served manifest,
// each file's SHA-256 and the durable highest token), the folder it
// switches (as its Honua server would read it), and its log, one "bundle
// served" line per bundle switched in, in the order it switched them. The
// proxy's record says who sent what, and what the agent answered; it is
// checked against the agent's log.

// agentViolations checks env's agent: it serves deployed (by its GET and
// by its folder, which check compares with the files want), its highest
// token is deployed's, its log shows every bundle it switched in with a
// higher token than the one before (an equal one only for the same bundle,
// a retry), the last one deployed, and it agrees with the proxy's record.
func (r *Run) agentViolations(env string, deployed served, want map[string]string, check func(target string, m *manifest, files map[string]string)) []string {
	a := r.agents[env]
	var out []string
	st, err := a.Status()
	switch {
	case err != nil:
		out = append(out, fmt.Sprintf("%s: %v", env, err))
	case st.Manifest == nil:
		out = append(out, fmt.Sprintf("%s: its target agent serves no bundle (GET /v1/bundle)", env))
	default:
		m := manifest{DeploymentID: st.Manifest.DeploymentID, Environment: st.Manifest.Environment, Commit: st.Manifest.Commit, FencingToken: st.Manifest.FencingToken}
		out = append(out, manifestViolations(env, "its target agent (GET /v1/bundle)", &m, deployed)...)
		if diff := diffFiles(st.Files, digests(want)); diff != "" {
			out = append(out, fmt.Sprintf("%s: its target agent's file digests (GET /v1/bundle) are not those of %.12s: %s", env, deployed.Commit, diff))
		}
		if st.HighestFencingToken != deployed.Token {
			out = append(out, fmt.Sprintf("%s: its target agent's highest accepted token is %d; the environment's last apply had token %d",
				env, st.HighestFencingToken, deployed.Token))
		}
	}
	if bundle, err := resolve(a.agent.Dir()); err != nil {
		out = append(out, fmt.Sprintf("%s: target agent's folder: %v", env, err))
	} else if m, files, err := readBundle(bundle); err != nil {
		out = append(out, fmt.Sprintf("%s: target agent's folder: %v", env, err))
	} else {
		check("its target agent's folder", m, files)
	}

	log, err := a.Served()
	if err != nil {
		return append(out, fmt.Sprintf("%s: %v", env, err))
	}
	v, retries := servedViolations(env, log, deployed)
	out = append(out, v...)
	out = append(out, r.proxyAgrees(env, log)...)
	r.note("targets: %s's agent switched in %d bundles (%d of them a retry with an equal token), refused %d PUTs with 409 (its log); tokens %s",
		env, len(log), retries, strings.Count(a.agent.Log(), `msg="bundle refused"`), tokenRange(log))
	return out
}

// servedViolations checks the bundles an agent's log says it switched in,
// in order: each token strictly above the one before, but for the same
// bundle again (a retry, counted), and the last one deployed.
func servedViolations(env string, log []served, deployed served) (out []string, retries int) {
	for i := 1; i < len(log); i++ {
		prev, cur := log[i-1], log[i]
		switch {
		case cur.Token < prev.Token:
			out = append(out, fmt.Sprintf("%s: its target agent served %s after %s: the token went down", env, cur, prev))
		case cur.Token == prev.Token && cur != prev:
			out = append(out, fmt.Sprintf("%s: its target agent served %s after %s: two bundles with one token", env, cur, prev))
		case cur.Token == prev.Token:
			retries++
		}
	}
	if len(log) == 0 {
		out = append(out, fmt.Sprintf("%s: its target agent's log shows no bundle served", env))
	} else if last := log[len(log)-1]; last != deployed {
		out = append(out, fmt.Sprintf("%s: the last bundle its target agent served (its log) is %s; want %s", env, last, deployed))
	}
	return out, retries
}

// proxyAgrees checks the proxy's record against the agent's log: every
// PUT the agent answered 200 is a bundle its log says it served, and every
// bundle it served came through the proxy.
func (r *Run) proxyAgrees(env string, log []served) []string {
	var out []string
	inLog := map[served]int{}
	for _, s := range log {
		inLog[s]++
	}
	sent := map[served]bool{}
	accepted := map[served]int{}
	for _, p := range r.agents[env].Puts() {
		s := served{DeploymentID: p.Manifest.DeploymentID, Commit: p.Manifest.Commit, Token: p.Token}
		sent[s] = true
		if p.Status == 200 {
			accepted[s]++
		}
	}
	for s, n := range accepted {
		if inLog[s] < n {
			out = append(out, fmt.Sprintf("%s: its target agent answered 200 to %d PUTs of %s; its log shows %d served", env, n, s, inLog[s]))
		}
	}
	for s := range inLog {
		if !sent[s] {
			out = append(out, fmt.Sprintf("%s: its target agent served %s, which no node PUT through the proxy", env, s))
		}
	}
	return out
}

// gateAgentViolations checks that a gate environment's agent was never
// sent a bundle and serves none.
func (r *Run) gateAgentViolations(env string) []string {
	a := r.agents[env]
	var out []string
	if puts := a.Puts(); len(puts) > 0 {
		out = append(out, fmt.Sprintf("%s: its target agent got %d PUTs; a gate never deploys: %s", env, len(puts), puts[0]))
	}
	st, err := a.Status()
	switch {
	case err != nil:
		out = append(out, fmt.Sprintf("%s: %v", env, err))
	case st.Manifest != nil || st.HighestFencingToken != 0:
		out = append(out, fmt.Sprintf("%s: its target agent serves %s with highest token %d; a gate never deploys",
			env, describeStatus(st), st.HighestFencingToken))
	}
	return out
}

// digests returns each file's SHA-256, lowercase hex, as an agent
// reports it.
func digests(files map[string]string) map[string]string {
	out := make(map[string]string, len(files))
	for name, content := range files {
		sum := sha256.Sum256([]byte(content))
		out[name] = hex.EncodeToString(sum[:])
	}
	return out
}

func tokenRange(log []served) string {
	if len(log) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d…%d", log[0].Token, log[len(log)-1].Token)
}
