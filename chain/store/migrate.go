package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// migrations upgrade a store written by an older waterchain in place, one
// schema version at a time: migrations[v] takes a store of schema v to
// v+1. Each writes the new schema version in its last batch, so a
// migration cut short by a crash runs again from the start at the next
// Open (each is idempotent).
var migrations = map[uint64]func(kv KV) error{
	1: migrateReadingHashIndex,
	2: migrateTxKindIndex,
	3: migrateBlockRecords,
	4: migrateEntryChunks,
	5: migrateDeviceIndex,
}

// migrateBatchWrites and migrateBatchBytes bound one migration batch, well
// under what a badger transaction takes with the smallest memtable.
const (
	migrateBatchWrites = 10_000
	migrateBatchBytes  = 512 << 10
)

// migrateReadingHashIndex builds the reading hash index (d) of schema 2
// from the stored data blocks: one pass over the data lane's entries, the
// cost of reading the chain once, paid at the first start of the new
// version only.
func migrateReadingHashIndex(kv KV) error {
	err := indexEntries(kv, chain.LaneData, 2, func(k, v []byte, height uint64, index uint32, set func(k, v []byte)) error {
		r, err := decodeReadingEntry(k, v)
		if err != nil {
			return err
		}
		set(hashKey(prefixReadHash, r.Hash()), appendLocation(nil, height, index))
		return nil
	})
	if err != nil {
		return fmt.Errorf("building the reading hash index: %w", err)
	}
	return nil
}

