package images

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
)

// replayFrame is one held image of a final reading, as the replay needs it.
type replayFrame struct {
	hash chain.Hash
	ref  ref
	fig  frameFigures
}

// ReplayAlerts re-derives, at start, the image alerts this node raised
// before it stopped (doc.go, Restart): those of the held images whose
// reading is final, per device in seq order, each frame judged against the
// class of the device's previous non-dark frame, as storing it did live.
// It stores nothing and returns nothing without an AlertSink. A record it
// cannot read is skipped and reported in the error, with the alerts of
// every other frame: image alerts are Local and never worth refusing to
// start over.
func (im *Images) ReplayAlerts() ([]alerts.Alert, error) {
	if im.sink == nil {
		return nil, nil
	}
	var frames []replayFrame
	var errs []error
	prefix := recordKey(keyMeta, nil)
	err := im.kv.Iterate(prefix, store.IterOptions{}, func(k, v []byte) error {
		var f replayFrame
		if len(k) != len(prefix)+len(f.hash) {
			errs = append(errs, fmt.Errorf("%w: image metadata key %x", ErrRecord, k))
			return nil
		}
		copy(f.hash[:], k[len(prefix):])
		rv, err := im.kv.Get(recordKey(keyRef, f.hash[:]))
		if errors.Is(err, store.ErrNotFound) {
			return nil // its reading is not final (waiting, or an orphan)
		} else if err != nil {
			return err
		}
		if err := chain.Decode(rv, &f.ref); err != nil {
			errs = append(errs, fmt.Errorf("%w: reading of image %s: %w", ErrRecord, f.hash.Short(), err))
			return nil
		}
		var m meta
		if err := chain.Decode(v, &m); err != nil {
			errs = append(errs, fmt.Errorf("%w: metadata of image %s: %w", ErrRecord, f.hash.Short(), err))
			return nil
		}
		f.fig = figuresOf(&m.Analysis)
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
		prev     classState
		havePrev bool
		dc       alerts.DeviceContext
		haveDC   bool
	)
	for i, f := range frames {
		if i == 0 || f.ref.Device != dev {
			dev, prev, havePrev, haveDC = f.ref.Device, classState{}, false, false
		}
		j := judgeFrame(f.fig, f.ref.Seq, prev, havePrev)
		if j.raises() {
			r, _, err := im.chain.Reading(f.ref.Device, f.ref.Seq)
			if err != nil {
				errs = append(errs, fmt.Errorf("image %s names reading %s/%d: %w", f.hash.Short(), f.ref.Device.Short(), f.ref.Seq, err))
			} else {
				if !haveDC {
					dc, haveDC = im.sink.Context(dev), true
				}
				out = append(out, frameAlerts(f.hash, f.fig, r, prev, j, dc)...)
			}
		}
		if j.advance {
			prev, havePrev = classState{Seq: f.ref.Seq, Class: f.fig.Class}, true
		}
	}
	return out, errors.Join(errs...)
}

// MergeAlertsByTime interleaves extra into base (both oldest first) by
// Time: base keeps its order, extra is sorted stably by time, and an extra
// alert goes before the first base alert timed after it. The alert log
// keeps the newest alerts, so the replayed ones must be added oldest
// first, between the chain's.
func MergeAlertsByTime(base, extra []alerts.Alert) []alerts.Alert {
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
