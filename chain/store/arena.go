package store

// arena hands out the keys and values of a batch cut from one buffer per
// block, sized up front, instead of an allocation each. A batch holds
// all of them until it is written, when badger copies them into its
// memtable (the memory KV, into its snapshot), so they can share memory,
// which the garbage collector then frees at once. Why: at 500 readings/s
// a validator allocated about 7 MB/s, and the garbage collections of the
// 16 validators sharing a machine came all at once and took its cores
// from consensus (the p99 tail).
type arena struct{ buf []byte }

// reserve makes the next n bytes that alloc hands out come from one
// buffer, allocating it (of n bytes) unless the current one has room.
func (a *arena) reserve(n int) {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, n)
	}
}

// alloc returns an empty slice of capacity n, to append at most n bytes
// to: from the reserved buffer while it has room, or else allocated on
// its own. Its capacity ends where the next slice starts, so an append
// beyond n moves it elsewhere rather than overwrite another key or value.
func (a *arena) alloc(n int) []byte {
	if cap(a.buf)-len(a.buf) < n {
		return make([]byte, 0, n)
	}
	at := len(a.buf)
	a.buf = a.buf[:at+n]
	return a.buf[at : at : at+n]
}
