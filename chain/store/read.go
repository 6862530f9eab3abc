package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// get reads key, naming what is missing in the error.
func (s *Store) get(key []byte) ([]byte, error) {
	v, err := s.kv.Get(key)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, keyName(key))
	}
	return v, err
}

// getCommitted reads a record of the block of lane at height: missing at a
// height up to the lane head, it is corruption, not absence.
//
// The head moves only once a write is visible, so a record missing at
// first and at or below the head when asked after may have been written
// in between (a reader asking for a block as the commit writer stores
// it): it is read again, and only missing then is it corruption.
func (s *Store) getCommitted(key []byte, lane chain.Lane, height uint64) ([]byte, error) {
	v, err := s.get(key)
	if errors.Is(err, ErrNotFound) {
		if head := s.Height(lane); height >= 1 && height <= head {
			if v, err = s.get(key); errors.Is(err, ErrNotFound) {
				return nil, corrupt(key, "missing below the %s head %d", lane, head)
			}
		}
	}
	return v, err
}

// record reads and decodes the block record of lane at height.
func (s *Store) record(lane chain.Lane, height uint64) ([]byte, *record, error) {
	key := headerKey(lane, height)
	v, err := s.getCommitted(key, lane, height)
	if err != nil {
		return nil, nil, recordErr(lane, height, err)
	}
	rec, err := decodeRecord(key, v)
	if err != nil {
		return nil, nil, recordErr(lane, height, err)
	}
	return key, rec, nil
}

// blockHash returns the hash of the committed block of lane at height,
// as its record holds it.
func (s *Store) blockHash(lane chain.Lane, height uint64) (chain.Hash, error) {
	key := headerKey(lane, height)
	v, err := s.getCommitted(key, lane, height)
	if err != nil {
		return chain.Hash{}, err
	}
	return recordHash(key, v)
}

// hashAt is blockHash for a record that names the block at lane and
// height: its absence is corruption.
func (s *Store) hashAt(lane chain.Lane, height uint64) (chain.Hash, error) {
	h, err := s.blockHash(lane, height)
	if errors.Is(err, ErrNotFound) {
		err = corrupt(headerKey(lane, height), "missing, named by a later block record")
	}
	return h, recordErr(lane, height, err)
}

// headerOf rebuilds the header of rec, the record of lane at height.
// When the header does not hash to the record's hash and some of its
// hashes came from other records (its parent's, its anchor's), those are
// rebuilt in turn: a damaged one is named instead (BlockRecordError), so
// that the damage is blamed on the record that holds it.
func (s *Store) headerOf(key []byte, rec *record, lane chain.Lane, height uint64) (chain.Header, error) {
	s.mu.RLock()
	genesis := s.genesis
	s.mu.RUnlock()
	h, err := rec.header(key, lane, height, genesis, s.hashAt, s.shared.value)
	if err == nil || !errors.Is(err, errRebuilt) {
		return h, recordErr(lane, height, err)
	}
	if rec.flags&flagPrevHash == 0 && height > 1 {
		if _, perr := s.Header(lane, height-1); perr != nil {
			return chain.Header{}, perr
		}
	}
	if rec.flags&flagAnchorHash == 0 && rec.anchorHeight > 0 {
		if _, aerr := s.Header(lane.Other(), rec.anchorHeight); aerr != nil {
			return chain.Header{}, aerr
		}
	}
	return chain.Header{}, recordErr(lane, height, err)
}

// Header returns the header of the committed block of lane at height.
func (s *Store) Header(lane chain.Lane, height uint64) (chain.Header, error) {
	s.mu.RLock()
	h, ok := s.recent[blockRef{lane, height}]
	s.mu.RUnlock()
	if ok {
		return h, nil
	}
	key, rec, err := s.record(lane, height)
	if err != nil {
		return chain.Header{}, err
	}
	return s.headerOf(key, rec, lane, height)
}

