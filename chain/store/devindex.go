package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/waterchain/waterchain/chain"
)

// The device index (schema 6). A device's readings are indexed once each
// by device and sequence number, with their time in the value:
//
//	n<device><seq> → time, height, index    the readings in order
//	q<device><seq> → time, height, index    the late readings
//	r<device><time><seq> → height, index    the late readings again, by time
//
// A reading is in order when its sequence number and its time are both
// above those of the device's last reading in order when it is committed
// (its tip); the data-lane rules make every reading so but those that
// fill a gap late (chain/state, data.go), whose time may be anything in
// the window. The readings in n are therefore in time order as much as
// in sequence order, and a time range is found in them by a search over
// sequence numbers; the few late ones are found by their time in r. A
// reading in order costs two keys (n and the hash index d), a late one
// four.

// indexed is one reading as an index names it.
type indexed struct {
	seq  uint64
	time chain.Time
	loc  Location
}

// decodeSeqEntry decodes an entry of n or q.
func decodeSeqEntry(k, v []byte) (indexed, error) {
	if len(k) != deviceSeqKeyLen {
		return indexed{}, corrupt(k, "device index key is %d bytes, want %d", len(k), deviceSeqKeyLen)
	}
	t, loc, err := decodeTimedLocation(k, v)
	return indexed{seq: binary.BigEndian.Uint64(k[1+pubKeyLen:]), time: t, loc: loc}, err
}

// tip is the last reading in order of a device: the highest sequence
// number in n, and its time, the latest there.
type tip struct {
	seq  uint64
	time chain.Time
	ok   bool // false: the device has no reading in order
}

// follows reports whether a reading of seq at t is in order after tp.
func (tp tip) follows(seq uint64, t chain.Time) bool {
	return !tp.ok || (seq > tp.seq && t > tp.time)
}

// maxCachedTips bounds Store.tips (about 100 bytes each) between
// batches; past it the cache starts afresh.
const maxCachedTips = 1 << 18

// inOrder reports whether a reading of device with seq at t is in order
// after the device's tip as the batch being prepared leaves it, and if
// so makes it the tip. The tips of the batch are written into Store.tips
// as it goes: writePrepared clears them when the batch fails. Called with
// writeMu held.
func (s *Store) inOrder(device chain.PubKey, seq uint64, t chain.Time) (bool, error) {
	cur, ok := s.tips[device]
	if !ok {
		var err error
		if cur, err = s.readTip(device); err != nil {
			return false, err
		}
	}
	if !cur.follows(seq, t) {
		if !ok {
			s.tips[device] = cur
		}
		return false, nil
	}
	s.tips[device] = tip{seq: seq, time: t, ok: true}
	return true, nil
}

// readTip reads the committed tip of device: the device's last key in n.
func (s *Store) readTip(device chain.PubKey) (tip, error) {
	var t tip
	err := s.kv.Iterate(deviceKey(prefixReadSeq, device), IterOptions{Reverse: true}, func(k, v []byte) error {
		e, err := decodeSeqEntry(k, v)
		if err != nil {
			return err
		}
		t = tip{seq: e.seq, time: e.time, ok: true}
		return ErrStop
	})
	if err != nil {
		return tip{}, fmt.Errorf("reading the last reading of device %s: %w", device.Short(), err)
	}
	return t, nil
}

// readingsBetween lists the readings of device with from ≤ time < to (to
// == 0: no upper bound) at heights up to maxHeight: those in order, in
// sequence order, then the late ones, in time order; with limit > 0, at
// least the limit first in time order of them (the caller sorts and cuts).
func (s *Store) readingsBetween(device chain.PubKey, from, to chain.Time, maxHeight uint64, limit int) ([]indexed, error) {
	out, err := s.inOrderBetween(device, from, to, maxHeight, limit)
	if err != nil {
		return nil, err
	}
	late, err := s.lateBetween(device, from, to, maxHeight, limit)
	if err != nil {
		return nil, err
	}
	return append(out, late...), nil
}

// lateBetween lists, in time order, the late readings of device (r) with
// from ≤ time < to (to == 0: no upper bound) at heights up to maxHeight,
// at most limit of them (limit ≤ 0: all): one range scan, empty for most
// devices.
func (s *Store) lateBetween(device chain.PubKey, from, to chain.Time, maxHeight uint64, limit int) ([]indexed, error) {
	prefix := deviceKey(prefixReadTime, device)
	opts := IterOptions{Start: appendTime(bytes.Clone(prefix), from)}
	if to != 0 {
		opts.End = appendTime(bytes.Clone(prefix), to)
	}
	var out []indexed
	err := s.kv.Iterate(prefix, opts, func(k, v []byte) error {
		if len(k) != len(prefix)+2*heightLen {
			return corrupt(k, "reading time index key is %d bytes, want %d", len(k), len(prefix)+2*heightLen)
		}
		loc, err := decodeLocation(k, chain.LaneData, v)
		if err != nil {
			return err
		}
		if loc.Height > maxHeight {
			return nil
		}
		out = append(out, indexed{seq: binary.BigEndian.Uint64(k[len(prefix)+heightLen:]), time: decodeTime(k[len(prefix):]), loc: loc})
		if limit > 0 && len(out) >= limit {
			return ErrStop
		}
		return nil
	})
	return out, err
}

