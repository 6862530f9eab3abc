package node

import (
	"testing"
	"time"
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
