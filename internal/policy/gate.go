package policy

import (
	"fmt"
	"time"
)

// Gate says whether a deployment that needs no more approvals may start at
// now: now must be inside one of the deployment windows (or none are
// listed) and outside every blackout; a blackout wins over a window. When
// the gate is closed, reason says why and next is the earliest instant
// after now when it opens, in now's location, or the zero time if it never
// does. When it is open, reason is empty and next is zero.
//
// A window opens on each listed day, in its time zone, when the wall clock
// there first reads Start, and closes when the clock reads End (the next
// day when End is before Start). Around a daylight saving time change:
//
//   - Spring forward, when the clocks skip an hour (01:59 → 03:00): a Start
//     or End inside the skipped hour means the instant the clocks jump.
//     A window 01:30–03:00 on that day is open 30 minutes; 02:30–04:00
//     opens at 03:00; a window that lies entirely in the skipped hour,
//     such as 02:00–02:30, does not open that day.
//   - Fall back, when an hour repeats (01:59 → 01:00): a Start inside the
//     repeated hour means its first occurrence and an End means its second,
//     so a window is one unbroken period that never closes and reopens
//     because the clocks went back. A window 01:30–03:00 on that day is
//     open two and a half hours; 01:00–01:45 is open from the first 01:00
//     to the second 01:45.
//
// The day a window opens on is the day of its Start: a Fri 22:00–02:00
// window is open early Saturday, whether or not Saturday is listed.
//
// Gate does not read the clock, so it decides the same on every node.
func (e Environment) Gate(now time.Time) (open bool, reason string, next time.Time) {
	if b, ok := e.blackoutAt(now); ok {
		reason = fmt.Sprintf("blackout %q until %s", b.Name, b.End.Format(time.RFC3339))
	} else if len(e.DeploymentWindows) > 0 && !e.inWindow(now) {
		reason = "outside the deployment windows"
	} else {
		return true, "", time.Time{}
	}
	next = e.nextOpen(now)
	if !next.IsZero() {
		next = next.In(now.Location())
	}
	return false, reason, next
}

// blackoutAt returns the blackout t is in; of several, the one that ends
// last.
func (e Environment) blackoutAt(t time.Time) (Blackout, bool) {
	var found Blackout
	ok := false
	for _, b := range e.BlackoutPeriods {
		if b.contains(t) && (!ok || b.End.After(found.End)) {
			found, ok = b, true
		}
	}
	return found, ok
}

// inWindow reports whether t is inside one of the deployment windows.
func (e Environment) inWindow(t time.Time) bool {
	for _, w := range e.DeploymentWindows {
		if w.contains(t) {
			return true
		}
	}
	return false
}

// nextOpen returns the earliest instant at or after t when the gate is
// open, or zero if there is none. Every round either returns or moves past
// a blackout for good, so it needs at most one round per blackout and one
// more.
func (e Environment) nextOpen(t time.Time) time.Time {
	for range len(e.BlackoutPeriods) + 2 {
		for {
			b, ok := e.blackoutAt(t)
			if !ok {
				break
			}
			t = b.End
		}
		if len(e.DeploymentWindows) == 0 {
			return t
		}
		w := e.nextWindow(t)
		if w.IsZero() {
			return time.Time{}
		}
		if _, ok := e.blackoutAt(w); !ok {
			return w
		}
		t = w
	}
	return time.Time{}
}

// nextWindow returns the earliest instant at or after t inside a window,
// or zero if no window opens in the next two weeks.
func (e Environment) nextWindow(t time.Time) time.Time {
	var best time.Time
	for _, w := range e.DeploymentWindows {
		if w.contains(t) {
			return t
		}
		if s := w.nextStart(t); !s.IsZero() && (best.IsZero() || s.Before(best)) {
			best = s
		}
	}
	return best
}

// The days around t's local day that can hold a window period containing
// t: a period opens on its own day or later and closes at most a day
// later, a little more if the close falls in a skipped hour after midnight.
const lookBehindDays = 2

