package consensus

import (
	"testing"
	"time"
)

// TestLateValidationDecidesInRoundZero runs 16 validators on a clean
// network (no loss, 1–10 ms delays, no faults) where every block takes
// longer to validate than the propose timeout (300 ms), as a 500-reading
// block did on a loaded machine, but less than twice it. With the propose
// timeout set once more while the round's proposal is being validated,
// every height is decided in round 0; with line 57 as the paper writes it
// (nil at the first expiry), the validators prevote nil in round 0 and
// heights need later rounds. Virtual time: nothing here depends on the
// machine's speed.
func TestLateValidationDecidesInRoundZero(t *testing.T) {
	p := simParams{
		n: 16, minDelay: time.Millisecond, maxDelay: 10 * time.Millisecond,
		chaosEnd: time.Millisecond, heights: 10,
		validation: [2]time.Duration{testTimeouts.Propose + 20*time.Millisecond, testTimeouts.Propose + 150*time.Millisecond},
	}
	late := func(p simParams) (blocks, lateRounds int, took time.Duration) {
		t.Helper()
		s, err := runSeed(t, p, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range s.final {
			blocks++
			if b.Cert.Round > 0 {
				lateRounds++
			}
		}
		return blocks, lateRounds, s.now
	}
	blocks, lateRounds, took := late(p)
	if blocks < p.heights || lateRounds != 0 {
		t.Fatalf("%d blocks final, %d of them after round 0; want at least %d, all in round 0", blocks, lateRounds, p.heights)
	}
	p.nilAtFirstTimeout = true
	t.Logf("extended timeout: %d blocks in %s of virtual time, all in round 0", blocks, took)
	blocks, lateRounds, took = late(p)
	if lateRounds == 0 {
		t.Fatalf("with nil at the first timeout, all %d blocks were decided in round 0: the test no longer makes validation late", blocks)
	}
	t.Logf("nil at the first timeout: %d blocks in %s, %d of them after round 0", blocks, took, lateRounds)
}
