package state

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/waterchain/waterchain/chain"
)

// dataRules are what the data lane needs from the tx lane's state.
type dataRules struct {
	window  chain.Time // ReadingWindow in milliseconds
	txMeta  TxMeta
	chainID string
}

// loadDataRules reads the data rules from r into d, building the keys it
// reads in kb.
func loadDataRules(r Reader, kb *keyBuf, d *dataRules) error {
	var g genesisRecord
	found, err := getRecord(r, kb.of(keyGenesis, nil), &g)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: no genesis record; store the changes of GenesisChanges first", ErrCorruptState)
	}
	*d = dataRules{window: chain.Time(g.Params.ReadingWindow.Std().Milliseconds()), chainID: g.ChainID}
	if found, err = getRecord(r, kb.of(keyTxMeta, nil), &d.txMeta); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: no tx meta record", ErrCorruptState)
	}
	return nil
}

// CheckReading checks one reading as a data block anchored at tx height
// anchorTxHeight with time blockTime would: ValidateBasic, the device is
// registered and not revoked as of the anchor, the time is within
// Params.ReadingWindow of blockTime and after the device's last recorded
// reading, and the sequence number is above the last recorded one — or,
// for a late reading, in one of the device's open gaps (DeviceData.Gaps;
// its time is then not compared with the last reading's). The
// caller verifies the signature. r holds the committed state of both lanes,
// with tx state of height at least anchorTxHeight; the answer does not
// depend on tx blocks after the anchor.
//
// Use it at the door (API, MQTT) and in the proposer; DataBuilder and
// ExecuteDataBlock apply the same checks.
func CheckReading(r Reader, anchorTxHeight uint64, blockTime chain.Time, rd *chain.Reading) error {
	c, err := NewReadingChecker(r, anchorTxHeight, blockTime)
	if err != nil {
		return err
	}
	return c.Check(rd)
}

// ReadingChecker applies CheckReading's rules to many readings against one
// committed state, loading the chain's data rules once and each device's
// records once (the door checks requests of thousands of readings, often
// many from one device). Each Check is independent of the others, as
// CheckReading is. The state must not change while the checker is used.
type ReadingChecker struct {
	devices   deviceReader
	rules     dataRules
	anchor    uint64
	blockTime chain.Time
}

// NewReadingChecker prepares checks as of anchorTxHeight and blockTime.
func NewReadingChecker(r Reader, anchorTxHeight uint64, blockTime chain.Time) (*ReadingChecker, error) {
	c := &ReadingChecker{devices: newDeviceReader(r), anchor: anchorTxHeight, blockTime: blockTime}
	if err := loadDataRules(r, &c.devices.key, &c.rules); err != nil {
		return nil, err
	}
	return c, nil
}

// Check is CheckReading for one reading.
func (c *ReadingChecker) Check(rd *chain.Reading) error {
	if err := checkReadingBasic(rd); err != nil {
		return err
	}
	v, err := c.devices.view(rd.Device)
	if err != nil {
		return err
	}
	return checkReading(v, &c.rules, c.anchor, c.blockTime, rd)
}

// deviceView is what the data rules need of one device: when it was
// registered and revoked, and its data record. It keeps only the heights
// of the registration, not the whole Device: every reading a node checks
// or executes makes one, and they were the most of what the data lane
// allocated.
type deviceView struct {
	found      bool // the device has a registration
	dirty      bool // dd changed by the block being built
	registered uint64
	revoked    uint64
	dd         DeviceData
}

// activeAt is Device.ActiveAt for the viewed registration.
func (v *deviceView) activeAt(txHeight uint64) bool {
	d := Device{RegisteredHeight: v.registered, RevokedHeight: v.revoked}
	return d.ActiveAt(txHeight)
}

// deviceReader reads the views of devices from r, each once (a block or a
// door's request often holds several readings of one device), and keeps
// them. A builder or checker has one, used by its goroutine only.
type deviceReader struct {
	r     Reader
	views map[chain.PubKey]*deviceView
	// free is the rest of the chunk new views are taken from: a chunk
	// holds as many views as were taken before it (at least 4, at most
	// 64), so views cost a few allocations a block, not one each. A view
	// stays where it was taken as long as the deviceReader lives.
	free []deviceView
	// key, dev and dd are scratch space for loading a view, reused by
	// every load and valid until the next: the key being read and the
	// records read. The keys of the data rules' other reads are built in
	// key too.
	key keyBuf
	dev Device
	dd  DeviceData
}

func newDeviceReader(r Reader) deviceReader {
	return deviceReader{r: r, views: make(map[chain.PubKey]*deviceView)}
}

