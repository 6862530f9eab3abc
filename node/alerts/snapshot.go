package alerts

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/fxamacker/cbor/v2"

	"github.com/waterchain/waterchain/chain"
)

// snapshotVersion is the layout version of a snapshot; Restore refuses any
// other. Change it with any change of the engine's state or rules that
// would make an old snapshot derive different alerts.
const snapshotVersion = 1

// ErrSnapshot is returned (wrapped) by Restore for a snapshot it cannot
// use: undecodable, of another version, or taken with another config.
var ErrSnapshot = errors.New("unusable alert engine snapshot")

// maxSnapshotItems bounds the arrays a snapshot may hold (devices, refs).
const maxSnapshotItems = 1 << 24

var (
	snapEnc cbor.EncMode
	snapDec cbor.DecMode
)

func init() {
	var err error
	if snapEnc, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	if snapDec, err = (cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxArrayElements:  maxSnapshotItems,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}).DecMode(); err != nil {
		panic(err)
	}
}

// snapshot is the chain-derived state of an Engine: every device's
// history, sorted by device key so that equal states encode to equal
// bytes. The door memory is local (not chain-derived) and is not kept.
type snapshot struct {
	_          struct{} `cbor:",toarray"`
	Version    int
	IntervalMs int64
	SkewMs     int64
	Thresholds Thresholds
	Devices    []deviceSnap
}

type deviceSnap struct {
	_         struct{} `cbor:",toarray"`
	Device    chain.PubKey
	Seen      bool
	LastSeq   uint64
	LastTime  chain.Time
	LastTotal int64
	Recent    []ReadingRef
	Tracks    [5]trackSnap
	Active    []string // sorted
	NightOpen bool
	NightID   int64
	NightMin  int64
	NightN    int
	NightRefs []ReadingRef
	NightMins []int64
}

type trackSnap struct {
	_      struct{} `cbor:",toarray"`
	Run    int64
	Count  int
	Varied bool
	Hist   []int64
}

// Snapshot encodes the engine's chain-derived state (canonical CBOR): an
// engine restored from it (Restore) and fed the readings that follow
// raises the same alerts as this one. Call it from the goroutine that
// calls Observe.
func (e *Engine) Snapshot() ([]byte, error) {
	s := snapshot{Version: snapshotVersion, IntervalMs: e.intervalMs, SkewMs: e.skewMs, Thresholds: e.th,
		Devices: make([]deviceSnap, 0, len(e.devices))}
	for dev, st := range e.devices {
		d := deviceSnap{
			Device: dev, Seen: st.seen, LastSeq: st.lastSeq, LastTime: st.lastTime, LastTotal: st.lastTotal,
			Recent: st.recent, NightOpen: st.nightOpen, NightID: st.nightID, NightMin: st.nightMin,
			NightN: st.nightN, NightRefs: st.nightRefs, NightMins: st.nightMins,
		}
		for i, tr := range st.tracks {
			d.Tracks[i] = trackSnap{Run: tr.run, Count: tr.count, Varied: tr.varied, Hist: tr.hist}
		}
		d.Active = make([]string, 0, len(st.active))
		for k, on := range st.active {
			if on {
				d.Active = append(d.Active, k)
			}
		}
		sort.Strings(d.Active)
		s.Devices = append(s.Devices, d)
	}
	sort.Slice(s.Devices, func(i, j int) bool { return bytes.Compare(s.Devices[i].Device[:], s.Devices[j].Device[:]) < 0 })
	return snapEnc.Marshal(&s)
}

// Restore replaces the engine's chain-derived state with a snapshot taken
// by an engine of the same config. On error the engine is left as it was.
func (e *Engine) Restore(data []byte) error {
	var s snapshot
	if err := snapDec.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("%w: decoding %d bytes: %v", ErrSnapshot, len(data), err)
	}
	if s.Version != snapshotVersion {
		return fmt.Errorf("%w: version %d, this node reads version %d", ErrSnapshot, s.Version, snapshotVersion)
	}
	if s.IntervalMs != e.intervalMs || s.SkewMs != e.skewMs || !sameThresholds(s.Thresholds, e.th) {
		return fmt.Errorf("%w: taken with reading interval %dms, skew %dms, thresholds %+v; this engine has %dms, %dms, %+v",
			ErrSnapshot, s.IntervalMs, s.SkewMs, s.Thresholds, e.intervalMs, e.skewMs, e.th)
	}
	devices := make(map[chain.PubKey]*deviceState, len(s.Devices))
	for i, d := range s.Devices {
		if _, dup := devices[d.Device]; dup || (i > 0 && bytes.Compare(s.Devices[i-1].Device[:], d.Device[:]) >= 0) {
			return fmt.Errorf("%w: device %s out of order or repeated", ErrSnapshot, d.Device)
		}
		st := &deviceState{
			seen: d.Seen, lastSeq: d.LastSeq, lastTime: d.LastTime, lastTotal: d.LastTotal, recent: d.Recent,
			active: make(map[string]bool, len(d.Active)), nightOpen: d.NightOpen, nightID: d.NightID,
			nightMin: d.NightMin, nightN: d.NightN, nightRefs: d.NightRefs, nightMins: d.NightMins,
		}
		for i, tr := range d.Tracks {
			st.tracks[i] = measureTrack{run: tr.Run, count: tr.Count, varied: tr.Varied, hist: tr.Hist}
		}
		for _, k := range d.Active {
			st.active[k] = true
		}
		devices[d.Device] = st
	}
	e.devices = devices
	return nil
}

// sameThresholds compares thresholds by their canonical encoding (they
// hold a map, which == cannot compare).
func sameThresholds(a, b Thresholds) bool {
	ea, err1 := snapEnc.Marshal(&a)
	eb, err2 := snapEnc.Marshal(&b)
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}
