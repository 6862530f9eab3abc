package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// Orphan images (see the header of images.go): an image accepted for a
// reading that waited in the mempool but never became final.

const (
	// imageSweepInterval is how often the fetcher goroutine sweeps orphan
	// images (and once at its start).
	imageSweepInterval = 5 * time.Minute
	// imageClockMargin is added to the orphan grace for the distance
	// between this node's clock, which stamps StoredAt, and the clocks of
	// the proposers, which time the blocks.
	imageClockMargin = time.Minute
)

// imageKeeper is the node's image housekeeping state. startImageFetcher
// sets it before the fetcher goroutine starts; it is read-only after.
type imageKeeper struct {
	// startedAt stands for the store time of a record written before
	// imageMeta.StoredAt existed.
	startedAt chain.Time
	// removed counts the orphan images swept (nil before Start).
	removed prometheus.Counter
}

// initImageKeeper sets n.images up, registering its metric. Called by
// Start, before the goroutines that read it.
func (n *Node) initImageKeeper() {
	n.images.startedAt = chain.TimeOf(n.now())
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "waterchain_image_orphans_removed_total",
		Help: "Images deleted because no final reading names them long after their upload (their reading was dropped or lost).",
	})
	if err := n.registry.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			n.log.Warn("image sweep metric not registered", "err", err)
		} else if prev, ok := are.ExistingCollector.(prometheus.Counter); ok {
			c = prev
		}
	}
	n.images.removed = c
}

// imageOrphanGrace is how long before the chain's time an image must have
// been stored to be swept when no reading names it: two reading windows
// (the reading may be timed a window after its acceptance, and be final in
// a block timed a window after the reading) plus imageClockMargin.
func (n *Node) imageOrphanGrace() time.Duration {
	return 2*n.gen.Params.ReadingWindow.Std() + imageClockMargin
}

// imageStoredAt is when the image of meta was stored; a record from before
// StoredAt counts as stored when this node started.
func (n *Node) imageStoredAt(meta *imageMeta) chain.Time {
	if meta.StoredAt == 0 {
		return n.images.startedAt
	}
	return meta.StoredAt
}

// runImageSweep sweeps with the configured grace and logs the outcome.
func (n *Node) runImageSweep() {
	removed, err := n.sweepOrphanImages(n.imageOrphanGrace())
	if err != nil {
		n.log.Warn("image sweep", "removed", removed, "err", err)
		return
	}
	if removed > 0 {
		n.log.Info("orphan images removed", "count", removed)
	}
}

