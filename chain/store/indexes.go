package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/waterchain/waterchain/chain"
)

// ErrIndex is returned (wrapped, naming the index key) by CheckBlockIndexes
// and CountIndexes when an index disagrees with the blocks: an entry that
// is missing, points elsewhere or has no block. The API and proofs look
// entries up through these indexes, so a wrong one would serve the wrong
// reading or none.
var ErrIndex = errors.New("index does not match the blocks")

// CheckBlockIndexes checks that every index entry Commit wrote for b (as
// stored at its lane and height) is present and points at it: the block
// hash at its lane and height; each reading's hash entry at its location
// and its device entry (n, or q and r for a late reading) at its time and
// location; each transaction's hash at its location and its kind entry. It
// reads the entries one by one; an auditor compares IndexSum with the sum of
// BlockIndexSum over all blocks instead, a sequential read, and calls this
// only to name the block whose entries are wrong.
func (s *Store) CheckBlockIndexes(b *chain.Block) error {
	h := &b.Header
	key := blockHashKey(h.Hash(), h.Lane, h.Height)
	v, err := s.kv.Get(key)
	if err != nil {
		return indexErr(key, err, "block %s/%d", h.Lane, h.Height)
	}
	if len(v) != 0 {
		return fmt.Errorf("%w: %s holds %d bytes, want none", ErrIndex, keyName(key), len(v))
	}
	want := func(key []byte, lane chain.Lane, index int) error {
		v, err := s.kv.Get(key)
		if err != nil {
			return indexErr(key, err, "entry %s/%d[%d]", lane, h.Height, index)
		}
		loc, err := decodeLocation(key, lane, v)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrIndex, err)
		}
		if loc.Height != h.Height || loc.Index != uint32(index) {
			return fmt.Errorf("%w: %s names %s, the entry is %s/%d[%d]", ErrIndex, keyName(key), loc, lane, h.Height, index)
		}
		return nil
	}
	for i, r := range b.Readings {
		late, err := s.wantDeviceEntry(r, h.Height, i)
		if err != nil {
			return err
		}
		if late {
			if err := want(readTimeKey(r.Device, r.Time, r.Seq), chain.LaneData, i); err != nil {
				return err
			}
		}
		key := readHashKey(r.Hash(), h.Height, uint32(i))
		if _, err := s.kv.Get(key); err != nil {
			return indexErr(key, err, "entry %s/%d[%d]", chain.LaneData, h.Height, i)
		}
	}
	for i, tx := range b.Txs {
		if err := want(hashKey(prefixTx, tx.Hash()), chain.LaneTx, i); err != nil {
			return err
		}
		if key, ok := txKindKey(tx, h.Height, uint32(i)); ok {
			if _, err := s.kv.Get(key); err != nil {
				return indexErr(key, err, "entry %s/%d[%d]", chain.LaneTx, h.Height, i)
			}
		}
	}
	return nil
}

// wantDeviceEntry checks the device index entry of r, reading index of
// the data block at height: in n, or else in q (late reports which).
func (s *Store) wantDeviceEntry(r *chain.Reading, height uint64, index int) (late bool, err error) {
	key := readSeqKey(r.Device, r.Seq)
	v, err := s.kv.Get(key)
	if errors.Is(err, ErrNotFound) {
		late, key = true, readLateKey(r.Device, r.Seq)
		v, err = s.kv.Get(key)
	}
	if err != nil {
		return false, indexErr(key, err, "entry %s/%d[%d]", chain.LaneData, height, index)
	}
	t, loc, err := decodeTimedLocation(key, v)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrIndex, err)
	}
	if loc.Height != height || loc.Index != uint32(index) {
		return false, fmt.Errorf("%w: %s names %s, the entry is %s/%d[%d]", ErrIndex, keyName(key), loc, chain.LaneData, height, index)
	}
	if t != r.Time {
		return false, fmt.Errorf("%w: %s says %s, the reading at %s/%d[%d] is timed %s", ErrIndex, keyName(key), t, chain.LaneData, height, index, r.Time)
	}
	return late, nil
}

func indexErr(key []byte, err error, format string, args ...any) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: %s is missing for %s", ErrIndex, keyName(key), fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("reading %s: %w", keyName(key), err)
}

// IndexCounts are the entries of each index table.
type IndexCounts struct {
	Blocks        uint64 // block hash, lane, height (both lanes)
	ReadingSeqs   uint64 // device, seq → time, location: in order (n) and late (q), one per reading
	LateReadings  uint64 // of which late (q)
	ReadingTimes  uint64 // device, time, seq → location: late readings (r), one per entry of q
	ReadingHashes uint64 // reading hash → location
	Txs           uint64 // tx hash → location
	TxKinds       uint64 // tx kind, location → (empty)
}

// CountIndexes counts the entries of each index table. A store whose
// blocks all pass CheckBlockIndexes and whose counts equal the blocks',
// readings' and transactions' numbers has no index entry beyond them.
func (s *Store) CountIndexes() (IndexCounts, error) {
	var c IndexCounts
	for _, t := range []struct {
		prefix byte
		n      *uint64
	}{
		{prefixBlockHash, &c.Blocks}, {prefixReadSeq, &c.ReadingSeqs}, {prefixReadLate, &c.LateReadings},
		{prefixReadTime, &c.ReadingTimes}, {prefixReadHash, &c.ReadingHashes}, {prefixTx, &c.Txs},
		{prefixTxKind, &c.TxKinds},
	} {
		err := s.kv.Iterate([]byte{t.prefix}, IterOptions{}, func(_, _ []byte) error {
			*t.n++
			return nil
		})
		if err != nil {
			return c, fmt.Errorf("counting the %q index: %w", t.prefix, err)
		}
	}
	c.ReadingSeqs += c.LateReadings
	return c, nil
}