// probeRun is how many entries of n a probe of the search reads on from
// where it lands, looking for the range's first one.
const probeRun = 32

// inOrderBetween lists, in sequence order, the readings in order of device
// (n) with from ≤ time < to (to == 0: no upper bound) at heights up to
// maxHeight, at most limit of them (limit ≤ 0: all).
//
// Entries of n in sequence order are in time order too. The first one
// timed from or later is searched for by sequence number: a first probe
// reads the device's first probeRun entries; the next aims past them by
// the device's rate over them (and at least twice as far as the one
// before, while no entry timed from or later is known); then, between
// the last entry known before from and the first known at or after it,
// each probe seeks a sequence number, interpolated by time and bisected in
// turn. A probe reads on up to probeRun entries; once it steps from an
// entry timed before from to one at or after it, it goes on reading the
// range. A device that reads regularly takes two probes; any device takes
// O(log n) seeks (about twice the bits of its sequence range at worst).
// Probes read forward: a reverse step is a search in badger's memtable,
// and a reverse iteration cannot use badger's prefix to skip tables.
func (s *Store) inOrderBetween(device chain.PubKey, from, to chain.Time, maxHeight uint64, limit int) ([]indexed, error) {
	prefix := deviceKey(prefixReadSeq, device)
	var out []indexed
	// collect takes e, the range's first entry or one after it, and says
	// whether to read on.
	collect := func(e indexed) bool {
		if to != 0 && e.time >= to {
			return false
		}
		if e.loc.Height <= maxHeight {
			out = append(out, e)
		}
		return limit <= 0 || len(out) < limit
	}
	var (
		first, lo, hi  indexed // the device's first entry; lo.time < from ≤ hi.time
		haveLo, haveHi bool
		// With hi, hi is the first entry at top or above; without, n
		// holds no entry at top or above.
		top uint64 = math.MaxUint64
	)
	// probe reads n from mid on: it moves lo and hi closer, or finds the
	// first entry timed from or later (crossed) and reads the range on
	// from it, or finds no entry in [mid, top) (lowered), or reads to the
	// end of n (ended) having read entries before from only (read).
	probe := func(mid uint64) (crossed, lowered, ended bool, read int, err error) {
		ended = true
		err = s.scanFrom(prefix, mid, func(e indexed) bool {
			if crossed {
				return collect(e)
			}
			if !haveLo && read == 0 {
				first = e
			}
			// e follows lo, or is the device's first entry.
			adjacent := read > 0 || !haveLo
			if haveHi && e.seq >= top {
				if !adjacent {
					lowered, ended = true, false
					return false
				}
				crossed = true // e is hi
				return collect(e)
			}
			read++
			if e.time >= from {
				if adjacent {
					crossed = true
					return collect(e)
				}
				hi, haveHi, top = e, true, e.seq
				ended = false
				return false
			}
			lo, haveLo = e, true
			if read >= probeRun {
				ended = false
				return false
			}
			return true
		})
		return crossed, lowered, ended, read, err
	}
	crossed, _, ended, _, err := probe(0)
	if err != nil || crossed || ended {
		return out, err // the range, or none: n is empty or timed before from
	}
	step := uint64(probeRun) // how far past lo a probe without hi aims at least
	for i := 0; top-lo.seq > 1; i++ {
		mid := lo.seq + (top-lo.seq)/2
		switch {
		case haveHi && i%2 == 0 && hi.time > lo.time:
			span := hi.seq - lo.seq
			f := (float64(from) - float64(lo.time)) / (float64(hi.time) - float64(lo.time))
			off := span
			if x := f * float64(span); x < float64(span) {
				off = uint64(max(x, 0))
			}
			mid = min(max(lo.seq+off, lo.seq+2)-1, top-1) // a step early, to cross from
		case !haveHi && top == math.MaxUint64:
			// Beyond lo, by the device's rate from its first entry,
			// and at least twice as far as the last probe.
			off := step
			if lo.time > first.time && lo.seq > first.seq {
				x := (float64(from) - float64(lo.time)) * float64(lo.seq-first.seq) / (float64(lo.time) - float64(first.time))
				if x < float64(math.MaxUint64>>2) {
					off = max(off, uint64(max(x, 0)))
				} else {
					off = math.MaxUint64 >> 2
				}
			}
			step = min(2*step, math.MaxUint64>>2)
			mid = lo.seq + max(min(off, math.MaxUint64-lo.seq-1), 2) - 1
		}
		crossed, lowered, ended, read, err := probe(mid)
		switch {
		case err != nil || crossed:
			return out, err
		case ended && read > 0:
			return nil, nil // from mid to the end of n, all before from
		case lowered || ended:
			top = mid // nothing in [mid, top)
		}
	}
	if !haveHi {
		return nil, nil // nothing after lo
	}
	return out, s.scanFrom(prefix, hi.seq, collect)
}

