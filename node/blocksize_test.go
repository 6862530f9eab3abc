package node

import (
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// TestBlockSizerCapsByMeasuredCost: with no measure the cap is the fixed
// maximum; then blockValidationShare of the propose timeout at the
// measured cost per reading (validation, building, commit), within
// [minReadingsPerBlock, maxReadingsPerBlock]; small blocks are not
// measured.
func TestBlockSizerCapsByMeasuredCost(t *testing.T) {
	var s blockSizer
	if got := s.limit(time.Second); got != maxReadingsPerBlock {
		t.Fatalf("unmeasured: %d, want %d", got, maxReadingsPerBlock)
	}
	s.observeValidation(minSizedReadings-1, time.Hour) // too small to say
	if got := s.limit(time.Second); got != maxReadingsPerBlock {
		t.Fatalf("after a small block: %d, want %d", got, maxReadingsPerBlock)
	}
	// 4,000 readings validated in 400 ms and 2,000 built in 100 ms:
	// 150 µs per reading; half of 1 s is 3,333 readings.
	s.observeValidation(4_000, 400*time.Millisecond)
	s.observeBuild(2_000, 100*time.Millisecond)
	if got := s.limit(time.Second); got != 3_333 {
		t.Fatalf("at 150 µs a reading: %d, want 3333", got)
	}
	// A slower block moves the average by sizerWeight: 100 µs → 100 +
	// 0.3·(400-100) = 190 µs; with 50 µs to build, 240 µs: 2,083.
	s.observeValidation(1_000, 400*time.Millisecond)
	if got := s.limit(time.Second); got != 2_083 {
		t.Fatalf("after a slow block: %d, want 2083", got)
	}
	// Committing at 10 µs a reading: 250 µs in all, 2,000.
	s.observeCommit(500, 5*time.Millisecond)
	if got := s.limit(time.Second); got != 2_000 {
		t.Fatalf("with the commit: %d, want 2000", got)
	}
	if got := s.limit(time.Millisecond); got != minReadingsPerBlock {
		t.Fatalf("a tiny timeout: %d, want the floor %d", got, minReadingsPerBlock)
	}
	if got := s.limit(time.Hour); got != maxReadingsPerBlock {
		t.Fatalf("a long timeout: %d, want the cap %d", got, maxReadingsPerBlock)
	}
}

// TestBlockSizerTimesOwnHeights: a proposal of this node timed from its
// building to its commit here sets the cost when it is above the sum of
// the parts (its transfer, the others' decoding and the votes are in it);
// others' blocks, and a block of this node committed a second time, are
// not timed.
func TestBlockSizerTimesOwnHeights(t *testing.T) {
	var s blockSizer
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.observeValidation(4_000, 40*time.Millisecond) // 10 µs a reading: the cap
	if got := s.limit(time.Second); got != maxReadingsPerBlock {
		t.Fatalf("at 10 µs a reading: %d, want the cap %d", got, maxReadingsPerBlock)
	}
	own, other := chain.Hash{1}, chain.Hash{2}
	s.proposed(own, start)
	s.observeHeight(other, 10_000, start.Add(time.Hour)) // not ours
	if got := s.limit(time.Second); got != maxReadingsPerBlock {
		t.Fatalf("after another's block: %d, want the cap", got)
	}
	// 10,000 readings final 2 s after building began: 200 µs a reading;
	// half of 1 s is 2,500 readings.
	s.observeHeight(own, 10_000, start.Add(2*time.Second))
	if got := s.limit(time.Second); got != 2_500 {
		t.Fatalf("a 2 s height of 10,000: %d, want 2500", got)
	}
	s.observeHeight(own, 10_000, start.Add(time.Hour)) // timed once
	if got := s.limit(time.Second); got != 2_500 {
		t.Fatalf("the same block again: %d, want 2500", got)
	}
	// A fast height moves the average by sizerWeight: 200 + 0.3·(50-200)
	// = 155 µs: 3,225 readings.
	s.proposed(other, start)
	s.observeHeight(other, 2_000, start.Add(100*time.Millisecond))
	if got := s.limit(time.Second); got != 3_225 {
		t.Fatalf("after a 50 µs height: %d, want 3225", got)
	}
}