// IndexSum digests a set of index entries independently of their order:
// their number and the sum, modulo 2^256, of SHA-256(key ‖ value) of each.
// Two sets with equal sums are equal but with negligible probability.
type IndexSum struct {
	N   uint64
	Sum [4]uint64 // little-endian limbs
}

func (s *IndexSum) add(key, value []byte) {
	h := sha256.New()
	h.Write(key)
	h.Write(value)
	var d [32]byte
	h.Sum(d[:0])
	var carry uint64
	for i := range s.Sum {
		s.Sum[i], carry = bits.Add64(s.Sum[i], binary.LittleEndian.Uint64(d[8*i:]), carry)
	}
	s.N++
}

// sub takes o from s.
func (s *IndexSum) sub(o IndexSum) {
	var borrow uint64
	for i := range s.Sum {
		s.Sum[i], borrow = bits.Sub64(s.Sum[i], o.Sum[i], borrow)
	}
	s.N -= o.N
}

// Add adds o to s.
func (s *IndexSum) Add(o IndexSum) {
	var carry uint64
	for i := range s.Sum {
		s.Sum[i], carry = bits.Add64(s.Sum[i], o.Sum[i], carry)
	}
	s.N += o.N
}

// BlockIndexSum digests the index entries Commit writes for b. Whether a
// reading is in order (n) or late (q and r) depends on the readings
// before it, so a reading's device entry is digested as its n entry
// either way, as IndexSum digests a q entry; IndexSum checks r against q
// itself.
func BlockIndexSum(b *chain.Block) IndexSum {
	var s IndexSum
	h := &b.Header
	s.add(blockHashKey(h.Hash(), h.Lane, h.Height), nil)
	for i, r := range b.Readings {
		tloc := appendTimedLocation(nil, r.Time, h.Height, uint32(i))
		s.add(readSeqKey(r.Device, r.Seq), tloc)
		s.add(readHashKey(r.Hash(), h.Height, uint32(i)), nil)
	}
	for i, tx := range b.Txs {
		s.add(hashKey(prefixTx, tx.Hash()), appendLocation(nil, h.Height, uint32(i)))
		if key, ok := txKindKey(tx, h.Height, uint32(i)); ok {
			s.add(key, nil)
		}
	}
	return s
}

// IndexSum reads every index table in key order and digests it, as
// BlockIndexSum digests a block's entries: an entry of q as the entry of
// n it would be, and r not at all, but whatever r holds beyond or short of
// the entries q names changes the sum, and so does an entry of n out of
// time order (the searches by time rely on that order).
func (s *Store) IndexSum() (IndexSum, error) {
	var sum IndexSum
	for _, p := range []byte{prefixBlockHash, prefixReadHash, prefixTx, prefixTxKind} {
		err := s.kv.Iterate([]byte{p}, IterOptions{}, func(k, v []byte) error {
			sum.add(k, v)
			return nil
		})
		if err != nil {
			return sum, fmt.Errorf("reading the %q index: %w", p, err)
		}
	}
	var prev []byte // the previous key of n
	err := s.kv.Iterate([]byte{prefixReadSeq}, IterOptions{}, func(k, v []byte) error {
		sum.add(k, v)
		if len(k) != deviceSeqKeyLen || len(v) != timedLocationLen {
			sum.add(k, v) // counted twice: the sum differs
			prev = nil
			return nil
		}
		if prev != nil && bytes.Equal(prev[:1+pubKeyLen], k[:1+pubKeyLen]) && bytes.Compare(prev[deviceSeqKeyLen:], v[:heightLen]) >= 0 {
			sum.add(k, v) // out of time order: the sum differs
		}
		prev = append(append(prev[:0], k...), v[:heightLen]...)
		return nil
	})
	if err != nil {
		return sum, fmt.Errorf("reading the %q index: %w", prefixReadSeq, err)
	}
	var wantTimes IndexSum // the entries of r that q names
	err = s.kv.Iterate([]byte{prefixReadLate}, IterOptions{}, func(k, v []byte) error {
		n := bytes.Clone(k)
		n[0] = prefixReadSeq
		sum.add(n, v)
		if len(k) == deviceSeqKeyLen && len(v) == timedLocationLen {
			var dev chain.PubKey
			copy(dev[:], k[1:])
			wantTimes.add(readTimeKey(dev, decodeTime(v), binary.BigEndian.Uint64(k[1+pubKeyLen:])), v[heightLen:])
		}
		return nil
	})
	if err != nil {
		return sum, fmt.Errorf("reading the %q index: %w", prefixReadLate, err)
	}
	var times IndexSum
	err = s.kv.Iterate([]byte{prefixReadTime}, IterOptions{}, func(k, v []byte) error {
		times.add(k, v)
		return nil
	})
	if err != nil {
		return sum, fmt.Errorf("reading the %q index: %w", prefixReadTime, err)
	}
	sum.Add(times)
	sum.sub(wantTimes)
	return sum, nil
}
