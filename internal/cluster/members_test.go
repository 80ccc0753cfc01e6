package cluster

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"testing"

	"github.com/hashicorp/memberlist"
)

// gossipNode is the memberlist record of a honuad node named id.
func gossipNode(t *testing.T, id string, port int) *memberlist.Node {
	t.Helper()
	meta, err := json.Marshal(nodeMeta{ID: id, Raft: fmt.Sprintf("127.0.0.1:%d", port)})
	if err != nil {
		t.Fatal(err)
	}
	return &memberlist.Node{Name: id, Addr: net.IPv4(127, 0, 0, 1), Port: uint16(port), Meta: meta}
}

// TestDepartedMembersAreBounded: a node records members that failed or
// left, which memberlist forgets, so that status and the leader can tell
// them apart; a cluster whose members come and go under new names (pods,
// say) must not grow that record without end. The newest maxDepartedMembers
// departed members are kept; the live ones always are.
func TestDepartedMembersAreBounded(t *testing.T) {
	n := &Node{cfg: Config{NodeID: "self"}, logger: slog.New(slog.DiscardHandler), members: map[string]*memberState{},
		reconcileCh: make(chan struct{}, 1), bootstrapCh: make(chan struct{}, 1)}
	n.observe(gossipNode(t, "self", 1), StatusAlive)
	n.observe(gossipNode(t, "steady", 2), StatusAlive)
	const churn = 10 * maxDepartedMembers
	for i := range churn {
		id := fmt.Sprintf("pod-%04d", i)
		n.observe(gossipNode(t, id, 1000+i), StatusAlive)
		status := StatusDead
		if i%2 == 0 {
			status = StatusLeft
		}
		n.observe(gossipNode(t, id, 1000+i), status)
	}
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	if len(n.members) != 2+maxDepartedMembers {
		t.Errorf("after %d members came and went, %d are recorded; want the 2 alive and the last %d departed",
			churn, len(n.members), maxDepartedMembers)
	}
	for _, id := range []string{"self", "steady", fmt.Sprintf("pod-%04d", churn-1), fmt.Sprintf("pod-%04d", churn-maxDepartedMembers)} {
		if _, ok := n.members[id]; !ok {
			t.Errorf("member %s was forgotten; want it kept", id)
		}
	}
	if _, ok := n.members[fmt.Sprintf("pod-%04d", churn-maxDepartedMembers-1)]; ok {
		t.Errorf("the oldest departed members are still recorded")
	}
}
