package policy

import (
	"math/rand/v2"
	"testing"
	"time"
)

var (
	newYork = mustLoad("America/New_York")
	berlin  = mustLoad("Europe/Berlin")

	everyDay = []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
	weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	sunday   = []time.Weekday{time.Sunday}
)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// ts parses an RFC 3339 timestamp; "" is the zero time.
func ts(t *testing.T, s string) time.Time {
	t.Helper()
	if s == "" {
		return time.Time{}
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("bad timestamp in test: %v", err)
	}
	return v
}

func hm(h, m int) TimeOfDay { return TimeOfDay(h*60 + m) }

func windowsEnv(ws ...Window) Environment {
	return Environment{Name: "production", DeploymentWindows: ws}
}

// withBlackouts returns e with blackouts given as name, start, end.
func withBlackouts(t *testing.T, e Environment, bs ...[3]string) Environment {
	t.Helper()
	for _, b := range bs {
		e.BlackoutPeriods = append(e.BlackoutPeriods, Blackout{Name: b[0], Start: ts(t, b[1]), End: ts(t, b[2])})
	}
	return e
}

type gateWant struct {
	open   bool
	reason string
	next   string
}

const outside = "outside the deployment windows"

func TestGate(t *testing.T) {
	nyDomain := Window{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday}, Start: hm(9, 0), End: hm(17, 0), Location: newYork}
	nyDaily := Window{Days: everyDay, Start: hm(9, 0), End: hm(17, 0), Location: newYork}
	berlinDaily := Window{Days: everyDay, Start: hm(9, 0), End: hm(17, 0), Location: berlin}
	utcWeekdays := Window{Days: weekdays, Start: hm(9, 0), End: hm(17, 0)}
	fridayNight := Window{Days: []time.Weekday{time.Friday}, Start: hm(22, 0), End: hm(2, 0)}
	nySun := func(s, e TimeOfDay) Window { return Window{Days: sunday, Start: s, End: e, Location: newYork} }
	berlinSun := func(s, e TimeOfDay) Window { return Window{Days: sunday, Start: s, End: e, Location: berlin} }
	holiday := [3]string{"Holiday freeze", "2026-12-20T00:00:00Z", "2027-01-05T00:00:00Z"}

	tests := []struct {
		name string
		env  Environment
		now  string
		want gateWant
	}{
		{"no windows, no blackouts", Environment{}, "2026-06-06T03:00:00Z", gateWant{true, "", ""}},

		// docs/domain.md#policy's production: Mon-Thu 09:00-17:00 New York (EDT in June, UTC-4).
		{"start is inclusive", windowsEnv(nyDomain), "2026-06-02T13:00:00Z", gateWant{true, "", ""}},
		{"just before start", windowsEnv(nyDomain), "2026-06-02T12:59:59Z", gateWant{false, outside, "2026-06-02T13:00:00Z"}},
		{"just before end", windowsEnv(nyDomain), "2026-06-02T20:59:59Z", gateWant{true, "", ""}},
		{"end is exclusive", windowsEnv(nyDomain), "2026-06-02T21:00:00Z", gateWant{false, outside, "2026-06-03T13:00:00Z"}},
		{"Thursday evening waits for Monday", windowsEnv(nyDomain), "2026-06-04T21:00:00Z", gateWant{false, outside, "2026-06-08T13:00:00Z"}},
		{"Saturday is not listed", windowsEnv(nyDomain), "2026-06-06T15:00:00Z", gateWant{false, outside, "2026-06-08T13:00:00Z"}},
		{"holiday freeze over a window", withBlackouts(t, windowsEnv(nyDomain), holiday), "2026-12-22T15:00:00Z",
			gateWant{false, `blackout "Holiday freeze" until 2027-01-05T00:00:00Z`, "2027-01-05T14:00:00Z"}},

		// America/New_York springs forward 2026-03-08 at 02:00 EST (07:00Z) to 03:00 EDT.
		{"NY spring: Saturday evening, next is 09:00 EDT", windowsEnv(nyDaily), "2026-03-07T22:00:00Z", gateWant{false, outside, "2026-03-08T13:00:00Z"}},
		{"NY spring: Saturday 09:00 EST", windowsEnv(nyDaily), "2026-03-07T14:00:00Z", gateWant{true, "", ""}},
		{"NY spring: Sunday 08:59 EDT", windowsEnv(nyDaily), "2026-03-08T12:59:00Z", gateWant{false, outside, "2026-03-08T13:00:00Z"}},
		{"NY spring: 01:30-03:00 open at 01:30 EST", windowsEnv(nySun(hm(1, 30), hm(3, 0))), "2026-03-08T06:30:00Z", gateWant{true, "", ""}},
		{"NY spring: 01:30-03:00 open at 01:59:59 EST", windowsEnv(nySun(hm(1, 30), hm(3, 0))), "2026-03-08T06:59:59Z", gateWant{true, "", ""}},
		{"NY spring: 01:30-03:00 closed at the jump", windowsEnv(nySun(hm(1, 30), hm(3, 0))), "2026-03-08T07:00:00Z", gateWant{false, outside, "2026-03-15T05:30:00Z"}},
		{"NY spring: 02:30-04:00 opens at the jump", windowsEnv(nySun(hm(2, 30), hm(4, 0))), "2026-03-08T06:45:00Z", gateWant{false, outside, "2026-03-08T07:00:00Z"}},
		{"NY spring: 02:30-04:00 open at 03:00 EDT", windowsEnv(nySun(hm(2, 30), hm(4, 0))), "2026-03-08T07:00:00Z", gateWant{true, "", ""}},
		{"NY spring: 02:30-04:00 closed at 04:00 EDT", windowsEnv(nySun(hm(2, 30), hm(4, 0))), "2026-03-08T08:00:00Z", gateWant{false, outside, "2026-03-15T06:30:00Z"}},
		{"NY spring: 02:00-02:30 skips the day", windowsEnv(nySun(hm(2, 0), hm(2, 30))), "2026-03-08T06:00:00Z", gateWant{false, outside, "2026-03-15T06:00:00Z"}},
		{"NY spring: 02:00-02:30 closed after the jump", windowsEnv(nySun(hm(2, 0), hm(2, 30))), "2026-03-08T07:15:00Z", gateWant{false, outside, "2026-03-15T06:00:00Z"}},
		{"NY spring: Sat 23:00-04:00 across midnight and the jump", windowsEnv(Window{Days: []time.Weekday{time.Saturday}, Start: hm(23, 0), End: hm(4, 0), Location: newYork}),
			"2026-03-08T07:30:00Z", gateWant{true, "", ""}},
		{"NY spring: Sat 23:00-04:00 closes at 04:00 EDT", windowsEnv(Window{Days: []time.Weekday{time.Saturday}, Start: hm(23, 0), End: hm(4, 0), Location: newYork}),
			"2026-03-08T08:00:00Z", gateWant{false, outside, "2026-03-15T03:00:00Z"}},

		// America/New_York falls back 2026-11-01 at 02:00 EDT (06:00Z) to 01:00 EST.
		{"NY fall: 01:30-03:00 opens at the first 01:30", windowsEnv(nySun(hm(1, 30), hm(3, 0))), "2026-11-01T05:29:00Z", gateWant{false, outside, "2026-11-01T05:30:00Z"}},
		{"NY fall: 01:30-03:00 stays open at the second 01:10", windowsEnv(nySun(hm(1, 30), hm(3, 0))), "2026-11-01T06:10:00Z", gateWant{true, "", ""}},
		{"NY fall: 01:30-03:00 open until 03:00 EST", windowsEnv(nySun(hm(1, 30), hm(3, 0))), "2026-11-01T07:59:59Z", gateWant{true, "", ""}},
		{"NY fall: 01:30-03:00 closed at 03:00 EST", windowsEnv(nySun(hm(1, 30), hm(3, 0))), "2026-11-01T08:00:00Z", gateWant{false, outside, "2026-11-08T06:30:00Z"}},
		{"NY fall: 01:00-01:45 open at the first 01:50", windowsEnv(nySun(hm(1, 0), hm(1, 45))), "2026-11-01T05:50:00Z", gateWant{true, "", ""}},
		{"NY fall: 01:00-01:45 open at the second 01:30", windowsEnv(nySun(hm(1, 0), hm(1, 45))), "2026-11-01T06:30:00Z", gateWant{true, "", ""}},
		{"NY fall: 01:00-01:45 closed at the second 01:45", windowsEnv(nySun(hm(1, 0), hm(1, 45))), "2026-11-01T06:45:00Z", gateWant{false, outside, "2026-11-08T06:00:00Z"}},
		{"NY fall: Saturday evening, next is 09:00 EST", windowsEnv(nyDaily), "2026-10-31T21:00:00Z", gateWant{false, outside, "2026-11-01T14:00:00Z"}},

		// Europe/Berlin springs forward 2026-03-29 at 02:00 CET (01:00Z) to 03:00 CEST.
		{"Berlin spring: Saturday evening, next is 09:00 CEST", windowsEnv(berlinDaily), "2026-03-28T16:00:00Z", gateWant{false, outside, "2026-03-29T07:00:00Z"}},
		{"Berlin spring: 09:00 CEST", windowsEnv(berlinDaily), "2026-03-29T07:00:00Z", gateWant{true, "", ""}},
		{"Berlin spring: 09:00 CET the day before", windowsEnv(berlinDaily), "2026-03-28T08:00:00Z", gateWant{true, "", ""}},
		{"Berlin spring: 02:15-02:45 skips the day", windowsEnv(berlinSun(hm(2, 15), hm(2, 45))), "2026-03-29T00:30:00Z", gateWant{false, outside, "2026-04-05T00:15:00Z"}},
		{"Berlin spring: 01:00-02:30 open before the jump", windowsEnv(berlinSun(hm(1, 0), hm(2, 30))), "2026-03-29T00:59:59Z", gateWant{true, "", ""}},
		{"Berlin spring: 01:00-02:30 closes at the jump", windowsEnv(berlinSun(hm(1, 0), hm(2, 30))), "2026-03-29T01:00:00Z", gateWant{false, outside, "2026-04-04T23:00:00Z"}},

		// Fri 22:00-02:00 UTC crosses midnight. 2026-06-05 is a Friday.
		{"across midnight: Friday 22:00", windowsEnv(fridayNight), "2026-06-05T22:00:00Z", gateWant{true, "", ""}},
		{"across midnight: Friday 21:59", windowsEnv(fridayNight), "2026-06-05T21:59:00Z", gateWant{false, outside, "2026-06-05T22:00:00Z"}},
		{"across midnight: Saturday 01:00", windowsEnv(fridayNight), "2026-06-06T01:00:00Z", gateWant{true, "", ""}},
		{"across midnight: Saturday 02:00", windowsEnv(fridayNight), "2026-06-06T02:00:00Z", gateWant{false, outside, "2026-06-12T22:00:00Z"}},
		{"across midnight: Saturday 22:00 is not listed", windowsEnv(fridayNight), "2026-06-06T22:00:00Z", gateWant{false, outside, "2026-06-12T22:00:00Z"}},
		{"across midnight: Thursday 23:00 is not listed", windowsEnv(fridayNight), "2026-06-04T23:00:00Z", gateWant{false, outside, "2026-06-05T22:00:00Z"}},
		{"across midnight: early Friday belongs to Thursday", windowsEnv(fridayNight), "2026-06-05T01:00:00Z", gateWant{false, outside, "2026-06-05T22:00:00Z"}},

		{"overlapping windows make one", windowsEnv(Window{Days: weekdays, Start: hm(9, 0), End: hm(12, 0)}, Window{Days: weekdays, Start: hm(11, 0), End: hm(14, 0)}),
			"2026-06-01T12:30:00Z", gateWant{true, "", ""}},
		{"the earlier of two windows is next", windowsEnv(Window{Days: weekdays, Start: hm(13, 0), End: hm(14, 0)}, Window{Days: weekdays, Start: hm(9, 0), End: hm(10, 0), Location: berlin}),
			"2026-06-01T05:00:00Z", gateWant{false, outside, "2026-06-01T07:00:00Z"}},

		// Blackouts over Mon-Fri 09:00-17:00 UTC; 2026-06-03 is a Wednesday.
		{"blackout start is inclusive", withBlackouts(t, windowsEnv(utcWeekdays), [3]string{"Release freeze", "2026-06-03T12:00:00Z", "2026-06-04T10:00:00Z"}),
			"2026-06-03T12:00:00Z", gateWant{false, `blackout "Release freeze" until 2026-06-04T10:00:00Z`, "2026-06-04T10:00:00Z"}},
		{"just before the blackout", withBlackouts(t, windowsEnv(utcWeekdays), [3]string{"Release freeze", "2026-06-03T12:00:00Z", "2026-06-04T10:00:00Z"}),
			"2026-06-03T11:59:59Z", gateWant{true, "", ""}},
		{"blackout end is exclusive", withBlackouts(t, windowsEnv(utcWeekdays), [3]string{"Release freeze", "2026-06-03T12:00:00Z", "2026-06-04T10:00:00Z"}),
			"2026-06-04T10:00:00Z", gateWant{true, "", ""}},
		{"blackout ends outside a window", withBlackouts(t, windowsEnv(utcWeekdays), [3]string{"Outage", "2026-06-03T12:00:00Z", "2026-06-03T20:00:00Z"}),
			"2026-06-03T13:00:00Z", gateWant{false, `blackout "Outage" until 2026-06-03T20:00:00Z`, "2026-06-04T09:00:00Z"}},
		{"blackout ends on Saturday", withBlackouts(t, windowsEnv(utcWeekdays), [3]string{"Outage", "2026-06-05T12:00:00Z", "2026-06-06T12:00:00Z"}),
			"2026-06-05T13:00:00Z", gateWant{false, `blackout "Outage" until 2026-06-06T12:00:00Z`, "2026-06-08T09:00:00Z"}},
		{"blackout wins outside a window too", withBlackouts(t, windowsEnv(utcWeekdays), [3]string{"Outage", "2026-06-03T12:00:00Z", "2026-06-04T10:00:00Z"}),
			"2026-06-03T22:00:00Z", gateWant{false, `blackout "Outage" until 2026-06-04T10:00:00Z`, "2026-06-04T10:00:00Z"}},
		{"chained blackouts", withBlackouts(t, windowsEnv(utcWeekdays),
			[3]string{"A", "2026-06-03T12:00:00Z", "2026-06-03T18:00:00Z"}, [3]string{"B", "2026-06-03T17:00:00Z", "2026-06-04T09:30:00Z"}),
			"2026-06-03T13:00:00Z", gateWant{false, `blackout "A" until 2026-06-03T18:00:00Z`, "2026-06-04T09:30:00Z"}},
		{"of overlapping blackouts the later end is named", withBlackouts(t, windowsEnv(utcWeekdays),
			[3]string{"A", "2026-06-03T12:00:00Z", "2026-06-03T18:00:00Z"}, [3]string{"B", "2026-06-03T17:00:00Z", "2026-06-04T09:30:00Z"}),
			"2026-06-03T17:30:00Z", gateWant{false, `blackout "B" until 2026-06-04T09:30:00Z`, "2026-06-04T09:30:00Z"}},
		{"a window opening in a blackout waits for its end", withBlackouts(t, windowsEnv(utcWeekdays), [3]string{"Maintenance", "2026-06-04T08:00:00Z", "2026-06-04T09:30:00Z"}),
			"2026-06-03T18:00:00Z", gateWant{false, outside, "2026-06-04T09:30:00Z"}},
		{"blackout over a whole window waits for the next", withBlackouts(t, windowsEnv(nySun(hm(2, 30), hm(4, 0))), [3]string{"Freeze", "2026-03-01T00:00:00Z", "2026-03-09T00:00:00Z"}),
			"2026-03-05T00:00:00Z", gateWant{false, `blackout "Freeze" until 2026-03-09T00:00:00Z`, "2026-03-15T06:30:00Z"}},
		{"blackout without windows", withBlackouts(t, Environment{}, [3]string{"Freeze", "2026-06-01T00:00:00Z", "2026-06-02T00:00:00+02:00"}),
			"2026-06-01T12:00:00Z", gateWant{false, `blackout "Freeze" until 2026-06-02T00:00:00+02:00`, "2026-06-01T22:00:00Z"}},
		{"outside the blackout without windows", withBlackouts(t, Environment{}, [3]string{"Freeze", "2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z"}),
			"2026-06-02T00:00:00Z", gateWant{true, "", ""}},
		{"a window with no days never opens", windowsEnv(Window{Start: hm(9, 0), End: hm(17, 0)}), "2026-06-01T12:00:00Z", gateWant{false, outside, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := ts(t, tt.now)
			open, reason, next := tt.env.Gate(now)
			wantNext := ts(t, tt.want.next)
			if open != tt.want.open || reason != tt.want.reason || !next.Equal(wantNext) {
				t.Errorf("Gate(%s) = %v, %q, %s; want %v, %q, %s", tt.now, open, reason, fmtTime(next),
					tt.want.open, tt.want.reason, fmtTime(wantNext))
			}
		})
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.UTC().Format(time.RFC3339)
}

