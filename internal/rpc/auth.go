package rpc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"go.yaml.in/yaml/v3"

	"github.com/honua-io/honua-gitops/internal/filewatch"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Role is what a token may do.
type Role int

// The roles, each allowed what the ones before it are.
const (
	// RoleViewer reads.
	RoleViewer Role = iota + 1
	// RoleApprover also approves, rejects, rolls back and syncs (within
	// the policy's approver groups).
	RoleApprover
	// RoleAdmin also removes cluster members.
	RoleAdmin
)

var roleNames = map[string]Role{"viewer": RoleViewer, "approver": RoleApprover, "admin": RoleAdmin}

// String returns the role's name.
func (r Role) String() string {
	for n, v := range roleNames {
		if v == r {
			return n
		}
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// ParseRole parses viewer, approver or admin.
func ParseRole(s string) (Role, error) {
	if r, ok := roleNames[s]; ok {
		return r, nil
	}
	return 0, fmt.Errorf("role %q is not viewer, approver or admin", s)
}

// Identity is who a request comes from: a token's name, role and groups.
type Identity struct {
	Name   string
	Role   Role
	Groups []string
}

// anonymous is the identity of every request when authentication is off.
// It may do anything: it is an admin, and in fsm.EveryGroup, so also in
// every approver group — for the FSM too, which checks an approver's
// groups again.
var anonymous = &Identity{Name: "anonymous", Role: RoleAdmin, Groups: []string{fsm.EveryGroup}}

type identityKey struct{}

func withIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// identityOf returns the request's authenticated identity.
func identityOf(r *http.Request) *Identity {
	id, _ := r.Context().Value(identityKey{}).(*Identity)
	if id == nil {
		return anonymous
	}
	return id
}

// Tokens authenticates bearer tokens against a tokens file, which holds
// only each token's SHA-256. A nil *Tokens means authentication is off.
//
// Reload reads the file again and swaps the new tokens in atomically: a
// request is checked against the old list or the new one, never a mix. A
// file that does not load keeps the current tokens. Watch reloads when the
// file changes on disk; the agent also reloads on SIGHUP.
type Tokens struct {
	path string
	mu   sync.Mutex // serialises Reload
	cur  atomic.Pointer[tokenSet]
}

// tokenSet is one loaded tokens file, never changed after.
type tokenSet struct {
	byHash map[[sha256.Size]byte]*Identity
	digest [sha256.Size]byte // of the file's bytes, to tell a change
}

// tokensFile is the tokens file's shape (docs/domain.md#configuration).
type tokensFile struct {
	Tokens []tokenEntry `yaml:"tokens"`
}

// tokenEntry is one token of the tokens file. It is a named type so that
// an unknown key is reported as not in rpc.tokenEntry, not in a struct
// spelt out.
type tokenEntry struct {
	Name string `yaml:"name"`
	Role string `yaml:"role"`
	// Groups is decoded by hand, so that a refused group is named with
	// its line.
	Groups yaml.Node `yaml:"groups"`
	SHA256 string    `yaml:"sha256"`
}

// LoadTokens reads a tokens file. Every problem is reported with the
// entry's position; a token is never echoed (the file holds none).
func LoadTokens(path string) (*Tokens, error) {
	set, err := loadTokenSet(path)
	if err != nil {
		return nil, err
	}
	t := &Tokens{path: path}
	t.cur.Store(set)
	return t, nil
}

// Reload reads the tokens file again and, when it loads, uses it for every
// request from now on: a token added works, a token removed is refused. On
// any error the current tokens stay and the error says why. It reports
// whether the tokens changed.
func (t *Tokens) Reload() (changed bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	set, err := loadTokenSet(t.path)
	if err != nil {
		return false, fmt.Errorf("reload tokens, keeping the current tokens: %w", err)
	}
	if set.digest == t.cur.Load().digest {
		return false, nil
	}
	t.cur.Store(set)
	return true, nil
}

// Watch reloads the tokens file whenever it changes on disk (see package
// filewatch), logging each reload and each refused file, until ctx ends.
// It returns nil then, or an error when it cannot watch at all.
func (t *Tokens) Watch(ctx context.Context, logger *slog.Logger) error {
	return filewatch.Watch(ctx, filewatch.Config{
		Files: []string{t.path}, Name: "tokens file", Logger: logger,
		Changed: func() {
			changed, err := t.Reload()
			switch {
			case err != nil:
				logger.Error("tokens not reloaded", "error", err)
			case changed:
				logger.Info("tokens reloaded", "file", t.path, "tokens", t.Len())
			}
		},
	})
}

// Len returns how many tokens are in use.
func (t *Tokens) Len() int { return len(t.cur.Load().byHash) }

// loadTokenSet reads and checks a tokens file.
func loadTokenSet(path string) (*tokenSet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth.tokensFile %s: %w", path, err)
	}
	var f tokensFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("auth.tokensFile %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	t := &tokenSet{byHash: map[[sha256.Size]byte]*Identity{}, digest: sha256.Sum256(b)}
	names := map[string]bool{}
	var errs []error
	for i, e := range f.Tokens {
		where := fmt.Sprintf("auth.tokensFile %s: tokens[%d]", path, i)
		role, err := ParseRole(e.Role)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.role: %w", where, err))
		}
		if e.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: is required (it is the identity recorded on approvals)", where))
		} else if names[e.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice", where, e.Name))
		}
		names[e.Name] = true
		groups, err := tokenGroups(&e.Groups, fmt.Sprintf("auth.tokensFile %s", path), fmt.Sprintf("tokens[%d].groups", i))
		if err != nil {
			errs = append(errs, err)
		}
		raw, err := hex.DecodeString(e.SHA256)
		if err != nil || len(raw) != sha256.Size {
			errs = append(errs, fmt.Errorf("%s.sha256: must be the 64 hex digits of the token's SHA-256", where))
			continue
		}
		var h [sha256.Size]byte
		copy(h[:], raw)
		if _, dup := t.byHash[h]; dup {
			errs = append(errs, fmt.Errorf("%s.sha256: the same token is listed twice", where))
		}
		t.byHash[h] = &Identity{Name: e.Name, Role: role, Groups: groups}
	}
	if len(f.Tokens) == 0 {
		errs = append(errs, fmt.Errorf("auth.tokensFile %s: lists no tokens", path))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// tokenGroups decodes a token's groups, refusing fsm.EveryGroup.
func tokenGroups(n *yaml.Node, file, field string) ([]string, error) {
	if n.IsZero() {
		return nil, nil
	}
	var groups []string
	if err := n.Decode(&groups); err != nil {
		return nil, fmt.Errorf("%s: line %d: %s: must be a list of group names", file, n.Line, field)
	}
	var errs []error
	for j, g := range groups {
		if err := CheckGroup(g); err != nil {
			// The group's own line; an alias's where it is used.
			line := n.Line
			if n.Kind == yaml.SequenceNode && j < len(n.Content) {
				line = n.Content[j].Line
			}
			errs = append(errs, fmt.Errorf("%s: line %d: %s[%d]: %w", file, line, field, j, err))
		}
	}
	return groups, errors.Join(errs...)
}

// CheckGroup refuses a group no token may have: fsm.EveryGroup, which stands
// for every group and belongs only to the identity of a node without a
// tokens file.
func CheckGroup(g string) error {
	if g == fsm.EveryGroup {
		return fmt.Errorf("%q is reserved: it stands for every group, so a token with it could approve and reject "+
			"in every environment; only the identity of a node without a tokens file has it", g)
	}
	return nil
}

// Authenticate returns the identity of the request's bearer token (the
// anonymous admin when t is nil: authentication is off), or an error
// saying that the token is missing or unknown, never what it was. A
// target agent (internal/targetagent) checks its PUTs with it.
func (t *Tokens) Authenticate(r *http.Request) (*Identity, error) { return t.authenticate(r) }

// authenticate returns the identity of the request's bearer token.
func (t *Tokens) authenticate(r *http.Request) (*Identity, error) {
	if t == nil {
		return anonymous, nil
	}
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return nil, errors.New("missing bearer token (Authorization: Bearer <token>)")
	}
	sum := sha256.Sum256([]byte(token))
	// Look every entry up in constant time, so timing tells nothing.
	var found *Identity
	for h, id := range t.cur.Load().byHash {
		if subtle.ConstantTimeCompare(h[:], sum[:]) == 1 {
			found = id
		}
	}
	if found == nil {
		return nil, errors.New("unknown token")
	}
	return found, nil
}

// bearerToken returns the token of an Authorization header value
// "Bearer <token>". The scheme is case-insensitive and may be followed by
// more than one space (RFC 9110 §11.4).
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	return token, token != ""
}

// NewToken returns a new random token and the tokens file entry for it.
func NewToken(name string, role Role, groups []string) (token, entry string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("read random bytes: %w", err)
	}
	token = "honua_" + hex.EncodeToString(b)
	sum := sha256.Sum256([]byte(token))
	gs := make([]string, len(groups))
	for i, g := range groups {
		gs[i] = fmt.Sprintf("%q", g)
	}
	entry = fmt.Sprintf("  - name: %q\n    role: %s\n    groups: [%s]\n    sha256: %s\n",
		name, role, strings.Join(gs, ", "), hex.EncodeToString(sum[:]))
	return token, entry, nil
}

// mayDecide reports whether an identity's groups let it act on env under
// approver groups (empty: any approver), as the FSM decides for approvals.
func mayDecide(id *Identity, approvers []string) bool {
	return len(approvers) == 0 || fsm.InApproverGroups(id.Groups, approvers)
}

// errNotApprover is returned when an identity's groups are not among an
// environment's approver groups.
func errNotApprover(id *Identity, env string, approvers []string) error {
	return fmt.Errorf("%s is not in an approver group of %s (%s): %w",
		id.Name, env, strings.Join(approvers, ", "), fsm.ErrNotAllowed)
}