// migrateTxKindIndex builds the tx kind index (k) of schema 3 from the
// stored tx blocks: one pass over the tx lane's entries, paid at the first
// start of the new version only.
func migrateTxKindIndex(kv KV) error {
	err := indexEntries(kv, chain.LaneTx, 3, func(k, v []byte, height uint64, index uint32, set func(k, v []byte)) error {
		tx, err := decodeTxEntry(k, v)
		if err != nil {
			return err
		}
		if key, ok := txKindKey(tx, height, index); ok { // as Commit: no valid block holds one without
			set(key, []byte{})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("building the tx kind index: %w", err)
	}
	return nil
}

// indexEntries runs fn over every stored entry of lane in key order, fn
// setting the index entries it derives, written in batches of
// migrateBatchWrites; the last batch records schema.
func indexEntries(kv KV, lane chain.Lane, schema uint64, fn func(k, v []byte, height uint64, index uint32, set func(k, v []byte)) error) error {
	mb := newMigrationBatch(kv)
	defer mb.discard()
	prefix := []byte{prefixEntry, byte(lane)}
	err := kv.Iterate(prefix, IterOptions{}, func(k, v []byte) error {
		if len(k) != len(prefix)+heightLen+indexLen {
			return corrupt(k, "entry key of %d bytes", len(k))
		}
		height := binary.BigEndian.Uint64(k[len(prefix):])
		index := binary.BigEndian.Uint32(k[len(prefix)+heightLen:])
		if err := fn(k, v, height, index, mb.set); err != nil {
			return err
		}
		return mb.err
	})
	if err != nil {
		return err
	}
	return mb.finish(schema)
}

// migrationBatch writes a migration in batches of migrateBatchWrites.
type migrationBatch struct {
	kv      KV
	b       Batch
	writes  int
	bytes   int
	err     error  // the first failed write
	flushed func() // called after each batch is written
	// atBoundaries: write only at boundary, so that what is set between
	// two boundaries (one block's rewrite) is in one batch.
	atBoundaries bool
}

func newMigrationBatch(kv KV) *migrationBatch {
	return &migrationBatch{kv: kv, b: kv.NewBatch()}
}

func (m *migrationBatch) set(k, v []byte) {
	m.b.Set(k, v)
	m.count(len(k) + len(v))
}

func (m *migrationBatch) delete(k []byte) {
	m.b.Delete(k)
	m.count(len(k))
}

func (m *migrationBatch) count(n int) {
	m.writes++
	m.bytes += n
	if !m.atBoundaries {
		m.boundary()
	}
}

// boundary writes the batch if it is full.
func (m *migrationBatch) boundary() {
	if (m.writes >= migrateBatchWrites || m.bytes >= migrateBatchBytes) && m.err == nil {
		m.err = m.b.Write()
		m.b, m.writes, m.bytes = m.kv.NewBatch(), 0, 0
		if m.err == nil && m.flushed != nil {
			m.flushed()
		}
	}
}

// finish records schema in the last batch and writes it.
func (m *migrationBatch) finish(schema uint64) error {
	if m.err != nil {
		return m.err
	}
	m.b.Set(metaKey(metaSchema), binary.BigEndian.AppendUint64(nil, schema))
	return m.b.Write()
}

func (m *migrationBatch) discard() { m.b.Discard() }

// migrateBlockRecords rewrites the blocks of schema 3, a CBOR header (h)
// and certificate (c) each, as the block records of schema 4 (record.go),
// and the block hash index (b<hash:32> → lane, height) in its short form
// (b<hash:8><lane><height>). One pass over the blocks, paid at the first
// start of the new version only. Records already rewritten by a pass cut
// short are left as they are.
func migrateBlockRecords(kv KV) error {
	shared, err := loadSharedTable(kv)
	if err != nil {
		return err
	}
	var genesis *chain.Hash
	if v, err := kv.Get(metaKey(metaGenesis)); err == nil && len(v) == hashLen {
		genesis = new(chain.Hash)
		copy(genesis[:], v)
	}
	// hashAt reads a block's hash from its record in either schema.
	hashAt := func(lane chain.Lane, height uint64) (chain.Hash, error) {
		key := headerKey(lane, height)
		v, err := kv.Get(key)
		if err != nil {
			return chain.Hash{}, err
		}
		if len(v) > 0 && v[0] == recordV1 {
			return recordHash(key, v)
		}
		h, err := decodeHeader(key, lane, height, v)
		if err != nil {
			return chain.Hash{}, err
		}
		return h.Hash(), nil
	}
	mb := newMigrationBatch(kv)
	defer mb.discard()
	in := shared.newInterner(mb.b)
	mb.flushed = func() {
		in.commit()
		in.batch = mb.b
	}
	// The lane heads hold their header (keys.go): rewritten first, in the
	// first batch, while the head's header is still stored whole.
	for _, lane := range chain.Lanes {
		key := headKey(lane)
		v, err := kv.Get(key)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if len(v) != heightLen {
			continue // rewritten by a pass cut short
		}
		height, err := decodeHeight(key, v)
		if err != nil {
			return err
		}
		hv, err := kv.Get(headerKey(lane, height))
		if err != nil {
			return fmt.Errorf("reading the head of %s: %w", lane, err)
		}
		h, err := decodeHeader(headerKey(lane, height), lane, height, hv)
		if err != nil {
			return err
		}
		mb.set(key, encodeHead(&h))
	}
	err = kv.Iterate([]byte{prefixHeader}, IterOptions{}, func(k, v []byte) error {
		if len(k) != 2+heightLen {
			return corrupt(k, "header key of %d bytes", len(k))
		}
		if len(v) > 0 && v[0] == recordV1 {
			return nil
		}
		lane, height := chain.Lane(k[1]), binary.BigEndian.Uint64(k[2:])
		h, err := decodeHeader(k, lane, height, v)
		if err != nil {
			return err
		}
		ckey := certKey(lane, height)
		cv, err := kv.Get(ckey)
		if errors.Is(err, ErrNotFound) {
			return corrupt(ckey, "missing beside its header")
		}
		if err != nil {
			return err
		}
		c, err := decodeCert(ckey, lane, height, cv)
		if err != nil {
			return err
		}
		hash := h.Hash()
		if c.BlockHash != hash {
			return corrupt(ckey, "certifies block %s, the header hashes to %s", c.BlockHash, hash)
		}
		rec := newRecord(&h, c, hash, genesis, hashAt, in, nil)
		mb.set(bytes.Clone(k), appendRecord(nil, &rec))
		mb.delete(ckey)
		return mb.err
	})
	if err != nil {
		return fmt.Errorf("rewriting the blocks as records: %w", err)
	}
	err = kv.Iterate([]byte{prefixBlockHash}, IterOptions{}, func(k, v []byte) error {
		if len(k) == blockHashKeyLen {
			return nil
		}
		if len(k) != 1+hashLen {
			return corrupt(k, "block hash index key of %d bytes", len(k))
		}
		lane, height, err := decodeBlockRef(k, v)
		if err != nil {
			return err
		}
		mb.delete(bytes.Clone(k))
		mb.set(blockHashKey(chain.Hash(k[1:]), lane, height), []byte{})
		return mb.err
	})
	if err != nil {
		return fmt.Errorf("shortening the block hash index: %w", err)
	}
	return mb.finish(4)
}

// migrateEntryChunks rewrites the entries of schema 4, one key per entry
// (e<lane><height><index>), as the chunks of schema 5 (chunks.go), under
// the same prefix: chunk c takes the key of entry c, the keys of the
// other entries are deleted. Each block is rewritten in one batch, so a
// pass cut short leaves every block in one layout or the other, and the
// next pass skips the blocks whose first key holds a chunk (an entry is a
// CBOR map, never a chunk's format byte). One pass over the entries,
// paid at the first start of the new version only.
func migrateEntryChunks(kv KV) error {
	mb := newMigrationBatch(kv)
	defer mb.discard()
	mb.atBoundaries = true
	var (
		cur     []byte   // entries prefix of the block being read
		skip    bool     // its entries are chunks already
		entries [][]byte // its entries, in order
	)
	rewrite := func() {
		if cur == nil || skip || len(entries) == 0 {
			return
		}
		lane, height := chain.Lane(cur[1]), binary.BigEndian.Uint64(cur[2:])
		for c := 0; c*EntriesPerChunk < len(entries); c++ {
			chunk := entries[c*EntriesPerChunk : min((c+1)*EntriesPerChunk, len(entries))]
			mb.set(chunkKey(lane, height, uint32(c)), appendChunk(make([]byte, 0, chunkSize(chunk)), chunk))
		}
		for i := (len(entries) + EntriesPerChunk - 1) / EntriesPerChunk; i < len(entries); i++ {
			mb.delete(entryKey(lane, height, uint32(i)))
		}
		mb.boundary()
	}
	prefix := []byte{prefixEntry}
	err := kv.Iterate(prefix, IterOptions{}, func(k, v []byte) error {
		if len(k) != 2+heightLen+indexLen {
			return corrupt(k, "entry key of %d bytes", len(k))
		}
		if cur == nil || !bytes.Equal(k[:2+heightLen], cur) {
			rewrite()
			if mb.err != nil {
				return mb.err
			}
			cur, entries = bytes.Clone(k[:2+heightLen]), entries[:0]
			skip = len(v) > 0 && v[0] == chunkV1
		}
		if skip {
			return nil
		}
		if i := binary.BigEndian.Uint32(k[2+heightLen:]); i != uint32(len(entries)) {
			return corrupt(k, "follows %d entries of its block", len(entries))
		}
		entries = append(entries, bytes.Clone(v))
		return nil
	})
	if err != nil {
		return fmt.Errorf("rewriting the entries in chunks: %w", err)
	}
	rewrite()
	return mb.finish(5)
}

// migrateDeviceIndex rewrites the two device indexes of schema 5,
// n<device><seq> → location and r<device><time><seq> → location, as the
// device index of schema 6 (devindex.go): the data lane's readings are
// read in block order, the order Commit met them in, and each is
// classified as Commit classifies it: in order, its n entry is rewritten
// with its time and its r entry deleted; late, its n entry is moved to q
// with its time and its r entry kept; and its hash index entry,
// d<hash:32> → location, is rewritten as d<hash:8><height><index>. What a
// pass writes depends only on
// the entries, so a pass cut short by a crash is redone whole by the next
// one. One pass over the readings, paid at the first start of the new
// version only; it holds the tip of every device in memory.
func migrateDeviceIndex(kv KV) error {
	mb := newMigrationBatch(kv)
	defer mb.discard()
	tips := make(map[chain.PubKey]tip)
	prefix := []byte{prefixEntry, byte(chain.LaneData)}
	err := kv.Iterate(prefix, IterOptions{}, func(k, v []byte) error {
		if len(k) != len(prefix)+heightLen+indexLen {
			return corrupt(k, "entries chunk key of %d bytes", len(k))
		}
		height := binary.BigEndian.Uint64(k[len(prefix):])
		c := binary.BigEndian.Uint32(k[len(prefix)+heightLen:])
		n, _ := binary.Uvarint(v[min(1, len(v)):])
		entries, err := chunkEntries(k, v, int(n))
		if err != nil {
			return err
		}
		for i, e := range entries {
			r, err := decodeReadingEntry(k, e)
			if err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			index := c*EntriesPerChunk + uint32(i)
			h := chain.HashBytes(e)
			mb.delete(hashKey(prefixReadHash, h))
			mb.set(readHashKey(h, height, index), []byte{})
			tv := appendTimedLocation(nil, r.Time, height, index)
			if tp := tips[r.Device]; tp.follows(r.Seq, r.Time) {
				tips[r.Device] = tip{seq: r.Seq, time: r.Time, ok: true}
				mb.set(readSeqKey(r.Device, r.Seq), tv)
				mb.delete(readTimeKey(r.Device, r.Time, r.Seq))
			} else {
				mb.delete(readSeqKey(r.Device, r.Seq))
				mb.set(readLateKey(r.Device, r.Seq), tv)
				mb.set(readTimeKey(r.Device, r.Time, r.Seq), tv[heightLen:])
			}
			if mb.err != nil {
				return mb.err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rewriting the device indexes: %w", err)
	}
	return mb.finish(6)
}

// migrate runs the migrations from schema from to schemaVersion.
func (s *Store) migrate(from uint64) error {
	for v := from; v < schemaVersion; v++ {
		m, ok := migrations[v]
		if !ok {
			return fmt.Errorf("%w: the store has schema %d, and this version cannot upgrade it (it reads schema %d)", ErrSchema, from, schemaVersion)
		}
		if err := m(s.kv); err != nil {
			return fmt.Errorf("upgrading the store from schema %d to %d: %w", v, v+1, err)
		}
	}
	return nil
}
