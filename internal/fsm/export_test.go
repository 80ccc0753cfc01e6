package fsm

// CommandTypes returns the registered command types in order, for tests
// that must cover every one.
func CommandTypes() []CommandType {
	var out []CommandType
	for t, spec := range specs {
		if spec != nil {
			out = append(out, CommandType(t))
		}
	}
	return out
}

// DocumentSize is how many bytes d is held in.
func DocumentSize(d Document) int { return len(d.b) }
