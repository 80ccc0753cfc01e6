package fsm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestCheckChangesNothing: a command's check leaves the state as it was,
// whether it accepts the command or refuses it, for every entry of the
// golden logs (which hold accepted and refused commands of every type).
func TestCheckChangesNothing(t *testing.T) {
	checked := map[CommandType]bool{}
	for _, name := range []string{"log.txt", "notifications-log.txt", "daytwo-log.txt", "drift-log.txt", "rollout-log.txt"} {
		checkLogChangesNothing(t, name, checked)
	}
	for _, typ := range CommandTypes() {
		if !checked[typ] {
			t.Errorf("the golden logs hold no command of type %d to check", typ)
		}
	}
}

// checkLogChangesNothing applies the golden log name to an empty state,
// checking each command before, and notes the types it checked.
func checkLogChangesNothing(t *testing.T, name string, checked map[CommandType]bool) {
	b, err := os.ReadFile("testdata/golden/" + name)
	if err != nil {
		t.Fatal(err)
	}
	s := newState()
	encode := func() []byte {
		t.Helper()
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for index := uint64(1); sc.Scan(); index++ {
		typ, payload, _ := strings.Cut(sc.Text(), " ")
		tb, err := strconv.ParseUint(typ, 10, 8)
		if err != nil {
			t.Fatalf("%s:%d: %v", name, index, err)
		}
		c, err := Decode(append([]byte{byte(tb)}, payload...))
		if err != nil {
			continue // the entry of an unknown type
		}
		before := encode()
		checkErr := specOf(c.Type()).check(s, c)
		if after := encode(); !bytes.Equal(before, after) {
			t.Fatalf("%s:%d: check of %T (%v) changed the state:\nbefore %s\nafter  %s", name, index, c, checkErr, before, after)
		}
		checked[c.Type()] = true
		if _, err := s.apply(index, c); (err == nil) != (checkErr == nil) {
			t.Fatalf("%s:%d: check of %T = %v, but apply = %v", name, index, c, checkErr, err)
		}
	}
}
