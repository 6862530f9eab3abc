package images

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// Index runs on the node's loop after a data block commits: it records the
// reading of each image hash of the block and marks the images this node
// lacks as missing, for the fetcher. Blocks committed without it (a crash
// between the commit and this call, or a store from before images, or one
// the history benchmark built) are indexed first. Errors are logged: the
// index catches up at the next block.
//
// A block without image hashes writes nothing: the height reached is kept
// in memory and stored with the next block that has image records, after
// indexSaveEvery blocks or indexSaveEntries readings, and when the node
// stops (SaveIndexed), so a data block costs no write (no fsync) of its
// own here, and a crash re-reads at most that much (indexing is
// idempotent). Before the readings bound and the save at a stop, a
// restart re-read up to 1,024 blocks on the loop before its first block:
// 2.7 s for blocks of 1,000 readings, and the restarted validator's first
// vote came 4.7 s after its start (waterchain bench history --blocks 1000
// --full-blocks 1000 --readings 1000). A catch-up writes one
// batch per indexBatchBlocks blocks: one write per block stalled the loop
// for minutes on a store of 500,000 data blocks built without the index.
//
// Nor does such a block open a store transaction: badger starts every
// transaction, a read's too, only once the writes committed before it are
// applied, fsync included, so a batch opened for nothing held the loop
// for the commit writer's write of the next block (36–127 ms per
// validator in 30 s of the process bench at 5,000/s, `--node-trace` read
// with `scripts/tracestages -blocked -stage loop`).
func (im *Images) Index(b *chain.Block) {
	height := b.Header.Height
	if !im.index.loaded {
		done, err := im.indexedHeight()
		if err != nil {
			im.log.Error("image index", "err", err)
			return
		}
		im.index.loaded, im.index.saved = true, done
		im.index.reached.Store(done)
	}
	if height <= im.index.reached.Load() {
		return
	}
	w := im.newIndexWriter()
	defer w.discard()
	for h := im.index.reached.Load() + 1; h < height; h++ {
		old, err := im.chain.Block(chain.LaneData, h)
		if err != nil {
			im.log.Error("image index: reading a committed block", "height", h, "err", err)
			w.finish()
			return
		}
		if err := w.add(old); err != nil {
			im.log.Error("image index", "height", h, "err", err)
			return
		}
	}
	if err := w.add(b); err != nil {
		im.log.Error("image index", "height", height, "err", err)
		return
	}
	if err := w.finish(); err != nil {
		im.log.Error("image index", "height", height, "err", err)
	}
}

// Bounds of the image index's writes; see Index.
const (
	indexSaveEvery   = 1024
	indexBatchBlocks = 1024
	indexBatchSets   = 10_000
)

// indexSaveEntries: about 0.15 s to read again. A variable for tests.
var indexSaveEntries = 50_000

// indexState is how far Index has got: reached in memory (every block up
// to it has its records written), saved in the store. Written by Index
// only, on the node's loop; reached is read by the sweep too.
type indexState struct {
	loaded  bool
	reached atomic.Uint64
	saved   uint64
	unsaved int // readings of the blocks from saved to reached
}

// indexWriter gathers the image records of consecutive data blocks into
// one batch, opened at its first record (set) or write.
type indexWriter struct {
	im       *Images
	batch    store.Batch         // nil until needed
	refs     map[chain.Hash]bool // hashes whose ref this batch sets or found
	sets     int                 // image records in the batch
	blocks   int                 // blocks added to the batch
	readings int                 // readings of the blocks added to the batch
	height   uint64              // the last block added
	now      []byte
}

func (im *Images) newIndexWriter() *indexWriter {
	return &indexWriter{
		im: im, refs: map[chain.Hash]bool{},
		height: im.index.reached.Load(),
		now:    binary.BigEndian.AppendUint64(nil, uint64(im.clock.Now().UnixMilli())),
	}
}

// add puts the image records of data block b, the one after the last
// added, in the batch, and writes the batch when it is full. The first
// final reading naming an image keeps its ref.
func (w *indexWriter) add(b *chain.Block) error {
	for _, r := range b.Readings {
		if r.ImageHash == nil || w.refs[*r.ImageHash] {
			continue
		}
		h := *r.ImageHash
		w.refs[h] = true
		if _, err := w.im.kv.Get(recordKey(keyRef, h[:])); errors.Is(err, store.ErrNotFound) {
			w.set(recordKey(keyRef, h[:]), chain.MustEncode(&ref{Device: r.Device, Seq: r.Seq}))
		} else if err != nil {
			return err
		}
		held, err := w.im.Held(h)
		if err != nil {
			return err
		}
		if !held {
			w.set(recordKey(keyMissing, h[:]), w.now)
		}
	}
	w.height = b.Header.Height
	w.blocks++
	w.readings += len(b.Readings)
	if w.blocks >= indexBatchBlocks || w.sets >= indexBatchSets {
		return w.write()
	}
	return nil
}

// open returns the batch, opening it first if need be.
func (w *indexWriter) open() store.Batch {
	if w.batch == nil {
		w.batch = w.im.kv.NewBatch()
	}
	return w.batch
}

// set puts an image record in the batch.
func (w *indexWriter) set(key, value []byte) {
	w.open().Set(key, value)
	w.sets++
}

// discard drops what the batch holds.
func (w *indexWriter) discard() {
	if w.batch != nil {
		w.batch.Discard()
		w.batch = nil
	}
}

// write stores the batch with the height reached; the next record opens
// a new one.
func (w *indexWriter) write() error {
	w.open().Set(recordKey(keyIndexed, nil), binary.BigEndian.AppendUint64(nil, w.height))
	err := w.batch.Write()
	w.discard()
	w.sets, w.blocks, w.readings = 0, 0, 0
	clear(w.refs)
	if err != nil {
		return err
	}
	w.im.index.saved, w.im.index.unsaved = w.height, 0
	w.im.index.reached.Store(w.height)
	return nil
}

// finish writes what the batch holds, or only notes the height reached
// when it holds no image record and the stored height is recent enough.
func (w *indexWriter) finish() error {
	ix := &w.im.index
	if w.sets > 0 || w.height-ix.saved >= indexSaveEvery || ix.unsaved+w.readings >= indexSaveEntries {
		return w.write()
	}
	ix.unsaved += w.readings
	ix.reached.Store(w.height)
	return nil
}

// SaveIndexed stores the height Index has reached, when the store holds
// an older one, so that a restart reads no block again. The node calls it
// on its loop as the loop stops, after the last Index.
func (im *Images) SaveIndexed() error {
	if !im.index.loaded || im.index.reached.Load() <= im.index.saved {
		return nil
	}
	w := im.newIndexWriter()
	defer w.discard()
	return w.write()
}

// indexedHeight is the data height Index has stored as reached (0 before
// the first); see reachedHeight for the one in memory.
func (im *Images) indexedHeight() (uint64, error) {
	v, err := im.kv.Get(recordKey(keyIndexed, nil))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(v) != 8:
		return 0, fmt.Errorf("%w: indexed height is %d bytes, want 8", ErrRecord, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// reachedHeight is the data height up to which every final reading has its
// image records written: what Index has reached in this instance, or what
// it stored before.
func (im *Images) reachedHeight() (uint64, error) {
	stored, err := im.indexedHeight()
	if err != nil {
		return 0, err
	}
	return max(stored, im.index.reached.Load()), nil
}