// lookAheadDays bounds the search for the next opening. A listed weekday
// comes round within a week; a window can miss a day only to a daylight
// saving change, never two weeks running.
const lookAheadDays = 15

// contains reports whether t is inside one of w's periods.
func (w Window) contains(t time.Time) bool {
	day := localDay(t, w.loc())
	for k := -lookBehindDays; k <= 0; k++ {
		if s, e, ok := w.period(day.AddDate(0, 0, k)); ok && !t.Before(s) && t.Before(e) {
			return true
		}
	}
	return false
}

// nextStart returns the first instant after t at which one of w's periods
// opens, or zero if none does within lookAheadDays.
func (w Window) nextStart(t time.Time) time.Time {
	day := localDay(t, w.loc())
	var best time.Time
	for k := -lookBehindDays; k <= lookAheadDays; k++ {
		if s, _, ok := w.period(day.AddDate(0, 0, k)); ok && s.After(t) && (best.IsZero() || s.Before(best)) {
			best = s
		}
	}
	return best
}

// period returns when w opens on day and when it closes again. day is a
// calendar day of w's zone, represented as midnight UTC. ok is false when
// w does not open on day's weekday, or its period is empty that day (it
// lies in a skipped hour).
func (w Window) period(day time.Time) (start, end time.Time, ok bool) {
	if !w.opensOn(day.Weekday()) {
		return time.Time{}, time.Time{}, false
	}
	loc := w.loc()
	start, _ = resolve(day.Add(time.Duration(w.Start)*time.Minute), loc)
	endDay := day
	if w.End < w.Start {
		endDay = day.AddDate(0, 0, 1)
	}
	_, end = resolve(endDay.Add(time.Duration(w.End)*time.Minute), loc)
	return start, end, start.Before(end)
}

func (w Window) opensOn(d time.Weekday) bool {
	for _, x := range w.Days {
		if x == d {
			return true
		}
	}
	return false
}

func (w Window) loc() *time.Location {
	if w.Location == nil {
		return time.UTC
	}
	return w.Location
}

// localDay returns t's calendar day in loc as midnight UTC, so that days
// can be counted without daylight saving time getting in the way.
func localDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// wallClock returns t's wall-clock reading as the same reading in UTC.
func wallClock(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
}

// resolve returns the instants at which loc's wall clock reads wall (given
// as that reading in UTC): the first and the last, which differ when wall
// falls in an hour the clocks repeat. When wall falls in an hour the
// clocks skip, both are the instant they skip it.
//
// time.Date alone will not do: it picks one of the two readings of a
// repeated hour without saying which, and moves a skipped reading an hour
// on rather than to the jump.
func resolve(wall time.Time, loc *time.Location) (first, last time.Time) {
	guess := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, loc)
	// The readings of wall lie in guess's zone period or the ones beside it.
	zoneStart, zoneEnd := guess.ZoneBounds()
	offsets := []int{offset(guess)}
	if !zoneStart.IsZero() {
		offsets = append(offsets, offset(zoneStart.Add(-time.Nanosecond)))
	}
	if !zoneEnd.IsZero() {
		offsets = append(offsets, offset(zoneEnd))
	}
	for _, o := range offsets {
		t := wall.Add(-time.Duration(o) * time.Second).In(loc)
		if !wallClock(t).Equal(wall) {
			continue
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if last.IsZero() || t.After(last) {
			last = t
		}
	}
	if !first.IsZero() {
		return first, last
	}
	// A skipped reading: the clocks jump over it at one of guess's bounds.
	for _, b := range []time.Time{zoneStart, zoneEnd} {
		if !b.IsZero() && wallClock(b.Add(-time.Nanosecond)).Before(wall) && wallClock(b).After(wall) {
			return b, b
		}
	}
	return guess, guess // not reached with real zone data
}

func offset(t time.Time) int {
	_, o := t.Zone()
	return o
}
