package images

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// Index runs on the node's loop after a data block commits: it records the
// reading of each image hash of the block and marks the images this node
// lacks as missing, for the fetcher. Blocks committed without it (a crash
// between the commit and this call, or a store from before images) are
// indexed first. Errors are logged: the index catches up at the next
// block.
func (im *Images) Index(b *chain.Block) {
	height := b.Header.Height
	done, err := im.indexedHeight()
	if err != nil {
		im.log.Error("image index", "err", err)
		return
	}
	for h := done + 1; h < height; h++ {
		old, err := im.chain.Block(chain.LaneData, h)
		if err != nil {
			im.log.Error("image index: reading a committed block", "height", h, "err", err)
			return
		}
		if err := im.indexBlock(old); err != nil {
			im.log.Error("image index", "height", h, "err", err)
			return
		}
	}
	if height > done {
		if err := im.indexBlock(b); err != nil {
			im.log.Error("image index", "height", height, "err", err)
		}
	}
}

// indexedHeight is the data height Index has reached (0 before the first).
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

// indexBlock writes the image records of one data block and the new
// indexed height in one batch.
func (im *Images) indexBlock(b *chain.Block) error {
	batch := im.kv.NewBatch()
	defer batch.Discard()
	now := binary.BigEndian.AppendUint64(nil, uint64(im.clock.Now().UnixMilli()))
	seen := map[chain.Hash]bool{}
	for _, r := range b.Readings {
		if r.ImageHash == nil || seen[*r.ImageHash] {
			continue
		}
		h := *r.ImageHash
		seen[h] = true
		if _, err := im.kv.Get(recordKey(keyRef, h[:])); errors.Is(err, store.ErrNotFound) {
			batch.Set(recordKey(keyRef, h[:]), chain.MustEncode(&ref{Device: r.Device, Seq: r.Seq}))
		} else if err != nil {
			return err
		}
		held, err := im.Held(h)
		if err != nil {
			return err
		}
		if !held {
			batch.Set(recordKey(keyMissing, h[:]), now)
		}
	}
	batch.Set(recordKey(keyIndexed, nil), binary.BigEndian.AppendUint64(nil, b.Header.Height))
	return batch.Write()
}
