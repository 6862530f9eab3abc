package node

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
)

// replayImageAlerts re-derives, at start, the image alerts this node raised
// before it stopped (see the header of images.go), and merges them into the
// alert log by time. Called by startAlerts after the chain replay, before
// anything else uses the log. It stores nothing; a record it cannot read
// is logged and skipped, as image alerts are Local and never worth
// refusing to start over.
func (n *Node) replayImageAlerts() {
	if n.alertLog == nil {
		return
	}
	start := time.Now()
	raised, err := n.imageAlertsFromStore()
	if err != nil {
		n.log.Error("image alerts: replay incomplete", "err", err)
	}
	if len(raised) == 0 {
		return
	}
	chainAlerts := n.alertLog.List(alerts.Filter{})
	slices.Reverse(chainAlerts) // oldest first
	log := alerts.NewLog(maxAlertsKept)
	log.Add(mergeAlertsByTime(chainAlerts, raised)...)
	n.alertLog = log
	n.log.Info("image alerts replayed from stored images", "alerts", len(raised), "took", time.Since(start).Round(time.Millisecond))
}

// replayFrame is one held image of a final reading, as the replay needs it.
type replayFrame struct {
	hash chain.Hash
	ref  imageRef
	fig  frameFigures
}

// imageAlertsFromStore derives the image alerts of the held images whose
// reading is final: per device in seq order, each frame judged against the
// class of the device's previous non-dark frame, as imageAlerts does live.
func (n *Node) imageAlertsFromStore() ([]alerts.Alert, error) {
	var frames []replayFrame
	var errs []error
	prefix := imageKey(imageKeyMeta, nil)
	err := n.kv.Iterate(prefix, store.IterOptions{}, func(k, v []byte) error {
		var f replayFrame
		if len(k) != len(prefix)+len(f.hash) {
			errs = append(errs, fmt.Errorf("%w: image metadata key %x", ErrImageRecord, k))
			return nil
		}
		copy(f.hash[:], k[len(prefix):])
		rv, err := n.kv.Get(imageKey(imageKeyRef, f.hash[:]))
		if errors.Is(err, store.ErrNotFound) {
			return nil // its reading is not final (waiting, or an orphan)
		} else if err != nil {
			return err
		}
		if err := chain.Decode(rv, &f.ref); err != nil {
			errs = append(errs, fmt.Errorf("%w: reading of image %s: %w", ErrImageRecord, f.hash.Short(), err))
			return nil
		}
		var meta imageMeta
		if err := chain.Decode(v, &meta); err != nil {
			errs = append(errs, fmt.Errorf("%w: metadata of image %s: %w", ErrImageRecord, f.hash.Short(), err))
			return nil
		}
		f.fig = figuresOf(&meta.Analysis)
		frames = append(frames, f)
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	slices.SortFunc(frames, func(a, b replayFrame) int {
		if c := bytes.Compare(a.ref.Device[:], b.ref.Device[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.ref.Seq, b.ref.Seq)
	})

	var out []alerts.Alert
	var (
		dev      chain.PubKey
		prev     imageClassState
		havePrev bool
		dc       alerts.DeviceContext
		haveDC   bool
	)
	txHeight := n.Height(chain.LaneTx)
	for i, f := range frames {
		if i == 0 || f.ref.Device != dev {
			dev, prev, havePrev, haveDC = f.ref.Device, imageClassState{}, false, false
		}
		j := judgeFrame(f.fig, f.ref.Seq, prev, havePrev)
		if j.raises() {
			r, _, err := n.store.Reading(f.ref.Device, f.ref.Seq)
			if err != nil {
				errs = append(errs, fmt.Errorf("image %s names reading %s/%d: %w", f.hash.Short(), f.ref.Device.Short(), f.ref.Seq, err))
			} else {
				if !haveDC {
					dc, haveDC = n.deviceContext(dev, txHeight), true
				}
				out = append(out, imageFrameAlerts(f.hash, f.fig, r, prev, j, dc)...)
			}
		}
		if j.advance {
			prev, havePrev = imageClassState{Seq: f.ref.Seq, Class: f.fig.Class}, true
		}
	}
	return out, errors.Join(errs...)
}

// mergeAlertsByTime interleaves extra into base (both oldest first) by
// Time: base keeps its order, extra is sorted stably by time, and an extra
// alert goes before the first base alert timed after it. The alert log
// keeps the newest alerts, so the replay must add them oldest first.
func mergeAlertsByTime(base, extra []alerts.Alert) []alerts.Alert {
	extra = slices.Clone(extra)
	slices.SortStableFunc(extra, func(a, b alerts.Alert) int { return cmp.Compare(a.Time, b.Time) })
	out := make([]alerts.Alert, 0, len(base)+len(extra))
	i, j := 0, 0
	for i < len(base) || j < len(extra) {
		if j < len(extra) && (i == len(base) || extra[j].Time < base[i].Time) {
			out = append(out, extra[j])
			j++
		} else {
			out = append(out, base[i])
			i++
		}
	}
	return out
}
