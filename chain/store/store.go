package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/waterchain/waterchain/chain"
)

// MaxStateKeyLen bounds the key of a state change (badger takes keys up to
// 64 KB; state keys are a few dozen bytes).
const MaxStateKeyLen = 1024

// Change is one write of a block's execution to the state: Value under Key,
// or the removal of Key when Delete is set. State keys live in their own
// namespace of the store, so they can never collide with blocks or indexes.
type Change struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// Store is the node's chain store over a KV: finalized blocks of both lanes
// with their certificates, their entries (in chunks), the indexes over them,
// the state and a little metadata. It owns the key layout (doc.go).
//
// Store is safe for concurrent use. Commit and InitGenesis are serialized
// among themselves; reads never wait for them and see whole blocks only.
// The KV stays the caller's: close it after the last use of the Store.
type Store struct {
	kv KV

	writeMu sync.Mutex // serializes Commit and InitGenesis
	// tips caches the last reading in order (n) of devices as committed
	// and, while a batch is prepared, as it leaves them: what Commit
	// compares a reading with to put it in n or in q and r
	// (devindex.go). Guarded by writeMu.
	tips map[chain.PubKey]tip

	mu      sync.RWMutex // guards heads, recent and genesis, the cache of what is committed
	heads   map[chain.Lane]head
	recent  map[blockRef]chain.Header // the newest recentHeaders headers of each lane written here
	genesis *chain.Hash

	shared *sharedTable // the values block records name by id (shared.go)
}

// recentHeaders is how many of each lane's newest headers the store keeps
// in memory once it has written them, for Header. Badger starts every
// read only once the writes committed before it are applied, fsync
// included, so a node's loop reading the header of a recent block (the
// anchor of a proposal it validates) waited for the commit writer's
// write of the next one; the headers the loop reads are the newest.
const recentHeaders = 256

// head is the cached last committed header of a lane.
type head struct {
	header chain.Header
	hash   chain.Hash
}

// Open opens the store held in kv, creating its layout when kv is empty,
// and loads the lane heads, so that a reopened store resumes at the last
// committed block of each lane.
func Open(kv KV) (*Store, error) {
	s := &Store{kv: kv, heads: make(map[chain.Lane]head), recent: make(map[blockRef]chain.Header), tips: make(map[chain.PubKey]tip)}
	if err := s.checkSchema(); err != nil {
		return nil, err
	}
	shared, err := loadSharedTable(kv)
	if err != nil {
		return nil, err
	}
	s.shared = shared
	g, err := s.loadGenesis()
	switch {
	case err == nil:
		s.genesis = &g
	case !errors.Is(err, ErrNoGenesis):
		return nil, err
	}
	for _, lane := range chain.Lanes {
		key := headKey(lane)
		v, err := kv.Get(key)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s head: %w", lane, err)
		}
		h, err := decodeHead(key, lane, v)
		if err != nil {
			return nil, err
		}
		hash := h.Hash()
		stored, err := s.blockHash(lane, h.Height)
		if errors.Is(err, ErrNotFound) {
			return nil, corrupt(key, "names height %d, which has no block record", h.Height)
		}
		if err != nil {
			return nil, err
		}
		if stored != hash {
			return nil, corrupt(key, "names block %s at height %d, whose record holds %s", hash, h.Height, stored)
		}
		s.heads[lane] = head{header: h, hash: hash}
	}
	return s, nil
}

func (s *Store) checkSchema() error {
	key := metaKey(metaSchema)
	v, err := s.kv.Get(key)
	if err == nil {
		if len(v) != 8 {
			return corrupt(key, "schema version is %d bytes, want 8", len(v))
		}
		switch got := binary.BigEndian.Uint64(v); {
		case got > schemaVersion:
			return fmt.Errorf("%w: the store has schema %d, written by a newer waterchain; this version reads schema %d (use a matching waterchain version)", ErrSchema, got, schemaVersion)
		case got < schemaVersion:
			return s.migrate(got)
		}
		return nil
	}
	if !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("reading schema version: %w", err)
	}
	empty := true
	if err := s.kv.Iterate(nil, IterOptions{}, func(k, v []byte) error {
		empty = false
		return ErrStop
	}); err != nil {
		return fmt.Errorf("checking for an empty store: %w", err)
	}
	if !empty {
		return fmt.Errorf("%w: the store holds data but no schema version; it was not written by waterchain", ErrSchema)
	}
	b := s.kv.NewBatch()
	defer b.Discard()
	b.Set(key, binary.BigEndian.AppendUint64(nil, schemaVersion))
	if err := b.Write(); err != nil {
		return fmt.Errorf("writing schema version: %w", err)
	}
	return nil
}

