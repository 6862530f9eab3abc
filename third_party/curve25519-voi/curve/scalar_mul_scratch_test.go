// This file is the fork's, not upstream's: see WATERCHAIN.md at the
// module's root.

package curve

import (
	"sync"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
)

// scratchReuseSizes are calls of sizes in turn on both sides of
// mulPippengerThreshold, so that each call finds scratch that a call of
// another size, over other terms, left in the pool.
var scratchReuseSizes = []int{1, 11, 189, 2, 190, 191, 3, 600, 23, 64, 1000, 5, 250, 94, 0}

// scratchReuseCase is a thousand terms and the prefix sums of their
// products, worked out by single multiplications, which take no scratch
// from the pools.
type scratchReuseCase struct {
	xs     []*scalar.Scalar
	points []*EdwardsPoint
	sums   []EdwardsPoint // sums[i] = xs[0]*points[0] + ... + xs[i-1]*points[i-1]
}

func newScratchReuseCase(t *testing.T) *scratchReuseCase {
	const n = 1000
	c := &scratchReuseCase{
		xs:     newTestBenchRandomScalars(t, n),
		points: make([]*EdwardsPoint, n),
		sums:   make([]EdwardsPoint, n+1),
	}
	c.sums[0].Identity()
	for i := range c.points {
		c.points[i] = newTestBenchRandomPoint(t)
		var p EdwardsPoint
		c.sums[i+1].Add(&c.sums[i], p.Mul(c.points[i], c.xs[i]))
	}
	return c
}

// run checks MultiscalarMulVartime and ExpandedMultiscalarMulVartime
// (half the terms expanded) over each of scratchReuseSizes, from two
// goroutines at once, each over other terms and in another order.
func (c *scratchReuseCase) run(t *testing.T) {
	expanded := make([]*ExpandedEdwardsPoint, len(c.points))
	for i, p := range c.points { // with the backend in use
		expanded[i] = NewExpandedEdwardsPoint(p)
	}
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for round := range scratchReuseSizes {
				n := scratchReuseSizes[round]
				if g == 1 {
					n = scratchReuseSizes[len(scratchReuseSizes)-1-round]
				}
				off := (round*37 + g*101) % (len(c.xs) - n + 1)
				end, mid := off+n, off+n/2
				var want, got EdwardsPoint
				want.Sub(&c.sums[end], &c.sums[off])
				got.MultiscalarMulVartime(c.xs[off:end], c.points[off:end])
				if got.Equal(&want) != 1 {
					t.Errorf("goroutine %d, round %d: MultiscalarMulVartime of terms %d to %d differs from the sum of products", g, round, off, end)
				}
				got.ExpandedMultiscalarMulVartime(c.xs[off:mid], expanded[off:mid], c.xs[mid:end], c.points[mid:end])
				if got.Equal(&want) != 1 {
					t.Errorf("goroutine %d, round %d: ExpandedMultiscalarMulVartime of terms %d to %d differs from the sum of products", g, round, off, end)
				}
			}
		}(g)
	}
	wg.Wait()
}

// TestMultiscalarMulScratchReuse checks that the pooled scratch of the
// variable-time multiscalar multiplications changes no result, with the
// backend in use (the generic one: scalar_mul_scratch_amd64_test.go).
func TestMultiscalarMulScratchReuse(t *testing.T) {
	newScratchReuseCase(t).run(t)
}
