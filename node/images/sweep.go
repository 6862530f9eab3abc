package images

import (
	"errors"
	"fmt"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// Orphan images (doc.go, Sweep): an image accepted for a reading that
// waited in the mempool but never became final.

// sweepInterval is how often Run sweeps orphan images (and once at its
// start).
const sweepInterval = 5 * time.Minute

// ClockMargin is what a node adds to two reading windows for the orphan
// grace: the distance between its clock, which stamps store times, and
// the clocks of the proposers, which time the blocks.
const ClockMargin = time.Minute

// storedAt is when the image of m was stored; a record from before
// StoredAt counts as stored when the instance was made.
func (im *Images) storedAt(m *meta) chain.Time {
	if m.StoredAt == 0 {
		return im.startedAt
	}
	return m.StoredAt
}

// runSweep sweeps with the configured grace and logs the outcome.
func (im *Images) runSweep() {
	removed, err := im.sweep(im.cfg.OrphanGrace)
	if err != nil {
		im.log.Warn("image sweep", "removed", removed, "err", err)
		return
	}
	if removed > 0 {
		im.log.Info("orphan images removed", "count", removed)
	}
}

// sweep deletes the file and metadata of every held image that no final
// reading names (no ref), that no reading waiting in the mempool names,
// and that was stored more than grace before the chain's time: the time
// of the last data block the image index has reached, or the clock if
// that is earlier. Judging by the indexed block, not the head, means every
// reading final up to it has its ref written; a node that is behind
// (syncing, or the data lane halted) sweeps nothing until its chain moves
// on. It returns the number of images deleted; a corrupt record is skipped
// and reported in the error, the sweep going on. Run passes
// Config.OrphanGrace; tests pass a short grace.
func (im *Images) sweep(grace time.Duration) (int, error) {
	indexed, err := im.reachedHeight()
	if err != nil || indexed == 0 {
		return 0, err
	}
	hdr, err := im.chain.Header(chain.LaneData, indexed)
	if err != nil {
		return 0, fmt.Errorf("image sweep: header of indexed data block %d: %w", indexed, err)
	}
	chainNow := min(hdr.Time, chain.TimeOf(im.clock.Now()))
	cutoff := chainNow.Add(-grace)

	waiting := map[chain.Hash]bool{}
	for _, r := range im.pool.Peek(im.pool.Len()) {
		if r.ImageHash != nil {
			waiting[*r.ImageHash] = true
		}
	}
	var candidates []chain.Hash
	var errs []error
	prefix := recordKey(keyMeta, nil)
	err = im.kv.Iterate(prefix, store.IterOptions{}, func(k, v []byte) error {
		var h chain.Hash
		if len(k) != len(prefix)+len(h) {
			errs = append(errs, fmt.Errorf("%w: image metadata key %x", ErrRecord, k))
			return nil
		}
		copy(h[:], k[len(prefix):])
		var m meta
		if err := chain.Decode(v, &m); err != nil {
			errs = append(errs, fmt.Errorf("%w: metadata of image %s: %w", ErrRecord, h.Short(), err))
			return nil
		}
		if im.storedAt(&m) >= cutoff || waiting[h] {
			return nil
		}
		if final, err := im.isFinal(h); err != nil || final {
			return err
		}
		candidates = append(candidates, h)
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	removed := 0
	for _, h := range candidates {
		ok, err := im.deleteOrphan(h, cutoff)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			removed++
			im.removed.Inc()
			im.log.Debug("orphan image removed", "hash", h.Short(), "cutoff", cutoff)
		}
	}
	return removed, errors.Join(errs...)
}

// isFinal reports whether a final reading names image h (its ref is
// written).
func (im *Images) isFinal(h chain.Hash) (bool, error) { return im.hasRecord(keyRef, h) }

// deleteOrphan deletes image h unless, by now, a final reading names it or
// a re-upload refreshed its store time to cutoff or later. Under writeMu,
// so a concurrent refreshHeld either runs first (and keeps the image) or
// sees it gone (and stores it again).
func (im *Images) deleteOrphan(h chain.Hash, cutoff chain.Time) (bool, error) {
	im.writeMu.Lock()
	defer im.writeMu.Unlock()
	v, err := im.kv.Get(recordKey(keyMeta, h[:]))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	var m meta
	if err := chain.Decode(v, &m); err != nil {
		return false, fmt.Errorf("%w: metadata of image %s: %w", ErrRecord, h.Short(), err)
	}
	if im.storedAt(&m) >= cutoff {
		return false, nil
	}
	if final, err := im.isFinal(h); err != nil || final {
		return false, err
	}
	b := im.kv.NewBatch()
	defer b.Discard()
	b.Delete(recordKey(keyFile, h[:]))
	b.Delete(recordKey(keyMeta, h[:]))
	if err := b.Write(); err != nil {
		return false, fmt.Errorf("deleting orphan image %s: %w", h.Short(), err)
	}
	im.overlays.remove(h)
	return true, nil
}

// refreshHeld reports whether the node holds image h, for Put. When it
// does and only a waiting reading names it (a reading resubmitted with the
// frame of one dropped earlier), it sets the image's store time to now, so
// the sweep keeps it for another grace.
func (im *Images) refreshHeld(h chain.Hash) (bool, error) {
	held, err := im.Held(h)
	if err != nil || !held {
		return false, err
	}
	o, ok, err := im.owner(h)
	if err != nil || !ok || o.height > 0 {
		return true, err // final (never swept), or no reading names it: nothing to keep it for
	}
	im.writeMu.Lock()
	defer im.writeMu.Unlock()
	v, err := im.kv.Get(recordKey(keyMeta, h[:]))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // swept meanwhile: store it again
	} else if err != nil {
		return false, err
	}
	var m meta
	if err := chain.Decode(v, &m); err != nil {
		return false, fmt.Errorf("%w: metadata of image %s: %w", ErrRecord, h.Short(), err)
	}
	m.StoredAt = chain.TimeOf(im.clock.Now())
	b := im.kv.NewBatch()
	defer b.Discard()
	b.Set(recordKey(keyMeta, h[:]), chain.MustEncode(&m))
	if err := b.Write(); err != nil {
		return false, fmt.Errorf("refreshing image %s: %w", h.Short(), err)
	}
	return true, nil
}
