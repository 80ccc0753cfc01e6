package fsm

import (
	"math"
	"time"
)

// Instant is a time as a transition keeps it: nanoseconds since the Unix
// epoch, in UTC, with the sign bit flipped so that the zero Instant is the
// zero time.Time. It takes 8 bytes where a time.Time takes 24, and a
// deployment keeps six to eight transitions (10 MiB on 100,000
// deployments). Its JSON is the time.Time's in UTC, which is what every
// command carries: the API and the reconciler stamp commands in UTC.
//
// It holds the years 1678 to 2262; InstantOf clamps a time outside them to
// the nearest it holds.
type Instant uint64

const signBit = 1 << 63

var (
	minInstantTime = time.Unix(0, math.MinInt64+1).UTC()
	maxInstantTime = time.Unix(0, math.MaxInt64).UTC()
)

// InstantOf returns t as an Instant.
func InstantOf(t time.Time) Instant {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minInstantTime):
		t = minInstantTime
	case t.After(maxInstantTime):
		t = maxInstantTime
	}
	return Instant(uint64(t.UnixNano()) ^ signBit)
}

// Time returns the instant as a time in UTC.
func (i Instant) Time() time.Time {
	if i == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(uint64(i)^signBit)).UTC()
}

// AppendText appends the instant as time.Time's MarshalText does (so its
// JSON is a time.Time's).
func (i Instant) AppendText(b []byte) ([]byte, error) { return i.Time().AppendText(b) }

// MarshalText returns the instant as time.Time's MarshalText does.
func (i Instant) MarshalText() ([]byte, error) { return i.AppendText(nil) }

// UnmarshalText decodes a time as time.Time's UnmarshalText does.
func (i *Instant) UnmarshalText(b []byte) error {
	var t time.Time
	if err := t.UnmarshalText(b); err != nil {
		return err
	}
	*i = InstantOf(t)
	return nil
}

// String returns the instant as time.Time's String does, in UTC.
func (i Instant) String() string { return i.Time().String() }