// Head returns the last committed header of lane, and false before its
// first block.
func (s *Store) Head(lane chain.Lane) (chain.Header, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, ok := s.heads[lane]
	return h.header, ok
}

// Height returns the height of lane's head, 0 before its first block.
func (s *Store) Height(lane chain.Lane) uint64 {
	h, _ := s.Head(lane)
	return h.Height
}

// Commit writes a finalized block with its certificate (b.Cert) and the
// state changes of its execution in one atomic batch: header, certificate,
// the entries (in chunks), the block-hash index, the reading indexes by
// hash and by device (devindex.go) or the transaction indexes by hash and
// by kind, the changes, and the new lane head. Either all of it is stored or, on error, none.
//
// The block must be the next of its lane: height head+1, previous hash the
// head's (at height 1, the recorded genesis hash, when there is one); the
// certificate must name its lane, height and hash. Commit does not verify
// signatures, the entries root or the link beyond that: the caller commits
// only blocks it has verified. Readings of one device must have distinct
// sequence numbers across the chain, as the data-lane rules ensure.
func (s *Store) Commit(b *chain.Block, changes []Change) error {
	return s.CommitBlocks([]BlockCommit{{Block: b, Changes: changes}})
}

// BlockCommit is a block to commit with the state changes of executing it.
type BlockCommit struct {
	Block   *chain.Block
	Changes []Change
}

