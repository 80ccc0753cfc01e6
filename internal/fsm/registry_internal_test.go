package fsm

import (
	"strings"
	"testing"
)

// TestCommandTableHasNoGaps: the command types are numbered 1, 2, … with
// none missing (the list is append-only: a type is never removed), and each
// decodes to a payload of its own type.
func TestCommandTableHasNoGaps(t *testing.T) {
	types := CommandTypes()
	if len(types) == 0 {
		t.Fatal("no command type is registered")
	}
	for i, typ := range types {
		if want := CommandType(i + 1); typ != want {
			t.Fatalf("registered command types = %v; want 1 to %d without gaps", types, len(types))
		}
		c, err := Decode([]byte{byte(typ), '{', '}'})
		if err != nil {
			t.Fatalf("Decode(type %d, {}) = %v; want a command", typ, err)
		}
		if c.Type() != typ {
			t.Errorf("Decode(type %d, {}) = %T of type %d; want type %d", typ, c, c.Type(), typ)
		}
	}
}

// TestRegisterRefusesMistakes: registering a reserved type, a type twice,
// or a payload under another type's number panics at package init.
func TestRegisterRefusesMistakes(t *testing.T) {
	tests := []struct {
		name string
		reg  func()
		want string
	}{
		{"unknown", func() { register(UnknownCommand, (*state).checkApprove, (*state).approve) }, "reserved"},
		{"flag", func() { register(IgnoreUnknownFlag|ApproveCommand, (*state).checkApprove, (*state).approve) }, "reserved"},
		{"twice", func() { register(ApproveCommand, (*state).checkApprove, (*state).approve) }, "already registered"},
		{"other type", func() { register(RejectCommand, (*state).checkApprove, (*state).approve) }, "its Type is 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := specs
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.Contains(msg, tt.want) {
					t.Errorf("register panicked with %v; want a panic saying %q", r, tt.want)
				}
				if specs != before {
					t.Errorf("a refused registration changed the command table")
				}
			}()
			tt.reg()
		})
	}
}
