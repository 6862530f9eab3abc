package node

import (
	"time"

	"github.com/waterchain/waterchain/chain"
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
// Those parts leave out what a proposal costs on its way: its transfer
// and decoding at the others, the wait of its votes behind the readings'
// gossip on a busy machine. At 16,000 readings/s offered (1.7 times the
// peak) blocks grew to the 20,000-reading cap, each height taking
// seconds. So the sizer also times each of this node's own proposals
// from the start of its building to its commit here — the whole height,
// on this node's clock — and takes the larger of the two costs per
// reading: a height then fits in blockValidationShare of the propose
// timeout whatever part of it grew.
//
// Owned by the loop goroutine.
type blockSizer struct {
	// validate, build and commit are seconds per reading, exponentially
	// weighted over recent blocks; 0 until a block of at least
	// minSizedReadings was measured. height is likewise the whole
	// height of this node's proposals, per reading.
	validate, build, commit, height float64
	// proposal is this node's latest data block proposal and when its
	// building started.
	proposal   chain.Hash
	proposedAt time.Time
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

// proposed notes this node's data block proposal hash, whose building
// started at start.
func (s *blockSizer) proposed(hash chain.Hash, start time.Time) {
	s.proposal, s.proposedAt = hash, start
}

// observeHeight counts a data block of readings committed at now: when it
// is this node's latest proposal, the time since its building started.
func (s *blockSizer) observeHeight(hash chain.Hash, readings int, now time.Time) {
	if hash != s.proposal || s.proposedAt.IsZero() {
		return
	}
	if readings >= minSizedReadings {
		s.height = ewma(s.height, now.Sub(s.proposedAt).Seconds()/float64(readings))
	}
	s.proposal, s.proposedAt = chain.Hash{}, time.Time{}
}

// limit is the most readings a data block of this node may carry, for a
// propose timeout of timeout: between minReadingsPerBlock and
// maxReadingsPerBlock.
func (s *blockSizer) limit(timeout time.Duration) int {
	cost := max(s.validate+s.build+s.commit, s.height)
	if cost <= 0 {
		return maxReadingsPerBlock
	}
	n := blockValidationShare * timeout.Seconds() / cost
	if n >= maxReadingsPerBlock {
		return maxReadingsPerBlock
	}
	return max(int(n), minReadingsPerBlock)
}
