// This file is the fork's, not upstream's: see WATERCHAIN.md at the
// module's root.

package ed25519

import (
	"sync"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
)

// maxPooledBatchTerms is the most terms (two a signature and the base
// point) whose scratch VerifyBatchOnly puts back in the pool, 56 bytes a
// term (about 450 KiB); larger batches allocate their own, as upstream
// does. The pool keeps what it holds until sync.Pool drops it, after two
// garbage collections without use.
const maxPooledBatchTerms = 1 << 13

// batchScratch is the scratch of VerifyBatchOnly: the scalars of the
// batch verification equation and the points they multiply.
type batchScratch struct {
	svals    []scalar.Scalar
	scalars  []*scalar.Scalar
	points   []*curve.EdwardsPoint
	staticAs []*curve.ExpandedEdwardsPoint
}

var batchScratchPool = sync.Pool{New: func() interface{} { return new(batchScratch) }}

// getBatchScratch returns scratch with room for n terms, svals[:n] zeroed
// as make would give them.
func getBatchScratch(n int) *batchScratch {
	s := batchScratchPool.Get().(*batchScratch)
	if cap(s.svals) < n {
		s.svals = make([]scalar.Scalar, n)
		s.scalars = make([]*scalar.Scalar, n)
		s.points = make([]*curve.EdwardsPoint, n)
		s.staticAs = make([]*curve.ExpandedEdwardsPoint, n)
	}
	s.svals = s.svals[:n]
	for i := range s.svals {
		s.svals[i] = scalar.Scalar{}
	}
	return s
}

func putBatchScratch(s *batchScratch) {
	if cap(s.svals) > maxPooledBatchTerms {
		return
	}
	// Keep no batch's points alive from the pool.
	for i := range s.points[:cap(s.points)] {
		s.points[i] = nil
	}
	for i := range s.staticAs[:cap(s.staticAs)] {
		s.staticAs[i] = nil
	}
	batchScratchPool.Put(s)
}
