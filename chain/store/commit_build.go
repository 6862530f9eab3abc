package store

import (
	"errors"
	"fmt"
	"maps"

	"github.com/waterchain/waterchain/chain"
)

// ErrStaleBuild is returned by WriteBuilt for a batch built against heads
// (or a shared table) that are no longer the store's: something else was
// written after it was built. Nothing is written; CommitBlocks of its
// blocks (Built.Commits) writes them as they stand now.
var ErrStaleBuild = errors.New("built batch is stale: the store changed since it was built")

// Built is a CommitBlocks batch built and not yet written: its blocks
// checked, their keys and values encoded and set in one KV batch. Block
// sync builds the next chunk's batch while the store writes the one
// before it (BuildCommit, WriteBuilt), so that the encoding of a chunk
// does not wait for badger's write of the one before, nor the write for
// the encoding: on a store of blocks full of readings the two are the
// slowest stage of a catch-up, one after the other on one goroutine.
type Built struct {
	commits []BlockCommit
	batch   Batch
	in      *interner
	// The heads the store must have when the batch is written (a lane
	// absent from base has none), and those it leaves.
	base, heads map[chain.Lane]head
	// sharedBase is the length of the shared table the batch's new ids
	// follow.
	sharedBase uint64
	own        map[blockRef]chain.Hash // the hashes of the batch's blocks
	done       bool
}

// Commits are the blocks of b, as given to BuildCommit.
func (b *Built) Commits() []BlockCommit { return b.commits }

// BuildCommit builds blocks into a batch as CommitBlocks would write them,
// without writing it, on top of the store as it will be once after (when
// not nil) is written: after must be the last batch built before and
// either written already or the next to be written, and its blocks
// precede blocks. Blocks that do not extend the heads so left give
// ErrNotNext, as CommitBlocks does. Safe to call while WriteBuilt writes
// after; builds are serialized by their caller.
func (s *Store) BuildCommit(blocks []BlockCommit, after *Built) (*Built, error) {
	if len(blocks) == 0 {
		return nil, fmt.Errorf("%w: no blocks to build", ErrInvalidBlock)
	}
	prepared := make([]preparedBlock, len(blocks))
	for i, bc := range blocks {
		p, err := prepareBlock(bc.Block, bc.Changes)
		if err != nil {
			return nil, err
		}
		prepared[i] = p
	}
	s.mu.RLock()
	base := maps.Clone(s.heads)
	genesis := s.genesis
	s.mu.RUnlock()
	s.shared.mu.RLock()
	sharedBase := uint64(len(s.shared.vals))
	s.shared.mu.RUnlock()
	var added map[string]uint64
	if after != nil {
		maps.Copy(base, after.heads)
		sharedBase = after.sharedBase + uint64(len(after.in.vals))
		added = maps.Clone(after.in.added)
	}
	heads := maps.Clone(base)
	for _, p := range prepared {
		h := &p.block.Header
		cur, ok := heads[h.Lane]
		if err := s.checkNextOf(h, cur, ok); err != nil {
			return nil, err
		}
		heads[h.Lane] = head{header: *h, hash: p.hash}
	}

	b := &Built{commits: blocks, batch: s.kv.NewBatch(), base: base, heads: heads, sharedBase: sharedBase, own: make(map[blockRef]chain.Hash, len(prepared))}
	b.in = &interner{t: s.shared, batch: b.batch, added: added, base: &b.sharedBase}
	if b.in.added == nil {
		b.in.added = make(map[string]uint64)
	}
	hashAt := func(lane chain.Lane, height uint64) (chain.Hash, error) {
		if h, ok := b.own[blockRef{lane, height}]; ok {
			return h, nil
		}
		if after != nil {
			if h, ok := after.own[blockRef{lane, height}]; ok {
				return h, nil
			}
		}
		if height > s.Height(lane) {
			return chain.Hash{}, ErrNotFound
		}
		return s.blockHash(lane, height)
	}
	for _, p := range prepared {
		s.putBlock(b.batch, p, genesis, hashAt, b.in.intern)
		b.own[blockRef{p.block.Header.Lane, p.block.Header.Height}] = p.hash
	}
	for lane, hd := range heads {
		if cur, ok := base[lane]; !ok || cur.hash != hd.hash {
			b.batch.Set(headKey(lane), encodeHead(&hd.header))
		}
	}
	return b, nil
}

// WriteBuilt writes a batch BuildCommit built, once: whole or, on error,
// not at all. A batch built against heads or a shared table that are no
// longer the store's (another write came between) gives ErrStaleBuild
// and one too big for the KV ErrBatchTooBig, both without writing
// anything: CommitBlocks(b.Commits()) then writes its blocks.
func (s *Store) WriteBuilt(b *Built) error {
	if b.done {
		return ErrBatchDone
	}
	b.done = true
	defer b.batch.Discard()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	stale := false
	for lane := range b.heads {
		cur, ok := s.heads[lane]
		want, wantOK := b.base[lane]
		if ok != wantOK || cur.hash != want.hash {
			stale = true
		}
	}
	s.mu.RUnlock()
	s.shared.mu.RLock()
	if uint64(len(s.shared.vals)) != b.sharedBase {
		stale = true
	}
	for v, id := range b.in.added {
		// Values of the batches before, by the ids this one uses.
		if got, ok := s.shared.ids[v]; id < b.sharedBase && (!ok || got != id) {
			stale = true
		}
	}
	s.shared.mu.RUnlock()
	if stale {
		return ErrStaleBuild
	}
	if err := b.batch.Write(); err != nil {
		first, last := &b.commits[0].Block.Header, &b.commits[len(b.commits)-1].Block.Header
		return fmt.Errorf("writing %d blocks, %s/%d to %s/%d: %w", len(b.commits), first.Lane, first.Height, last.Lane, last.Height, err)
	}
	b.in.publish()
	s.mu.Lock()
	for lane, hd := range b.heads {
		s.heads[lane] = hd
	}
	s.mu.Unlock()
	return nil
}

// Discard drops a batch that will not be written (nothing when it was).
func (b *Built) Discard() {
	if !b.done {
		b.done = true
		b.batch.Discard()
	}
}