// TestGateNextInNowsLocation checks that next is given in now's location.
func TestGateNextInNowsLocation(t *testing.T) {
	e := windowsEnv(Window{Days: weekdays, Start: hm(9, 0), End: hm(17, 0), Location: berlin})
	now := time.Date(2026, 6, 6, 12, 0, 0, 0, newYork)
	_, _, next := e.Gate(now)
	if want := time.Date(2026, 6, 8, 3, 0, 0, 0, newYork); !next.Equal(want) || next.Location() != newYork {
		t.Errorf("Gate(%v) next = %v; want %v", now, next, want)
	}
}

// TestGateNextIsFirstOpening checks, across a year that has both DST
// changes, that whenever the gate is closed its next opening is open, the
// instant before it is closed, and sampled instants in between are closed.
func TestGateNextIsFirstOpening(t *testing.T) {
	envs := []struct {
		name string
		env  Environment
	}{
		{"NY weekdays with a freeze", withBlackouts(t, windowsEnv(Window{Days: weekdays, Start: hm(9, 0), End: hm(17, 0), Location: newYork}),
			[3]string{"Holiday freeze", "2026-12-20T00:00:00Z", "2027-01-05T00:00:00Z"})},
		{"NY early Sunday", windowsEnv(Window{Days: sunday, Start: hm(1, 30), End: hm(2, 30), Location: newYork})},
		{"Berlin nights", windowsEnv(Window{Days: []time.Weekday{time.Saturday, time.Sunday}, Start: hm(23, 0), End: hm(2, 30), Location: berlin})},
		{"blackouts only", withBlackouts(t, Environment{},
			[3]string{"a", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"}, [3]string{"b", "2026-03-31T00:00:00Z", "2026-05-01T00:00:00Z"})},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	start := ts(t, "2026-01-01T00:00:00Z")
	for _, tt := range envs {
		t.Run(tt.name, func(t *testing.T) {
			for range 1000 {
				now := start.Add(time.Duration(rng.Int64N(int64(366 * 24 * time.Hour))))
				open, reason, next := tt.env.Gate(now)
				if open {
					continue
				}
				if !next.After(now) {
					t.Fatalf("Gate(%s) = closed (%s), next %s; want next after now", fmtTime(now), reason, fmtTime(next))
				}
				if o, _, _ := tt.env.Gate(next); !o {
					t.Fatalf("Gate(%s) next = %s, but the gate is closed then", fmtTime(now), fmtTime(next))
				}
				for _, probe := range []time.Time{next.Add(-time.Nanosecond), now.Add(time.Duration(rng.Int64N(int64(next.Sub(now)))))} {
					if o, _, _ := tt.env.Gate(probe); o {
						t.Fatalf("Gate(%s) next = %s, but the gate is open at %s", fmtTime(now), fmtTime(next), probe.UTC().Format(time.RFC3339Nano))
					}
				}
			}
		})
	}
}

// TestResolve checks wall-clock readings on DST days directly.
func TestResolve(t *testing.T) {
	tests := []struct {
		name        string
		loc         *time.Location
		wall        string
		first, last string
	}{
		{"ordinary", newYork, "2026-06-01T09:00:00Z", "2026-06-01T13:00:00Z", "2026-06-01T13:00:00Z"},
		{"skipped", newYork, "2026-03-08T02:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:00:00Z"},
		{"just after the skip", newYork, "2026-03-08T03:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:00:00Z"},
		{"repeated", newYork, "2026-11-01T01:30:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"},
		{"Berlin skipped", berlin, "2026-03-29T02:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:00:00Z"},
		{"Berlin repeated", berlin, "2026-10-25T02:15:00Z", "2026-10-25T00:15:00Z", "2026-10-25T01:15:00Z"},
		{"UTC", time.UTC, "2026-03-08T02:30:00Z", "2026-03-08T02:30:00Z", "2026-03-08T02:30:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, last := resolve(ts(t, tt.wall), tt.loc)
			if !first.Equal(ts(t, tt.first)) || !last.Equal(ts(t, tt.last)) {
				t.Errorf("resolve(%s in %v) = %s, %s; want %s, %s", tt.wall, tt.loc, fmtTime(first), fmtTime(last), tt.first, tt.last)
			}
		})
	}
}
