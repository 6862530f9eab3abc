// This file is the fork's, not upstream's: see WATERCHAIN.md at the
// module's root.

package curve

import "sync"

// The variable-time multiscalar multiplications take their scratch (the
// scalars' digits, the points' tables, Pippenger's buckets) from pools
// instead of allocating it on every call: a batch verification of a few
// Ed25519 signatures allocated about 1.5 KiB a signature here, most of
// what the verifier allocates. Every element a call reads it has first
// written, or is zeroed as make would give it, so the results are those of
// upstream's code.
//
// The pools keep what they hold until sync.Pool drops it, after two
// garbage collections without use. Straus runs on at most
// mulPippengerThreshold terms, so its scratch is bounded (under 300 KiB)
// and is always put back; Pippenger's grows with the batch, so it is put
// back only up to maxPooledTerms terms (about 1.6 MiB).

// maxPooledTerms is the most terms whose Pippenger scratch is put back in
// the pool: a batch of 4,095 Ed25519 signatures (two terms a signature and
// the base point). Larger calls allocate their own and leave it to the
// garbage collector, as upstream does.
const maxPooledTerms = 1 << 13

// strausScratch is the scratch of a variable-time Straus multiplication.
type strausScratch struct {
	staticNafs, dynamicNafs [][256]int8

	// Vector backend: the expanded points' own tables, and a table made
	// for each other point.
	staticCachedTables  []*cachedPointNafLookupTable
	dynamicCachedTables []cachedPointNafLookupTable

	// Generic backend: likewise.
	staticNielsTables  []*projectiveNielsPointNafLookupTable
	dynamicNielsTables []projectiveNielsPointNafLookupTable
}

var strausScratchPool = sync.Pool{New: func() interface{} { return new(strausScratch) }}

func getStrausScratch() *strausScratch {
	return strausScratchPool.Get().(*strausScratch)
}

func putStrausScratch(s *strausScratch) {
	// Keep no expanded point alive from the pool.
	clearScratch(s.staticCachedTables[:cap(s.staticCachedTables)])
	clearScratch(s.staticNielsTables[:cap(s.staticNielsTables)])
	strausScratchPool.Put(s)
}

// pippengerScratch is the scratch of a variable-time Pippenger
// multiplication.
type pippengerScratch struct {
	digits [][43]int8

	cachedPoints  []cachedPoint // vector backend
	cachedBuckets []extendedPoint

	nielsPoints  []projectiveNielsPoint // generic backend
	nielsBuckets []EdwardsPoint
}

var pippengerScratchPool = sync.Pool{New: func() interface{} { return new(pippengerScratch) }}

func getPippengerScratch() *pippengerScratch {
	return pippengerScratchPool.Get().(*pippengerScratch)
}

func putPippengerScratch(s *pippengerScratch, terms int) {
	if terms <= maxPooledTerms {
		pippengerScratchPool.Put(s)
	}
}

// emptyScratch returns *buf emptied, with room for n elements, as
// make([]T, 0, n) would; *buf is made anew when it has too little room.
func emptyScratch[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, 0, n)
	}
	return (*buf)[:0]
}

// zeroedScratch returns n zero elements of *buf, as make([]T, n) would;
// *buf is made anew when it has too little room.
func zeroedScratch[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	s := (*buf)[:n]
	clearScratch(s)
	return s
}

// clearScratch zeroes every element of s.
func clearScratch[T any](s []T) {
	var zero T
	for i := range s {
		s[i] = zero
	}
}