// scanFrom calls fn with the entries of n under prefix from sequence
// number seq on, in order, while it returns true.
func (s *Store) scanFrom(prefix []byte, seq uint64, fn func(indexed) bool) error {
	return s.kv.Iterate(prefix, IterOptions{Start: binary.BigEndian.AppendUint64(bytes.Clone(prefix), seq)}, func(k, v []byte) error {
		e, err := decodeSeqEntry(k, v)
		if err != nil {
			return err
		}
		if !fn(e) {
			return ErrStop
		}
		return nil
	})
}

// readingAt fetches the reading at e.loc, which an index says is device's
// reading e.seq timed e.time.
func (s *Store) readingAt(device chain.PubKey, e indexed) (*chain.Reading, error) {
	key, v, err := s.entry(e.loc)
	if err != nil {
		return nil, entryMissing(key, e.loc, err, "indexed as reading %d of device %s", e.seq, device.Short())
	}
	r, err := decodeReadingEntry(key, v)
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", e.loc.Index, err)
	}
	if r.Device != device || r.Seq != e.seq {
		return nil, corrupt(key, "entry %d holds reading %d of device %s, indexed as reading %d of device %s", e.loc.Index, r.Seq, r.Device.Short(), e.seq, device.Short())
	}
	if r.Time != e.time {
		return nil, corrupt(key, "entry %d holds reading %d of device %s timed %s, indexed as timed %s", e.loc.Index, r.Seq, device.Short(), r.Time, e.time)
	}
	return r, nil
}

// fetchReadings reads the indexed readings in the order given.
func (s *Store) fetchReadings(device chain.PubKey, idx []indexed, fn func(*chain.Reading, Location) error) error {
	for _, e := range idx {
		r, err := s.readingAt(device, e)
		if err != nil {
			return err
		}
		if err := fn(r, e.loc); err != nil {
			return err
		}
	}
	return nil
}

// Readings calls fn with each reading of device with from ≤ time < to (to
// == 0: no upper bound) and its location, in time order (sequence order
// among equal times), at most limit of them (limit ≤ 0: all), and stops at
// the first error fn returns, returning it. fn owns the readings it is
// given.
func (s *Store) Readings(device chain.PubKey, from, to chain.Time, limit int, fn func(*chain.Reading, Location) error) error {
	if to != 0 && to <= from {
		return nil
	}
	idx, err := s.readingsBetween(device, from, to, ^uint64(0), limit)
	if err != nil {
		return err
	}
	slices.SortFunc(idx, func(a, b indexed) int {
		return cmp.Or(cmp.Compare(a.time, b.time), cmp.Compare(a.seq, b.seq))
	})
	if limit > 0 && len(idx) > limit {
		idx = idx[:limit]
	}
	return s.fetchReadings(device, idx, fn)
}

// LatestReadings calls fn with the n readings of device that have the
// highest sequence numbers, highest first, as Readings does.
func (s *Store) LatestReadings(device chain.PubKey, n int, fn func(*chain.Reading, Location) error) error {
	if n <= 0 {
		return nil
	}
	var idx []indexed
	for _, p := range []byte{prefixReadSeq, prefixReadLate} {
		got := 0
		err := s.kv.Iterate(deviceKey(p, device), IterOptions{Reverse: true}, func(k, v []byte) error {
			e, err := decodeSeqEntry(k, v)
			if err != nil {
				return err
			}
			idx = append(idx, e)
			if got++; got >= n {
				return ErrStop
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	slices.SortFunc(idx, func(a, b indexed) int { return cmp.Compare(b.seq, a.seq) })
	if len(idx) > n {
		idx = idx[:n]
	}
	return s.fetchReadings(device, idx, fn)
}

// ReadingsUpTo calls fn for every reading of device with from ≤ time < to
// that is recorded in a data block of height at most maxHeight, in
// increasing sequence order, and stops at the first error fn returns,
// returning it. The answer does not depend on blocks above maxHeight,
// which is what settlement needs (it counts readings up to its tx block's
// anchor). fn owns the readings it is given. Its signature is that of
// state.ReadingSource.
func (s *Store) ReadingsUpTo(device chain.PubKey, from, to chain.Time, maxHeight uint64, fn func(*chain.Reading) error) error {
	if to <= from || maxHeight == 0 {
		return nil
	}
	idx, err := s.readingsBetween(device, from, to, maxHeight, 0)
	if err != nil {
		return err
	}
	slices.SortFunc(idx, func(a, b indexed) int { return cmp.Compare(a.seq, b.seq) })
	return s.fetchReadings(device, idx, func(r *chain.Reading, _ Location) error { return fn(r) })
}
