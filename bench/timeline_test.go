package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// TestTimelineCountsEachSecond: four readings offered at 2/s, one refused
// once and sent again, are counted in the seconds they were offered,
// sent, refused, accepted and finalized.
func TestTimelineCountsEachSecond(t *testing.T) {
	s := int64(time.Second)
	st := &stepState{
		readings: make([]*chain.Reading, 4),
		submitAt: []int64{s / 10, s / 2, s + 1, s + s/2},
		answerAt: []int64{s / 5, 2*s + 1, s + 2, s + s/2 + 1},
		finalAt:  []int64{s, 3 * s, 2 * s, 2*s + 1},
	}
	var b strings.Builder
	if err := formatTimeline(&b, "rate", 2, st, []int64{s/2 + 1}, []int64{2 * s}, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{ // s, offered, sent, resent, refused, accepted, final
		"0 2 2 0 1 1 0",
		"1 2 2 0 0 2 1",
		"2 0 0 1 0 1 2",
		"3 0 0 0 0 0 1",
	}
	if len(lines) != 2+len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), 2+len(want), b.String())
	}
	for i, w := range want {
		if got := strings.Join(strings.Fields(lines[2+i]), " "); got != w {
			t.Fatalf("second %d: got %q, want %q", i, got, w)
		}
	}
}