// CommitBlocks writes blocks of either lane, in the order given (the order
// they were executed in), as Commit would write each, in as few atomic
// batches as the KV takes: one, unless the blocks exceed what one batch
// holds (ErrBatchTooBig), when they are split into halves written in
// order. A crash or an error therefore leaves a prefix of the blocks
// stored, each block whole or absent, never a part of one; on error, the
// blocks before the failing batch are stored and the heads name the last
// of them. Each block must extend the head of its lane as it stands after
// the blocks before it in the list. Block sync commits many blocks per
// write this way: one fsync per batch instead of one per block.
func (s *Store) CommitBlocks(blocks []BlockCommit) error {
	if len(blocks) == 0 {
		return nil
	}
	prepared := make([]preparedBlock, len(blocks))
	for i, bc := range blocks {
		p, err := prepareBlock(bc.Block, bc.Changes)
		if err != nil {
			return err
		}
		prepared[i] = p
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.writePrepared(prepared)
}

// preparedBlock is a block checked and encoded for a batch.
type preparedBlock struct {
	block   *chain.Block
	changes []Change
	hash    chain.Hash
}

// prepareBlock checks what Commit checks without the store and hashes
// the header.
func prepareBlock(b *chain.Block, changes []Change) (preparedBlock, error) {
	if b == nil {
		return preparedBlock{}, fmt.Errorf("%w: nil block", ErrInvalidBlock)
	}
	h := &b.Header
	if !h.Lane.Valid() {
		return preparedBlock{}, fmt.Errorf("%w: unknown lane %d", ErrInvalidBlock, h.Lane)
	}
	if err := checkEntries(b); err != nil {
		return preparedBlock{}, err
	}
	if err := checkChanges(changes); err != nil {
		return preparedBlock{}, err
	}
	hash := h.Hash()
	if b.Cert == nil {
		return preparedBlock{}, fmt.Errorf("%w: %s/%d %s", ErrMissingCert, h.Lane, h.Height, hash.Short())
	}
	c := b.Cert
	if c.Lane != h.Lane || c.Height != h.Height || c.BlockHash != hash {
		return preparedBlock{}, fmt.Errorf("%w: certificate for %s/%d %s, block is %s/%d %s", ErrCertMismatch,
			c.Lane, c.Height, c.BlockHash.Short(), h.Lane, h.Height, hash.Short())
	}
	return preparedBlock{block: b, changes: changes, hash: hash}, nil
}

// writePrepared writes blocks in one batch, or, when they do not fit one,
// in halves, first half first. Called with writeMu held.
func (s *Store) writePrepared(blocks []preparedBlock) error {
	// Every block must extend its lane's head as the blocks before it
	// leave it. heads holds, by lane, the head the batch leaves (an
	// array: a map of these large values allocated a group and each
	// value).
	var heads [chain.LaneTx + 1]struct {
		head
		inBatch bool
	}
	for _, p := range blocks {
		h := &p.block.Header
		cur, ok := heads[h.Lane].head, heads[h.Lane].inBatch
		if !ok {
			s.mu.RLock()
			cur, ok = s.heads[h.Lane]
			s.mu.RUnlock()
		}
		if err := s.checkNextOf(h, cur, ok); err != nil {
			return err
		}
		heads[h.Lane].head, heads[h.Lane].inBatch = head{header: *h, hash: p.hash}, true
	}

	batch := s.kv.NewBatch()
	defer batch.Discard()
	if len(s.tips) > maxCachedTips {
		clear(s.tips)
	}
	in := s.shared.newInterner(batch)
	// A record leaves out the hashes the store holds (record.go): those of
	// the blocks of this batch, or else of the blocks committed before,
	// which are read from memory when they are the lane heads or among
	// the recent headers, as the previous hash and the anchor of a block
	// the node commits as it goes are: a read of badger allocates.
	var inBatch map[blockRef]chain.Hash
	if len(blocks) > 1 {
		inBatch = make(map[blockRef]chain.Hash, len(blocks))
	}
	hashAt := func(lane chain.Lane, height uint64) (chain.Hash, error) {
		if h, ok := inBatch[blockRef{lane, height}]; ok {
			return h, nil
		}
		s.mu.RLock()
		hd, ok := s.heads[lane]
		recent, isRecent := s.recent[blockRef{lane, height}]
		s.mu.RUnlock()
		switch {
		case !ok || height > hd.header.Height:
			return chain.Hash{}, ErrNotFound
		case height == hd.header.Height:
			return hd.hash, nil
		case isRecent:
			return recent.Hash(), nil
		}
		return s.blockHash(lane, height)
	}
	s.mu.RLock()
	genesis := s.genesis
	s.mu.RUnlock()
	// The heads are written from the last block's buffer.
	headsLen := 0
	for lane := range heads {
		if heads[lane].inBatch {
			headsLen += headKeyLen + headLen
		}
	}
	var a arena
	var sigs [16]recordSig // a certificate's signatures, up to 16 without allocating
	for i, p := range blocks {
		h := &p.block.Header
		rec := newRecord(h, p.block.Cert, p.hash, genesis, hashAt, in, sigs[:0])
		size := laneHeightKeyLen + recordLen(&rec) + blockHashKeyLen + changesLen(p.changes)
		if h.Lane == chain.LaneData {
			size += readingsLen(p.block.Readings)
		}
		if i == len(blocks)-1 {
			size += headsLen
		}
		a.reserve(size)
		batch.Set(appendLaneHeight(a.alloc(laneHeightKeyLen), prefixHeader, h.Lane, h.Height), appendRecord(a.alloc(recordLen(&rec)), &rec))
		if inBatch != nil {
			inBatch[blockRef{h.Lane, h.Height}] = p.hash
		}
		batch.Set(appendBlockHashKey(a.alloc(blockHashKeyLen), p.hash, h.Lane, h.Height), []byte{})
		if h.Lane == chain.LaneData {
			if err := s.putReadings(batch, &a, h.Height, p.block.Readings); err != nil {
				clear(s.tips) // they may hold some of this batch's readings
				return err
			}
		} else {
			putTxs(batch, h.Height, p.block.Txs)
		}
		putChanges(batch, &a, p.changes)
	}
	for lane := range heads {
		if heads[lane].inBatch {
			batch.Set(append(a.alloc(headKeyLen), prefixHead, byte(lane)), appendHead(a.alloc(headLen), &heads[lane].header))
		}
	}
	if err := batch.Write(); err != nil {
		clear(s.tips) // they hold this batch's readings
		if errors.Is(err, ErrBatchTooBig) && len(blocks) > 1 {
			batch.Discard()
			half := len(blocks) / 2
			if err := s.writePrepared(blocks[:half]); err != nil {
				return err
			}
			return s.writePrepared(blocks[half:])
		}
		first, last := &blocks[0].block.Header, &blocks[len(blocks)-1].block.Header
		if len(blocks) == 1 {
			return fmt.Errorf("writing %s/%d: %w", first.Lane, first.Height, err)
		}
		return fmt.Errorf("writing %d blocks, %s/%d to %s/%d: %w", len(blocks), first.Lane, first.Height, last.Lane, last.Height, err)
	}

	in.commit()
	s.mu.Lock()
	for lane := range heads {
		if heads[lane].inBatch {
			s.heads[chain.Lane(lane)] = heads[lane].head
		}
	}
	for _, p := range blocks {
		h := &p.block.Header
		s.recent[blockRef{h.Lane, h.Height}] = *h
		if h.Height > recentHeaders {
			delete(s.recent, blockRef{h.Lane, h.Height - recentHeaders})
		}
	}
	s.mu.Unlock()
	return nil
}

// blockRef names a block by lane and height.
type blockRef struct {
	lane   chain.Lane
	height uint64
}

// checkEntries checks that the entries belong to the block's lane and
// number what its header says.
func checkEntries(b *chain.Block) error {
	h := &b.Header
	if h.Lane == chain.LaneData && len(b.Txs) > 0 {
		return fmt.Errorf("%w: data block %d carries %d transactions", ErrInvalidBlock, h.Height, len(b.Txs))
	}
	if h.Lane == chain.LaneTx && len(b.Readings) > 0 {
		return fmt.Errorf("%w: tx block %d carries %d readings", ErrInvalidBlock, h.Height, len(b.Readings))
	}
	n := b.NumEntries()
	if n > chain.MaxBlockEntries {
		return fmt.Errorf("%w: %s/%d has %d entries, more than %d", ErrInvalidBlock, h.Lane, h.Height, n, chain.MaxBlockEntries)
	}
	if uint32(n) != h.NumEntries {
		return fmt.Errorf("%w: %s/%d header says %d entries, block has %d", ErrInvalidBlock, h.Lane, h.Height, h.NumEntries, n)
	}
	for i, r := range b.Readings {
		if r == nil {
			return fmt.Errorf("%w: data/%d reading %d is nil", ErrInvalidBlock, h.Height, i)
		}
	}
	for i, tx := range b.Txs {
		if tx == nil {
			return fmt.Errorf("%w: tx/%d transaction %d is nil", ErrInvalidBlock, h.Height, i)
		}
	}
	return nil
}

func checkChanges(changes []Change) error {
	for i, c := range changes {
		if len(c.Key) == 0 {
			return fmt.Errorf("%w: change %d has an empty key", ErrInvalidChange, i)
		}
		if len(c.Key) > MaxStateKeyLen {
			return fmt.Errorf("%w: change %d key is %d bytes, more than %d", ErrInvalidChange, i, len(c.Key), MaxStateKeyLen)
		}
	}
	return nil
}

// checkNextOf checks that h extends cur, its lane's head (ok false: the
// lane has no block yet). Called with writeMu held.
func (s *Store) checkNextOf(h *chain.Header, cur head, ok bool) error {
	s.mu.RLock()
	genesis := s.genesis
	s.mu.RUnlock()
	var headHeight uint64
	if ok {
		headHeight = cur.header.Height
	}
	if h.Height != headHeight+1 {
		return fmt.Errorf("%w: %s block at height %d, the head is at %d (want %d)", ErrNotNext, h.Lane, h.Height, headHeight, headHeight+1)
	}
	switch {
	case ok && h.PrevHash != cur.hash:
		return fmt.Errorf("%w: %s/%d prev_hash %s, the head %s/%d is %s", ErrNotNext, h.Lane, h.Height, h.PrevHash, h.Lane, headHeight, cur.hash)
	case !ok && genesis != nil && h.PrevHash != *genesis:
		return fmt.Errorf("%w: %s/1 prev_hash %s is not the genesis hash %s", ErrNotNext, h.Lane, h.PrevHash, *genesis)
	}
	return nil
}

// putReadings adds the entries (in chunks) and indexes of a data block:
// for each reading its hash (d) and, when it follows the last reading in
// order of its device (inOrder: a higher sequence number and a later time),
// its sequence (n) with its time; otherwise, a late reading, its
// sequence (q) and its time (r). The readings are encoded straight into
// their chunks, and hashed there; keys and values are cut from a, which
// the caller reserved readingsLen for (a late reading's time key comes
// on its own).
func (s *Store) putReadings(batch Batch, a *arena, height uint64, readings []*chain.Reading) error {
	var lens [EntriesPerChunk]int
	for c := 0; c < len(readings); c += EntriesPerChunk {
		chunk := readings[c:min(c+EntriesPerChunk, len(readings))]
		size := 1 + uvarintLen(uint64(len(chunk)))
		for j, r := range chunk {
			lens[j] = r.EncodingLen()
			size += uvarintLen(uint64(lens[j])) + lens[j]
		}
		v := append(a.alloc(size), chunkV1)
		v = binary.AppendUvarint(v, uint64(len(chunk)))
		for j := range chunk {
			v = binary.AppendUvarint(v, uint64(lens[j]))
		}
		for j, r := range chunk {
			from := len(v)
			v = r.AppendEncoding(v)
			if n := len(v) - from; n != lens[j] {
				// The chunk would misplace every entry after this one.
				return fmt.Errorf("%w: data/%d reading %d encodes to %d bytes, its EncodingLen says %d", ErrInvalidBlock, height, c+j, n, lens[j])
			}
			if err := s.putReadingIndexes(batch, a, height, uint32(c+j), r, chain.HashBytes(v[from:])); err != nil {
				return err
			}
		}
		batch.Set(appendChunkKey(a.alloc(chunkKeyLen), chain.LaneData, height, uint32(c/EntriesPerChunk)), v)
	}
	return nil
}

// putReadingIndexes adds the indexes of reading r, entry index of the
// data block at height, whose encoding hashes to hash.
func (s *Store) putReadingIndexes(batch Batch, a *arena, height uint64, index uint32, r *chain.Reading, hash chain.Hash) error {
	inOrder, err := s.inOrder(r.Device, r.Seq, r.Time)
	if err != nil {
		return err
	}
	tloc := appendTimedLocation(a.alloc(timedLocationLen), r.Time, height, index)
	loc := tloc[heightLen:]
	prefix := byte(prefixReadSeq)
	if !inOrder {
		prefix = prefixReadLate
	}
	key := append(a.alloc(deviceSeqKeyLen), prefix)
	key = append(key, r.Device[:]...)
	batch.Set(binary.BigEndian.AppendUint64(key, r.Seq), tloc)
	if !inOrder {
		batch.Set(readTimeKey(r.Device, r.Time, r.Seq), loc) // rare: its own allocation
	}
	key = append(a.alloc(readHashKeyLen), prefixReadHash)
	key = append(key, hash[:readHashPrefixLen]...)
	batch.Set(append(key, loc...), []byte{})
	return nil
}

// readingsLen is what putReadings cuts from its arena for readings: their
// chunks (chunkSize of their encodings) and keys, and the index keys and
// values of readings in order.
func readingsLen(readings []*chain.Reading) int {
	chunks := (len(readings) + EntriesPerChunk - 1) / EntriesPerChunk
	n := chunks*(chunkKeyLen+1+uvarintLen(EntriesPerChunk)) + len(readings)*(deviceSeqKeyLen+timedLocationLen+readHashKeyLen)
	for _, r := range readings {
		l := r.EncodingLen()
		n += uvarintLen(uint64(l)) + l
	}
	return n
}

// putTxs adds the entries (in chunks), the hash index and the kind index
// of a tx block.
func putTxs(batch Batch, height uint64, txs []*chain.Tx) {
	encs := make([][]byte, len(txs))
	for i, tx := range txs {
		idx := uint32(i)
		enc := tx.Encode()
		encs[i] = enc
		batch.Set(hashKey(prefixTx, chain.HashBytes(enc)), appendLocation(nil, height, idx))
		if k, ok := txKindKey(tx, height, idx); ok {
			batch.Set(k, []byte{})
		}
	}
	putChunks(batch, chain.LaneTx, height, encs)
}

// putChanges adds the state changes, their keys cut from a, which the
// caller reserved changesLen for (or not: an arena without a reserved
// buffer allocates each).
func putChanges(batch Batch, a *arena, changes []Change) {
	for _, c := range changes {
		key := appendStateKey(a.alloc(1+len(c.Key)), c.Key)
		if c.Delete {
			batch.Delete(key)
			continue
		}
		v := c.Value
		if v == nil {
			v = []byte{}
		}
		batch.Set(key, v)
	}
}

// changesLen is what putChanges cuts from its arena for changes.
func changesLen(changes []Change) int {
	n := 0
	for _, c := range changes {
		n += 1 + len(c.Key)
	}
	return n
}

// InitGenesis records the genesis hash of a fresh store together with the
// genesis state, in one atomic batch. On a store already initialized for
// hash it does nothing; for another genesis it returns ErrGenesisMismatch.
func (s *Store) InitGenesis(hash chain.Hash, changes []Change) error {
	if hash.IsZero() {
		return fmt.Errorf("%w: zero genesis hash", ErrInvalidChange)
	}
	if err := checkChanges(changes); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	recorded, blocks := s.genesis, len(s.heads) > 0
	s.mu.RUnlock()
	if recorded != nil {
		return genesisMatches(*recorded, hash)
	}
	if blocks {
		return fmt.Errorf("%w: the store holds blocks but no genesis record", ErrCorrupt)
	}
	batch := s.kv.NewBatch()
	defer batch.Discard()
	putChanges(batch, &arena{}, changes)
	batch.Set(metaKey(metaGenesis), hash[:])
	if err := batch.Write(); err != nil {
		return fmt.Errorf("writing genesis state: %w", err)
	}
	s.mu.Lock()
	s.genesis = &hash
	s.mu.Unlock()
	return nil
}

// GenesisHash returns the genesis hash the store was created for, or
// ErrNoGenesis.
func (s *Store) GenesisHash() (chain.Hash, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.genesis == nil {
		return chain.Hash{}, fmt.Errorf("%w: it was never initialized", ErrNoGenesis)
	}
	return *s.genesis, nil
}

// CheckGenesis returns nil when the store was created for the genesis
// hash, ErrGenesisMismatch (naming both) when for another, and ErrNoGenesis
// when for none yet.
func (s *Store) CheckGenesis(hash chain.Hash) error {
	recorded, err := s.GenesisHash()
	if err != nil {
		return err
	}
	return genesisMatches(recorded, hash)
}

func genesisMatches(recorded, hash chain.Hash) error {
	if recorded != hash {
		return fmt.Errorf("%w: the store was created for genesis %s, the node was started with genesis %s; use the data directory of this network, or move this one aside to start afresh", ErrGenesisMismatch, recorded, hash)
	}
	return nil
}

func (s *Store) loadGenesis() (chain.Hash, error) {
	key := metaKey(metaGenesis)
	v, err := s.kv.Get(key)
	if errors.Is(err, ErrNotFound) {
		return chain.Hash{}, ErrNoGenesis
	}
	if err != nil {
		return chain.Hash{}, fmt.Errorf("reading genesis hash: %w", err)
	}
	var h chain.Hash
	if len(v) != len(h) {
		return chain.Hash{}, corrupt(key, "genesis hash is %d bytes, want %d", len(v), len(h))
	}
	copy(h[:], v)
	if h.IsZero() {
		return chain.Hash{}, corrupt(key, "zero genesis hash")
	}
	return h, nil
}
