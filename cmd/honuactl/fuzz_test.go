package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzDeploymentView shows a deployment whose plan and validation
// documents, and one of whose texts, are whatever a node sends: honuactl
// reads them as outside input. An empty document keeps the fixture's.
// Properties: no panic; honuactl exits OK, or refuses (exit 1) saying why
// on stderr; nothing it prints holds a control character a terminal would
// act on.
func FuzzDeploymentView(f *testing.F) {
	f.Add([]byte(nil), []byte(nil), "git-watcher")
	f.Add([]byte(`{"baseCommit":"2222","commit":"3333","plan":{"risk":"critical","breaking":true,"added":0,"modified":1,"removed":0,`+
		`"changes":[{"action":"modified","kind":"layer","path":"layers/x","breaking":true,"risk":"critical","reason":"r",`+
		`"diff":[{"field":"srid","from":4326,"to":{"bytes":5000,"sha256":"ab","prefix":"{"},"toSummarized":true,"risk":"high","breaking":true,"reason":"srid"}],`+
		`"omittedDiffs":3}],"truncated":true,"omittedChanges":9}}`),
		[]byte(`{"valid":false,"problems":[{"file":"metadata.json","line":1,"column":2,"path":"x","message":"bad","text":"t"}],"omitted":99}`),
		"mallory\x1b]0;pwned\x07")
	f.Add([]byte(`null`), []byte(`null`), "")
	f.Add([]byte(`{}`), []byte(`{}`), "\u202e")
	f.Add([]byte(`{"plan":{"risk":"unknown-risk"}}`), []byte(`{"problems":null}`), "\x9b2J")
	f.Add([]byte(`{"plan":{"changes":[{"diff":[{"from":{"a":[1,{"b":"\u001b[2J"}]},"to":null}]}]}}`), []byte(`[]`), "a\r\nb")
	f.Add([]byte(`[1,2]`), []byte(`"x"`), "x")
	f.Add([]byte(`{"plan":{"changes":[{"path":"`+strings.Repeat("p", 5000)+`"}]}}`), []byte(`{"problems":[{}]}`), strings.Repeat("w", 5000))
	f.Add([]byte(`{"plan":`+strings.Repeat("[", 300)+strings.Repeat("]", 300)+`}`), []byte(`{"valid":true}`), "")
	f.Fuzz(func(t *testing.T, planDoc, validation []byte, text string) {
		for _, doc := range [][]byte{planDoc, validation} {
			if len(doc) > 0 && !json.Valid(doc) {
				return // a node sends JSON, or its answer does not decode at all
			}
		}
		fx := newFakeAPI(t)
		fx.mu.Lock()
		d := fx.deployments["staging-3"]
		if len(planDoc) > 0 {
			d.Plan = planDoc
		}
		if len(validation) > 0 {
			d.Validation = validation
		}
		d.Initiator = text
		d.Transitions[len(d.Transitions)-1].Message = text
		fx.mu.Unlock()
		for _, args := range [][]string{{"deployment", "staging-3", "-v"}, {"diff", "staging-3"}} {
			r := fx.ctl(t, args...)
			if r.code != exitOK && (r.code != exitRefused || strings.TrimSpace(r.stderr) == "") {
				t.Fatalf("honuactl %s with plan %q, validation %q:\n%s", strings.Join(args, " "), planDoc, validation, r)
			}
			if c, i, ok := rawControl(r.stdout + r.stderr); ok {
				t.Fatalf("honuactl %s printed %U raw at byte %d:\n%q", strings.Join(args, " "), c, i, r.stdout+r.stderr)
			}
		}
	})
}
