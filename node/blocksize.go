package node

import (
	"time"
)

// blockSizer caps the readings of this node's data block proposals at what
// the validators check in time. A proposal must be built, sent, checked
// (shape, signatures, execution) and prevoted within the propose timeout,
// or the round fails and every waiting reading waits a round more: blocks
// that grew with a backlog were the tail of issue 16 (round-0 timeouts
// with blocks of thousands of readings on a loaded machine). The sizer
// measures, per reading, how long this node took to validate the recent
// proposals of others (from the proposal's arrival to its verdict, queue
// on the loop included), to build its own, and to commit a block (the
// loop does nothing else meanwhile, and the next proposer commits before
// it builds), and allows a block of blockValidationShare of the propose
// timeout at that cost.
//
// Owned by the loop goroutine.
type blockSizer struct {
	// validate, build and commit are seconds per reading, exponentially
	// weighted over recent blocks; 0 until a block of at least
	// minSizedReadings was measured.
	validate, build, commit float64
}

const (
	// blockValidationShare is the part of the propose timeout a block's
	// building and validation may take at the measured cost; the rest is
	// for the transfer, the votes and the variance of a shared machine.
	blockValidationShare = 0.5
	// minReadingsPerBlock is the cap's floor: a block this small checks
	// in milliseconds, and a network that cannot finalize it has other
	// trouble than block size.
	minReadingsPerBlock = 500
	// minSizedReadings: blocks smaller than this are not measured, their
	// time being mostly the fixed cost of a block.
	minSizedReadings = 200
	// sizerWeight is the weight of the latest block in the averages.
	sizerWeight = 0.3
)

func ewma(avg, sample float64) float64 {
	if avg == 0 {
		return sample
	}
	return avg + sizerWeight*(sample-avg)
}

// observeValidation counts a proposal of readings validated in took.
func (s *blockSizer) observeValidation(readings int, took time.Duration) {
	if readings >= minSizedReadings {
		s.validate = ewma(s.validate, took.Seconds()/float64(readings))
	}
}

// observeBuild counts a block of readings this node built in took.
func (s *blockSizer) observeBuild(readings int, took time.Duration) {
	if readings >= minSizedReadings {
		s.build = ewma(s.build, took.Seconds()/float64(readings))
	}
}

// observeCommit counts a block of readings this node committed in took.
func (s *blockSizer) observeCommit(readings int, took time.Duration) {
	if readings >= minSizedReadings {
		s.commit = ewma(s.commit, took.Seconds()/float64(readings))
	}
}

// limit is the most readings a data block of this node may carry, for a
// propose timeout of timeout: between minReadingsPerBlock and
// maxReadingsPerBlock.
func (s *blockSizer) limit(timeout time.Duration) int {
	cost := s.validate + s.build + s.commit
	if cost <= 0 {
		return maxReadingsPerBlock
	}
	n := blockValidationShare * timeout.Seconds() / cost
	if n >= maxReadingsPerBlock {
		return maxReadingsPerBlock
	}
	return max(int(n), minReadingsPerBlock)
}
