package alerts

import (
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// TestNightBounds: NightBounds(n) is exactly the stretch Night puts in
// night n, for windows that wrap midnight and ones that do not, on day
// lengths that do not divide evenly (a devnet's 2-minute day among them).
func TestNightBounds(t *testing.T) {
	for _, c := range []struct {
		name            string
		day, start, end int64
	}{
		{"24 h, 01–05", 86_400_000, 1 * 3_600_000, 5 * 3_600_000},
		{"2 min, 22–05 (wraps)", 120_000, 22 * 3_600_000, 5 * 3_600_000},
		{"7 s, 01:00:01–05 (uneven)", 7_001, 3_600_001, 5 * 3_600_000},
		{"7 s, 23–00:00:01 (wraps, uneven)", 7_001, 23 * 3_600_000, 1},
	} {
		th := DefaultThresholds()
		th.DayLength, th.NightStart, th.NightEnd = c.day, c.start, c.end
		base := chain.Time(1_764_000_000_000 / c.day * c.day)
		for n := int64(base)/c.day - 1; n <= int64(base)/c.day+2; n++ {
			start, end := th.NightBounds(n)
			if end <= start || end-start > chain.Time(c.day) {
				t.Fatalf("%s: night %d bounds %d..%d", c.name, n, start, end)
			}
			for _, at := range []chain.Time{start - 1, start, (start + end) / 2, end - 1, end} {
				id, in := th.Night(at)
				want := at >= start && at < end
				if (in && id == n) != want {
					t.Errorf("%s: Night(%d) = %d %v; bounds of night %d are %d..%d", c.name, at, id, in, n, start, end)
				}
			}
		}
	}
}