// sweepOrphanImages deletes the file and metadata of every held image that
// no final reading names (no imageRef), that no reading waiting in the
// mempool names, and that was stored more than grace before the chain's
// time: the time of the last data block the image index has reached, or
// this node's clock if that is earlier. Judging by the indexed block, not
// the head, means every reading final up to it has its imageRef written; a
// node that is behind (syncing, or the data lane halted) sweeps nothing
// until its chain moves on. It returns the number of images deleted; a
// corrupt record is skipped and reported in the error, the sweep going on.
// Tests pass a short grace; the node passes imageOrphanGrace.
func (n *Node) sweepOrphanImages(grace time.Duration) (int, error) {
	indexed, err := n.imagesIndexedHeight()
	if err != nil || indexed == 0 {
		return 0, err
	}
	hdr, err := n.store.Header(chain.LaneData, indexed)
	if err != nil {
		return 0, fmt.Errorf("image sweep: header of indexed data block %d: %w", indexed, err)
	}
	chainNow := min(hdr.Time, chain.TimeOf(n.now()))
	cutoff := chainNow.Add(-grace)

	waiting := map[chain.Hash]bool{}
	for _, r := range n.readings.Peek(n.readings.Len()) {
		if r.ImageHash != nil {
			waiting[*r.ImageHash] = true
		}
	}
	var candidates []chain.Hash
	var errs []error
	prefix := imageKey(imageKeyMeta, nil)
	err = n.kv.Iterate(prefix, store.IterOptions{}, func(k, v []byte) error {
		var h chain.Hash
		if len(k) != len(prefix)+len(h) {
			errs = append(errs, fmt.Errorf("%w: image metadata key %x", ErrImageRecord, k))
			return nil
		}
		copy(h[:], k[len(prefix):])
		var meta imageMeta
		if err := chain.Decode(v, &meta); err != nil {
			errs = append(errs, fmt.Errorf("%w: metadata of image %s: %w", ErrImageRecord, h.Short(), err))
			return nil
		}
		if n.imageStoredAt(&meta) >= cutoff || waiting[h] {
			return nil
		}
		if final, err := n.imageIsFinal(h); err != nil || final {
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
		ok, err := n.deleteOrphanImage(h, cutoff)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			removed++
			if n.images.removed != nil {
				n.images.removed.Inc()
			}
			n.log.Debug("orphan image removed", "hash", h.Short(), "cutoff", cutoff)
		}
	}
	return removed, errors.Join(errs...)
}

// imageIsFinal reports whether a final reading names image h (its imageRef
// is written).
func (n *Node) imageIsFinal(h chain.Hash) (bool, error) { return n.hasImageRecord(imageKeyRef, h) }

// deleteOrphanImage deletes image h unless, by now, a final reading names
// it or a re-upload refreshed its store time to cutoff or later. Under
// imageWriteMu, so a concurrent refreshHeldImage either runs first (and
// keeps the image) or sees it gone (and stores it again).
func (n *Node) deleteOrphanImage(h chain.Hash, cutoff chain.Time) (bool, error) {
	imageWriteMu.Lock()
	defer imageWriteMu.Unlock()
	v, err := n.kv.Get(imageKey(imageKeyMeta, h[:]))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	var meta imageMeta
	if err := chain.Decode(v, &meta); err != nil {
		return false, fmt.Errorf("%w: metadata of image %s: %w", ErrImageRecord, h.Short(), err)
	}
	if n.imageStoredAt(&meta) >= cutoff {
		return false, nil
	}
	if final, err := n.imageIsFinal(h); err != nil || final {
		return false, err
	}
	b := n.kv.NewBatch()
	defer b.Discard()
	b.Delete(imageKey(imageKeyFile, h[:]))
	b.Delete(imageKey(imageKeyMeta, h[:]))
	if err := b.Write(); err != nil {
		return false, fmt.Errorf("deleting orphan image %s: %w", h.Short(), err)
	}
	return true, nil
}

// refreshHeldImage reports whether the node holds image h, for PutImage.
// When it does and only a waiting reading names it (a reading resubmitted
// with the frame of one dropped earlier), it sets the image's store time to
// now, so the sweep keeps it for another grace.
func (n *Node) refreshHeldImage(h chain.Hash) (bool, error) {
	held, err := n.hasImage(h)
	if err != nil || !held {
		return false, err
	}
	owner, ok, err := n.imageOwner(h)
	if err != nil || !ok || owner.height > 0 {
		return true, err // final (never swept), or no reading names it: nothing to keep it for
	}
	imageWriteMu.Lock()
	defer imageWriteMu.Unlock()
	v, err := n.kv.Get(imageKey(imageKeyMeta, h[:]))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // swept meanwhile: store it again
	} else if err != nil {
		return false, err
	}
	var meta imageMeta
	if err := chain.Decode(v, &meta); err != nil {
		return false, fmt.Errorf("%w: metadata of image %s: %w", ErrImageRecord, h.Short(), err)
	}
	meta.StoredAt = chain.TimeOf(n.now())
	b := n.kv.NewBatch()
	defer b.Discard()
	b.Set(imageKey(imageKeyMeta, h[:]), chain.MustEncode(&meta))
	if err := b.Write(); err != nil {
		return false, fmt.Errorf("refreshing image %s: %w", h.Short(), err)
	}
	return true, nil
}
