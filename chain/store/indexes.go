package store

import (
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
// hash at its lane and height; each reading's sequence, time and hash
// entries at its location; each transaction's hash at its location and its
// kind entry. It
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
		if err := want(readSeqKey(r.Device, r.Seq), chain.LaneData, i); err != nil {
			return err
		}
		if err := want(readTimeKey(r.Device, r.Time, r.Seq), chain.LaneData, i); err != nil {
			return err
		}
		if err := want(hashKey(prefixReadHash, r.Hash()), chain.LaneData, i); err != nil {
			return err
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

func indexErr(key []byte, err error, format string, args ...any) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: %s is missing for %s", ErrIndex, keyName(key), fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("reading %s: %w", keyName(key), err)
}

// IndexCounts are the entries of each index table.
type IndexCounts struct {
	Blocks        uint64 // block hash, lane, height (both lanes)
	ReadingSeqs   uint64 // device, seq → location
	ReadingTimes  uint64 // device, time, seq → location
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
		{prefixBlockHash, &c.Blocks}, {prefixReadSeq, &c.ReadingSeqs},
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

// Add adds o to s.
func (s *IndexSum) Add(o IndexSum) {
	var carry uint64
	for i := range s.Sum {
		s.Sum[i], carry = bits.Add64(s.Sum[i], o.Sum[i], carry)
	}
	s.N += o.N
}

// BlockIndexSum digests the index entries Commit writes for b.
func BlockIndexSum(b *chain.Block) IndexSum {
	var s IndexSum
	h := &b.Header
	s.add(blockHashKey(h.Hash(), h.Lane, h.Height), nil)
	for i, r := range b.Readings {
		loc := appendLocation(nil, h.Height, uint32(i))
		s.add(readSeqKey(r.Device, r.Seq), loc)
		s.add(readTimeKey(r.Device, r.Time, r.Seq), loc)
		s.add(hashKey(prefixReadHash, r.Hash()), loc)
	}
	for i, tx := range b.Txs {
		s.add(hashKey(prefixTx, tx.Hash()), appendLocation(nil, h.Height, uint32(i)))
		if key, ok := txKindKey(tx, h.Height, uint32(i)); ok {
			s.add(key, nil)
		}
	}
	return s
}

// IndexSum reads every index table in key order and digests it.
func (s *Store) IndexSum() (IndexSum, error) {
	var sum IndexSum
	for _, p := range []byte{prefixBlockHash, prefixReadSeq, prefixReadTime, prefixReadHash, prefixTx, prefixTxKind} {
		err := s.kv.Iterate([]byte{p}, IterOptions{}, func(k, v []byte) error {
			sum.add(k, v)
			return nil
		})
		if err != nil {
			return sum, fmt.Errorf("reading the %q index: %w", p, err)
		}
	}
	return sum, nil
}
