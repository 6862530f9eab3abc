package state

import (
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// dataRules are what the data lane needs from the tx lane's state.
type dataRules struct {
	window  chain.Time // ReadingWindow in milliseconds
	txMeta  TxMeta
	chainID string
}

func loadDataRules(r Reader) (*dataRules, error) {
	var g genesisRecord
	found, err := getRecord(r, []byte(keyGenesis), &g)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no genesis record; store the changes of GenesisChanges first", ErrCorruptState)
	}
	d := &dataRules{window: chain.Time(g.Params.ReadingWindow.Std().Milliseconds()), chainID: g.ChainID}
	if found, err = getRecord(r, []byte(keyTxMeta), &d.txMeta); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no tx meta record", ErrCorruptState)
	}
	return d, nil
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
	r         Reader
	rules     *dataRules
	anchor    uint64
	blockTime chain.Time
	devices   map[chain.PubKey]*deviceView
}

// NewReadingChecker prepares checks as of anchorTxHeight and blockTime.
func NewReadingChecker(r Reader, anchorTxHeight uint64, blockTime chain.Time) (*ReadingChecker, error) {
	rules, err := loadDataRules(r)
	if err != nil {
		return nil, err
	}
	return &ReadingChecker{r: r, rules: rules, anchor: anchorTxHeight, blockTime: blockTime, devices: map[chain.PubKey]*deviceView{}}, nil
}

// Check is CheckReading for one reading.
func (c *ReadingChecker) Check(rd *chain.Reading) error {
	if err := checkReadingBasic(rd); err != nil {
		return err
	}
	v, err := viewDevice(c.r, c.devices, rd.Device)
	if err != nil {
		return err
	}
	return checkReading(v, c.rules, c.anchor, c.blockTime, rd)
}

// deviceView is what the data rules need of one device: its registration
// and its data record.
type deviceView struct {
	found bool
	dev   Device
	dd    DeviceData
	dirty bool // dd changed by the block being built
}

// viewDevice returns key's view from memo, loading it from r the first time.
func viewDevice(r Reader, memo map[chain.PubKey]*deviceView, key chain.PubKey) (*deviceView, error) {
	if v, ok := memo[key]; ok {
		return v, nil
	}
	v := new(deviceView)
	var err error
	if v.found, err = getRecord(r, deviceKey(key), &v.dev); err != nil {
		return nil, err
	}
	if _, err := getRecord(r, deviceDataKey(key), &v.dd); err != nil {
		return nil, err
	}
	memo[key] = v
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
	case !v.found || v.dev.RegisteredHeight > anchor:
		return fmt.Errorf("%w: device %s is not registered as of tx height %d; register it with a register-device transaction", ErrUnknownDevice, shortKey(rd.Device), anchor)
	case !v.dev.ActiveAt(anchor):
		return fmt.Errorf("%w: device %s was revoked at tx height %d", ErrDeviceRevoked, shortKey(rd.Device), v.dev.RevokedHeight)
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
	ov       *overlay
	rules    *dataRules
	h        chain.Header
	meta     DataMeta
	readings []*chain.Reading
	devices  map[chain.PubKey]*deviceView // as of the readings so far
	touched  []chain.PubKey               // devices with readings, in first-reading order
}

// NewDataBuilder opens data block h (ChainID, Lane, Height, Time and Anchor
// are used) over the committed state r.
func NewDataBuilder(r Reader, h *chain.Header) (*DataBuilder, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil header", ErrBadHeader)
	}
	rules, err := loadDataRules(r)
	if err != nil {
		return nil, err
	}
	b := &DataBuilder{ov: newOverlay(r), rules: rules, h: *h, devices: map[chain.PubKey]*deviceView{}}
	found, err := getRecord(r, []byte(keyDataMeta), &b.meta)
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
	v, err := viewDevice(b.ov, b.devices, rd.Device)
	if err != nil {
		return err
	}
	if err := checkReading(v, b.rules, b.h.Anchor.Height, b.h.Time, rd); err != nil {
		return err
	}
	dd := &v.dd
	if !v.dirty {
		v.dirty = true
		b.touched = append(b.touched, rd.Device)
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

// Finish returns the block's changes and the data-lane state root after it.
func (b *DataBuilder) Finish() ([]Change, chain.Hash, error) {
	for _, key := range b.touched {
		v := b.devices[key]
		putRecord(b.ov, deviceDataKey(key), &v.dd)
		v.dirty = false
	}
	b.touched = b.touched[:0]
	b.meta.Height, b.meta.Time, b.meta.Anchor = b.h.Height, b.h.Time, b.h.Anchor.Height
	putRecord(b.ov, []byte(keyDataMeta), &b.meta)
	root, err := Root(b.ov, []byte(DataPrefix))
	if err != nil {
		return nil, chain.Hash{}, err
	}
	return b.ov.changes(), root, nil
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
