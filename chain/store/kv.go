package store

import (
	"bytes"
	"errors"
)

// Errors of KV implementations. Store wraps them too.
var (
	// ErrNotFound is returned (possibly wrapped) for an absent key, block,
	// reading or transaction.
	ErrNotFound = errors.New("not found")
	// ErrClosed is returned by every method of a KV (and of a Store over
	// it) once the KV is closed.
	ErrClosed = errors.New("store closed")
	// ErrBatchDone is returned by Batch.Write when the batch was already
	// written or discarded.
	ErrBatchDone = errors.New("batch already written or discarded")
	// ErrBatchTooBig is returned by Batch.Write when the batch exceeds what
	// the KV can write atomically. Nothing of it is written.
	ErrBatchTooBig = errors.New("batch too big to write atomically")
	// ErrEmptyKey is returned by Batch.Write when a Set or Delete had an
	// empty key.
	ErrEmptyKey = errors.New("empty key")
	// ErrStop may be returned by an Iterate callback to end the iteration
	// early; Iterate then returns nil.
	ErrStop = errors.New("stop iteration")
)

// KV is the ordered key-value store that Store is built on: badger on disk
// (BadgerKV) and a sorted map in memory (MemoryKV). Both pass the shared
// suite in package kvtest.
//
// Threading contract: every method is safe for concurrent use by many
// goroutines, except Close, which the owner calls once, after every other
// call has returned. Readers see only written batches, never part of one.
// Writes of concurrent batches are not ordered against each other; Store
// serializes its own.
type KV interface {
	// Get returns a copy of the value stored under key, which the caller
	// owns, or an error wrapping ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Iterate calls fn for the keys that start with prefix and fall in the
	// range of opts, in ascending key order (descending with
	// opts.Reverse), over a consistent snapshot taken when it starts: a
	// batch written meanwhile is seen entirely or not at all. fn must not
	// keep or modify key or value after it returns (copy them); it may
	// call Get and Iterate, and it may write batches, which the ongoing
	// iteration does not see. Iterate stops at the first error fn returns
	// and returns it, except ErrStop, for which it returns nil.
	Iterate(prefix []byte, opts IterOptions, fn func(key, value []byte) error) error
	// NewBatch starts a set of writes applied atomically by Batch.Write.
	NewBatch() Batch
	// Close releases the KV. Later calls return ErrClosed.
	Close() error
}

// IterOptions bound an iteration to Start ≤ key < End, within the prefix.
// A nil Start or End leaves that side unbounded. The bounds do not depend
// on the direction: a reverse iteration walks the same keys, from the
// largest one below End down to Start.
type IterOptions struct {
	Start   []byte
	End     []byte
	Reverse bool
}

// Batch collects writes that Write applies atomically: after a crash, all of
// them are stored or none is. A Batch belongs to one goroutine.
//
// Set and Delete keep key and value (without copying them) until Write or
// Discard returns: the caller must not modify them before. Later writes of
// one key override earlier ones of the same batch. Once Write or Discard
// has been called, the batch is spent.
type Batch interface {
	Set(key, value []byte)
	Delete(key []byte)
	// Write applies the batch atomically and durably (for a KV on disk,
	// the write has reached stable storage when Write returns nil).
	Write() error
	// Discard drops the batch without writing it; it is safe to call after
	// Write and more than once, so it can be deferred.
	Discard()
}

// inRange reports whether key, which has the iteration's prefix, is within
// opts' bounds.
func (o *IterOptions) inRange(key []byte) bool {
	if o.Start != nil && bytes.Compare(key, o.Start) < 0 {
		return false
	}
	if o.End != nil && bytes.Compare(key, o.End) >= 0 {
		return false
	}
	return true
}

// prefixEnd is the smallest key greater than every key starting with
// prefix, or nil when there is none (prefix empty or all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// iterBounds intersects the prefix with opts: the iteration covers lo ≤ key
// < hi, where a nil hi is unbounded.
func iterBounds(prefix []byte, opts IterOptions) (lo, hi []byte) {
	lo = prefix
	if opts.Start != nil && bytes.Compare(opts.Start, lo) > 0 {
		lo = opts.Start
	}
	hi = prefixEnd(prefix)
	if opts.End != nil && (hi == nil || bytes.Compare(opts.End, hi) < 0) {
		hi = opts.End
	}
	return lo, hi
}

// stopped maps the error that ended an iteration to what Iterate returns:
// nil for ErrStop.
func stopped(err error) error {
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}