// view returns device's view, loading it from r the first time.
func (dr *deviceReader) view(device chain.PubKey) (*deviceView, error) {
	if v, ok := dr.views[device]; ok {
		return v, nil
	}
	// getRecord leaves a record it does not find as it was, and decoding
	// into one fills only the fields present: the scratch starts zero.
	dr.dev, dr.dd = Device{}, DeviceData{}
	found, err := getRecord(dr.r, dr.key.of(pfxDevice, device[:]), &dr.dev)
	if err != nil {
		return nil, err
	}
	if _, err := getRecord(dr.r, dr.key.of(pfxDeviceData, device[:]), &dr.dd); err != nil {
		return nil, err
	}
	if len(dr.free) == 0 {
		dr.free = make([]deviceView, min(max(len(dr.views), 4), 64))
	}
	v := &dr.free[0]
	dr.free = dr.free[1:]
	*v = deviceView{found: found, registered: dr.dev.RegisteredHeight, revoked: dr.dev.RevokedHeight, dd: dr.dd} // dd's gaps are v's: the next load starts from zero
	dr.views[device] = v
	return v, nil
}

func checkReadingBasic(rd *chain.Reading) error {
	if rd == nil {
		return fmt.Errorf("%w: nil reading", ErrBadReading)
	}
	if err := rd.ValidateBasic(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadReading, err)
	}
	return nil
}

// checkReading applies the data rules to rd, whose device is v.
func checkReading(v *deviceView, rules *dataRules, anchor uint64, blockTime chain.Time, rd *chain.Reading) error {
	if anchor > rules.txMeta.Height {
		return fmt.Errorf("%w: anchor tx height %d, but the tx state is at height %d", ErrAnchorAhead, anchor, rules.txMeta.Height)
	}
	switch {
	case !v.found || v.registered > anchor:
		return fmt.Errorf("%w: device %s is not registered as of tx height %d; register it with a register-device transaction", ErrUnknownDevice, shortKey(rd.Device), anchor)
	case !v.activeAt(anchor):
		return fmt.Errorf("%w: device %s was revoked at tx height %d", ErrDeviceRevoked, shortKey(rd.Device), v.revoked)
	}
	if d := rd.Time - blockTime; d > rules.window || -d > rules.window {
		return fmt.Errorf("%w: device %s reading seq %d is timed %s, more than %s from the block time %s", ErrTimeOutsideWindow, shortKey(rd.Device), rd.Seq, rd.Time, rules.window.Sub(0), blockTime)
	}
	if rd.Seq <= v.dd.LastSeq {
		if v.dd.inGap(rd.Seq) {
			return nil // a late reading that fills a recorded gap
		}
		return fmt.Errorf("%w: seq %d is not above the last recorded seq %d for device %s, nor in one of its open gaps", ErrReplayedSeq, rd.Seq, v.dd.LastSeq, shortKey(rd.Device))
	}
	if rd.Time <= v.dd.LastTime {
		return fmt.Errorf("%w: device %s seq %d is timed %s, not after its last recorded reading at %s", ErrTimeNotIncreasing, shortKey(rd.Device), rd.Seq, rd.Time, v.dd.LastTime)
	}
	return nil
}

// DataBuilder builds or executes one data block: it applies readings one at
// a time, keeping those that pass. It is not safe for concurrent use.
type DataBuilder struct {
	r        Reader
	rules    dataRules
	h        chain.Header
	meta     DataMeta
	readings []*chain.Reading
	devices  deviceReader // as of the readings so far
	touched  int          // devices with readings (their views are dirty)
}

// NewDataBuilder opens data block h (ChainID, Lane, Height, Time and Anchor
// are used) over the committed state r.
func NewDataBuilder(r Reader, h *chain.Header) (*DataBuilder, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil header", ErrBadHeader)
	}
	b := &DataBuilder{r: r, h: *h, devices: newDeviceReader(r)}
	if err := loadDataRules(r, &b.devices.key, &b.rules); err != nil {
		return nil, err
	}
	rules := &b.rules
	found, err := getRecord(r, b.devices.key.of(keyDataMeta, nil), &b.meta)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no data meta record", ErrCorruptState)
	}
	switch {
	case h.Lane != chain.LaneData:
		return nil, fmt.Errorf("%w: a %s block given to the data lane", ErrBadHeader, h.Lane)
	case h.ChainID != rules.chainID:
		return nil, fmt.Errorf("%w: header chain id %q, want %q", ErrBadHeader, h.ChainID, rules.chainID)
	case h.Height != b.meta.Height+1:
		return nil, fmt.Errorf("%w: data block height %d does not follow the executed height %d", ErrBadHeader, h.Height, b.meta.Height)
	case h.Time < b.meta.Time:
		return nil, fmt.Errorf("%w: data block time %s is before the last executed time %s", ErrBadHeader, h.Time, b.meta.Time)
	case h.Anchor.Height < b.meta.Anchor:
		return nil, fmt.Errorf("%w: anchor tx height %d goes back from %d", ErrBadHeader, h.Anchor.Height, b.meta.Anchor)
	case h.Anchor.Height > rules.txMeta.Height:
		return nil, fmt.Errorf("%w: anchor tx height %d, but the tx state is at height %d; execute the tx chain up to the anchor first", ErrAnchorAhead, h.Anchor.Height, rules.txMeta.Height)
	}
	return b, nil
}

