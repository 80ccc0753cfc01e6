package policy

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// windows parses deploymentWindows; windows with problems are left out.
func (p *parser) windows(n *yaml.Node, field string) []Window {
	var out []Window
	p.sequence(n, field, func(item *yaml.Node, path string) {
		w := Window{Location: time.UTC}
		var days, start, end *yaml.Node
		ok := true
		check := func(good bool) { ok = ok && good }
		p.mapping(item, path, []string{"days", "start", "end", "timezone"}, func(key string, k, v *yaml.Node) {
			var good bool
			switch key {
			case "days":
				days = v
				w.Days, good = p.days(v, path+".days")
			case "start":
				start = v
				w.Start, good = p.clock(v, path+".start")
			case "end":
				end = v
				w.End, good = p.clock(v, path+".end")
			case "timezone":
				w.Location, good = p.zone(v, path+".timezone")
			}
			check(good)
		})
		for _, req := range []struct {
			key string
			n   *yaml.Node
		}{{"days", days}, {"start", start}, {"end", end}} {
			if req.n == nil {
				p.at(item, "%s.%s is missing", path, req.key)
				ok = false
			}
		}
		if ok && w.Start == w.End {
			p.at(resolveAlias(end), "%s.end equals start %v: a window needs a length", path, w.Start)
			ok = false
		}
		if ok {
			out = append(out, w)
		}
	})
	return out
}

var dayNames = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// days parses a non-empty list of Mon..Sun.
func (p *parser) days(n *yaml.Node, field string) ([]time.Weekday, bool) {
	n = resolveAlias(n)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.at(n, "%s must list at least one day, such as [Mon, Tue]", field)
		return nil, false
	}
	var out []time.Weekday
	ok := true
	for i, item := range n.Content {
		item = resolveAlias(item)
		d, found := -1, false
		if item.Kind == yaml.ScalarNode {
			for j, name := range dayNames {
				if strings.EqualFold(item.Value, name) {
					d, found = j, true
				}
			}
		}
		if !found {
			p.at(item, "%s[%d]: %q is not a day: want Mon, Tue, Wed, Thu, Fri, Sat or Sun", field, i, item.Value)
			ok = false
			continue
		}
		out = append(out, time.Weekday(d))
	}
	return out, ok
}

var clockRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)

// clock parses HH:MM, 00:00 to 23:59.
func (p *parser) clock(n *yaml.Node, field string) (TimeOfDay, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return 0, false
	}
	m := clockRE.FindStringSubmatch(s)
	if m == nil {
		p.at(resolveAlias(n), "%s: %q is not a time of day HH:MM from 00:00 to 23:59", field, s)
		return 0, false
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	return TimeOfDay(h*60 + mi), true
}

// zone loads an IANA time zone. Local is refused: it is whatever zone the
// node happens to run in, and nodes must agree.
func (p *parser) zone(n *yaml.Node, field string) (*time.Location, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return nil, false
	}
	if s == "" || s == "Local" {
		p.at(resolveAlias(n), "%s: %q is not an IANA time zone such as America/New_York or UTC", field, s)
		return nil, false
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		p.at(resolveAlias(n), "%s: %q is not an IANA time zone such as America/New_York or UTC", field, s)
		return nil, false
	}
	return loc, true
}

// blackouts parses blackoutPeriods; blackouts with problems are left out.
func (p *parser) blackouts(n *yaml.Node, field string) []Blackout {
	var out []Blackout
	p.sequence(n, field, func(item *yaml.Node, path string) {
		var b Blackout
		var name, start, end *yaml.Node
		ok := true
		p.mapping(item, path, []string{"name", "start", "end"}, func(key string, k, v *yaml.Node) {
			good := false
			switch key {
			case "name":
				name = v
				if b.Name, good = p.str(v, path+".name"); good && strings.TrimSpace(b.Name) == "" {
					p.at(resolveAlias(v), "%s.name is empty", path)
					good = false
				}
			case "start":
				start = v
				b.Start, good = p.timestamp(v, path+".start")
			case "end":
				end = v
				b.End, good = p.timestamp(v, path+".end")
			}
			ok = ok && good
		})
		for _, req := range []struct {
			key string
			n   *yaml.Node
		}{{"name", name}, {"start", start}, {"end", end}} {
			if req.n == nil {
				p.at(item, "%s.%s is missing", path, req.key)
				ok = false
			}
		}
		if ok && !b.End.After(b.Start) {
			p.at(resolveAlias(end), "%s.end %s is not after start %s",
				path, b.End.Format(time.RFC3339), b.Start.Format(time.RFC3339))
			ok = false
		}
		if ok {
			out = append(out, b)
		}
	})
	return out
}

// timestamp parses an RFC 3339 timestamp.
func (p *parser) timestamp(n *yaml.Node, field string) (time.Time, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		p.at(resolveAlias(n), "%s: %q is not an RFC 3339 timestamp such as 2026-12-20T00:00:00Z", field, s)
		return time.Time{}, false
	}
	return t, true
}