// Cert returns the commit certificate of the block of lane at height.
func (s *Store) Cert(lane chain.Lane, height uint64) (*chain.Certificate, error) {
	key, rec, err := s.record(lane, height)
	if err != nil {
		return nil, err
	}
	c, err := rec.cert(key, lane, height, s.shared.value)
	return c, recordErr(lane, height, err)
}

// headerAndCert rebuilds the header and certificate of the committed
// block of lane at height from its record (key is the record's key).
// headerOf checks that the header hashes to the hash the record holds,
// which is the certificate's block hash.
func (s *Store) headerAndCert(lane chain.Lane, height uint64) (key []byte, h chain.Header, cert *chain.Certificate, err error) {
	key, rec, err := s.record(lane, height)
	if err != nil {
		return nil, chain.Header{}, nil, err
	}
	if h, err = s.headerOf(key, rec, lane, height); err != nil {
		return nil, chain.Header{}, nil, err
	}
	if cert, err = rec.cert(key, lane, height, s.shared.value); err != nil {
		return nil, chain.Header{}, nil, recordErr(lane, height, err)
	}
	return key, h, cert, nil
}

// Block returns the committed block of lane at height with its entries and
// certificate. It checks the entries against the header's entries root.
func (s *Store) Block(lane chain.Lane, height uint64) (*chain.Block, error) {
	_, h, cert, err := s.headerAndCert(lane, height)
	if err != nil {
		return nil, err
	}
	b := &chain.Block{Header: h, Cert: cert}
	if h.NumEntries > 0 {
		if lane == chain.LaneData {
			b.Readings = make([]*chain.Reading, 0, h.NumEntries)
		} else {
			b.Txs = make([]*chain.Tx, 0, h.NumEntries)
		}
	}
	leaves := make([][]byte, 0, h.NumEntries)
	err = s.blockEntries(lane, height, h.NumEntries, func(i uint32, k, e []byte) error {
		leaves = append(leaves, e)
		if lane == chain.LaneData {
			r, err := decodeReadingEntry(k, e)
			if err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			b.Readings = append(b.Readings, r)
			return nil
		}
		tx, err := decodeTxEntry(k, e)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		b.Txs = append(b.Txs, tx)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The root check costs less than decoding the entries did, and a
	// damaged entry is reported rather than served.
	if err := checkEntriesRoot(lane, height, &h, leaves); err != nil {
		return nil, err
	}
	return b, nil
}

// BlockByHash returns the committed block with the given header hash.
func (s *Store) BlockByHash(hash chain.Hash) (*chain.Block, error) {
	var found *blockRef
	err := s.kv.Iterate(blockHashPrefix(hash), IterOptions{}, func(k, _ []byte) error {
		if len(k) != blockHashKeyLen {
			return corrupt(k, "block hash index key is %d bytes, want %d", len(k), blockHashKeyLen)
		}
		ref := blockRef{lane: chain.Lane(k[1+blockHashPrefixLen]), height: binary.BigEndian.Uint64(k[2+blockHashPrefixLen:])}
		if !ref.lane.Valid() || ref.height == 0 {
			return corrupt(k, "names %s/%d", ref.lane, ref.height)
		}
		got, err := s.blockHash(ref.lane, ref.height)
		if errors.Is(err, ErrNotFound) {
			return corrupt(k, "names %s/%d, which is not stored", ref.lane, ref.height)
		}
		if err != nil {
			return err
		}
		if got == hash {
			found = &ref
			return ErrStop
		}
		return nil // another block whose hash begins the same
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("%w: block %s", ErrNotFound, hash)
	}
	return s.Block(found.lane, found.height)
}

// Reading returns the reading of device with sequence number seq and its
// location: one Get of the device index n, a second of q for a late
// reading or an absent one.
func (s *Store) Reading(device chain.PubKey, seq uint64) (*chain.Reading, Location, error) {
	key := readSeqKey(device, seq)
	v, err := s.kv.Get(key)
	if errors.Is(err, ErrNotFound) {
		late := readLateKey(device, seq)
		if v, err = s.kv.Get(late); errors.Is(err, ErrNotFound) {
			return nil, Location{}, fmt.Errorf("%w: %s", ErrNotFound, keyName(key))
		}
		key = late
	}
	if err != nil {
		return nil, Location{}, err
	}
	t, loc, err := decodeTimedLocation(key, v)
	if err != nil {
		return nil, Location{}, err
	}
	r, err := s.readingAt(device, indexed{seq: seq, time: t, loc: loc})
	if err != nil {
		return nil, Location{}, err
	}
	return r, loc, nil
}

// ReadingByHash returns the reading whose hash (chain.Reading.Hash) is
// hash and its location: one scan of the index entries under the hash's
// first 8 bytes (usually one) and one entry read each, whatever the
// chain's length.
func (s *Store) ReadingByHash(hash chain.Hash) (*chain.Reading, Location, error) {
	var (
		r   *chain.Reading
		loc Location
	)
	err := s.kv.Iterate(readHashPrefix(hash), IterOptions{}, func(k, _ []byte) error {
		if len(k) != readHashKeyLen {
			return corrupt(k, "reading hash index key is %d bytes, want %d", len(k), readHashKeyLen)
		}
		l, err := decodeLocation(k, chain.LaneData, k[1+readHashPrefixLen:])
		if err != nil {
			return err
		}
		ekey, ev, err := s.entry(l)
		if err != nil {
			return entryMissing(ekey, l, err, "indexed as a reading whose hash begins %x", hash[:readHashPrefixLen])
		}
		if chain.HashBytes(ev) != hash {
			return nil // another reading whose hash begins the same
		}
		if r, err = decodeReadingEntry(ekey, ev); err != nil {
			return fmt.Errorf("entry %d: %w", l.Index, err)
		}
		loc = l
		return ErrStop
	})
	if err != nil {
		return nil, Location{}, err
	}
	if r == nil {
		return nil, Location{}, fmt.Errorf("%w: reading %s", ErrNotFound, hash)
	}
	return r, loc, nil
}

// DataBlockTime returns the time of the committed data block at height.
// With ReadingsUpTo it makes the Store a state.ReadingSource.
func (s *Store) DataBlockTime(height uint64) (chain.Time, error) {
	h, err := s.Header(chain.LaneData, height)
	if err != nil {
		return 0, err
	}
	return h.Time, nil
}

// Tx returns the committed transaction with the given hash and its
// location.
func (s *Store) Tx(hash chain.Hash) (*chain.Tx, Location, error) {
	key := hashKey(prefixTx, hash)
	v, err := s.get(key)
	if err != nil {
		return nil, Location{}, err
	}
	loc, err := decodeLocation(key, chain.LaneTx, v)
	if err != nil {
		return nil, Location{}, err
	}
	ekey, ev, err := s.entry(loc)
	if err != nil {
		return nil, Location{}, entryMissing(ekey, loc, err, "indexed as tx %s", hash.Short())
	}
	if got := chain.HashBytes(ev); got != hash {
		return nil, Location{}, corrupt(ekey, "entry %d holds tx %s, indexed as tx %s", loc.Index, got.Short(), hash.Short())
	}
	tx, err := decodeTxEntry(ekey, ev)
	if err != nil {
		return nil, Location{}, fmt.Errorf("entry %d: %w", loc.Index, err)
	}
	return tx, loc, nil
}

// State returns the state value under key, or ErrNotFound. The caller owns
// the returned bytes.
func (s *Store) State(key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: empty state key", ErrNotFound)
	}
	return s.get(stateKey(key))
}

// IterateState calls fn for every state entry whose key starts with
// prefix, in ascending key order, on a consistent snapshot, and stops at
// the first error fn returns, returning it (ErrStop ends it with nil). fn
// must not keep or modify key or value after it returns. Its signature is
// that of state.Reader.
func (s *Store) IterateState(prefix []byte, fn func(key, value []byte) error) error {
	p := stateKey(prefix)
	return s.kv.Iterate(p, IterOptions{}, func(k, v []byte) error {
		return fn(k[1:], v)
	})
}
