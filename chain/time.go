package chain

import (
	"encoding/json"
	"fmt"
	"time"
)

// Time is a point in time as Unix milliseconds (UTC). It encodes as an
// integer in CBOR and as RFC 3339 text in JSON; JSON also accepts an integer
// number of milliseconds, and a time outside the years 0000-9999, which RFC
// 3339 cannot write, encodes as one.
type Time int64

// TimeOf converts t, truncating to the millisecond.
func TimeOf(t time.Time) Time { return Time(t.UnixMilli()) }

// Std converts to time.Time in UTC.
func (t Time) Std() time.Time { return time.UnixMilli(int64(t)).UTC() }

func (t Time) String() string { return t.Std().Format("2006-01-02T15:04:05.000Z07:00") }

// Add returns t+d, truncated to the millisecond.
func (t Time) Add(d time.Duration) Time { return t + Time(d.Milliseconds()) }

// Sub returns t-u.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t-u) * time.Millisecond }

func (t Time) MarshalJSON() ([]byte, error) {
	if y := t.Std().Year(); y < 0 || y > 9999 {
		return json.Marshal(int64(t))
	}
	return json.Marshal(t.String())
}

func (t *Time) UnmarshalJSON(b []byte) error {
	var ms int64
	if err := json.Unmarshal(b, &ms); err == nil {
		*t = Time(ms)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time: want RFC 3339 text or Unix milliseconds, got %s", b)
	}
	p, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("time %q: want RFC 3339, such as 2026-11-29T10:00:00Z: %w", s, err)
	}
	*t = TimeOf(p)
	return nil
}