// Add checks rd against the block so far (see CheckReading) and records
// it, or returns why not and leaves the block unchanged. A jump in sequence
// numbers is recorded as missing readings and opens a gap; a late reading
// fills its number in one.
func (b *DataBuilder) Add(rd *chain.Reading) error {
	if err := checkReadingBasic(rd); err != nil {
		return err
	}
	v, err := b.devices.view(rd.Device)
	if err != nil {
		return err
	}
	if err := checkReading(v, &b.rules, b.h.Anchor.Height, b.h.Time, rd); err != nil {
		return err
	}
	dd := &v.dd
	if !v.dirty {
		v.dirty = true
		b.touched++
	}
	switch {
	case rd.Seq <= dd.LastSeq: // late, into an open gap (checked above)
		dd.fill(rd.Seq)
	default:
		if rd.Seq > dd.LastSeq+1 {
			dd.openGap(dd.LastSeq+1, rd.Seq-1)
		}
		dd.Readings++
		dd.LastSeq, dd.LastTime, dd.LastHeight = rd.Seq, rd.Time, b.h.Height
	}
	b.meta.Readings = satAdd(b.meta.Readings, 1)
	b.readings = append(b.readings, rd)
	return nil
}

// Readings returns the readings kept so far, in order.
func (b *DataBuilder) Readings() []*chain.Reading {
	return append([]*chain.Reading(nil), b.readings...)
}

// deviceDataSize is a guess at the size of a device's data record
// encoded, to size the array Finish encodes a block's records into.
const deviceDataSize = 32

// Finish returns the block's changes and the data-lane state root after it.
//
// A data block writes the data records of its devices and the meta
// record, and reads none of them back, so Finish writes them straight
// into the list it returns, in key order, and works the root out from
// that list: an overlay cost a copy of every key into its map and two
// sorted lists of them (the root's and the caller's). The keys share one
// array and the values another; each is capped, so that appending to one
// cannot write into the next. Finish may be called again after more
// readings; it then writes every device with readings so far.
func (b *DataBuilder) Finish() ([]Change, chain.Hash, error) {
	b.meta.Height, b.meta.Time, b.meta.Anchor = b.h.Height, b.h.Time, b.h.Anchor.Height
	const deviceKeyLen = len(pfxDeviceData) + len(chain.PubKey{})
	changes := make([]Change, 0, b.touched+1)
	keys := make([]byte, 0, b.touched*deviceKeyLen+len(keyDataMeta))
	values := make([]byte, 0, b.touched*deviceDataSize)
	for device, view := range b.devices.views { // in any order: sorted below
		if !view.dirty {
			continue
		}
		k, v := len(keys), len(values)
		keys = append(append(keys, pfxDeviceData...), device[:]...)
		values = view.dd.appendCBOR(values) // grown past its guess, the earlier values keep the old array
		changes = append(changes, Change{Key: keys[k:len(keys):len(keys)], Value: values[v:len(values):len(values)]})
	}
	k := len(keys)
	keys = append(keys, keyDataMeta...)
	changes = append(changes, Change{Key: keys[k:len(keys):len(keys)], Value: chain.MustEncode(&b.meta)})
	slices.SortFunc(changes, func(x, y Change) int { return bytes.Compare(x.Key, y.Key) })
	root, err := rootAfter(b.r, []byte(DataPrefix), changes)
	if err != nil {
		return nil, chain.Hash{}, err
	}
	return changes, root, nil
}

// ExecuteDataBlock executes data block h with readings over the committed
// state r (both lanes; tx state at least at h.Anchor.Height). Every reading
// must pass; one that does not makes the block invalid (ErrBadBlock). It
// returns the block's changes, all under DataPrefix, and the data-lane
// state root after it; VerifyDataBlock also compares the root.
func ExecuteDataBlock(r Reader, h *chain.Header, readings []*chain.Reading) ([]Change, chain.Hash, error) {
	b, err := NewDataBuilder(r, h)
	if err != nil {
		return nil, chain.Hash{}, err
	}
	b.readings = make([]*chain.Reading, 0, len(readings)) // all of them, or the block is bad
	for i, rd := range readings {
		if err := b.Add(rd); err != nil {
			return nil, chain.Hash{}, fmt.Errorf("%w: data block %d, readings[%d]: %w", ErrBadBlock, h.Height, i, err)
		}
	}
	return b.Finish()
}

// VerifyDataBlock executes b like ExecuteDataBlock and checks the state root
// its header commits to; on ErrStateRootMismatch a node must stop rather
// than vote.
func VerifyDataBlock(r Reader, b *chain.Block) ([]Change, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: nil block", ErrBadBlock)
	}
	changes, root, err := ExecuteDataBlock(r, &b.Header, b.Readings)
	if err != nil {
		return nil, err
	}
	if root != b.Header.StateRoot {
		return nil, fmt.Errorf("%w: data block %d commits state root %s, executing it here gives %s", ErrStateRootMismatch, b.Header.Height, b.Header.StateRoot, root)
	}
	return changes, nil
}
