package state

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

func TestCheckReading(t *testing.T) {
	// Tx block 1 registers a new meter for saver; tx block 2 revokes hog's.
	// The data lane is then asked about anchors 0, 1 and 2 while the tx
	// state is at height 2: the answer follows the anchor only.
	f := newFixture(t)
	f.mustTxBlock(at(time.Second), f.tx("saver", 0, func(tx *chain.Tx) {
		tx.RegisterDevice = &chain.RegisterDevice{Device: key("saver-meter-2").Public()}
	}))
	f.mustTxBlock(at(2*time.Second), f.tx("hog", 0, func(tx *chain.Tx) {
		tx.RevokeDevice = &chain.RevokeDevice{Device: key("hog-meter").Public()}
	}))
	blockTime := at(time.Minute)
	f.mustDataBlock(at(50*time.Second), f.reading("buyer-meter", 5, at(50*time.Second), 1, 1))

	cases := []struct {
		name   string
		anchor uint64
		rd     *chain.Reading
		want   error
		msg    string
	}{
		{"valid", 2, f.reading("saver-meter", 1, blockTime, 10, 100), nil, ""},
		{"valid: seq jump", 2, f.reading("buyer-meter", 9, blockTime, 10, 100), nil, ""},
		{"unknown device", 2, f.reading("stranger", 1, blockTime, 10, 100), ErrUnknownDevice, "not registered as of tx height 2"},
		{"registered after the anchor", 0, f.reading("saver-meter-2", 1, blockTime, 10, 100), ErrUnknownDevice, "as of tx height 0"},
		{"registered at the anchor", 1, f.reading("saver-meter-2", 1, blockTime, 10, 100), nil, ""},
		{"revoked at the anchor", 2, f.reading("hog-meter", 1, blockTime, 10, 100), ErrDeviceRevoked, "revoked at tx height 2"},
		{"revoked after the anchor", 1, f.reading("hog-meter", 1, blockTime, 10, 100), nil, ""},
		{"replayed seq", 2, f.reading("buyer-meter", 5, blockTime, 10, 100), ErrReplayedSeq, "seq 5 is not above the last recorded seq 5 for device"},
		{"older seq", 2, f.reading("buyer-meter", 4, blockTime, 10, 100), ErrReplayedSeq, "seq 4"},
		{"time not increasing", 2, f.reading("buyer-meter", 6, at(50*time.Second), 10, 100), ErrTimeNotIncreasing, ""},
		{"too far ahead", 2, f.reading("saver-meter", 1, blockTime.Add(31*time.Second), 10, 100), ErrTimeOutsideWindow, "more than 30s from the block time"},
		{"too far behind", 2, f.reading("saver-meter", 1, blockTime.Add(-31*time.Second), 10, 100), ErrTimeOutsideWindow, ""},
		{"at the window's edge", 2, f.reading("saver-meter", 1, blockTime.Add(30*time.Second), 10, 100), nil, ""},
		{"anchor ahead of tx state", 3, f.reading("saver-meter", 1, blockTime, 10, 100), ErrAnchorAhead, ""},
		{"negative volume", 2, f.reading("saver-meter", 1, blockTime, -1, 100), ErrBadReading, ""},
		{"nil", 2, nil, ErrBadReading, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckReading(f.store, tc.anchor, blockTime, tc.rd)
			wantErr(t, err, tc.want)
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			// The batch checker the door uses says the same.
			c, cerr := NewReadingChecker(f.store, tc.anchor, blockTime)
			if cerr != nil {
				t.Fatal(cerr)
			}
			if got := c.Check(tc.rd); fmt.Sprint(got) != fmt.Sprint(err) {
				t.Errorf("ReadingChecker says %v, CheckReading says %v", got, err)
			}
		})
	}
}

func TestDataBlock(t *testing.T) {
	f := newFixture(t)
	t0 := at(time.Minute)
	// Two readings of one device in one block: the second is checked
	// against the first.
	f.mustDataBlock(t0, f.reading("saver-meter", 1, t0-2000, 1, 1), f.reading("saver-meter", 4, t0-1000, 1, 1))
	d, err := GetDevice(f.store, key("saver-meter").Public())
	if err != nil {
		t.Fatal(err)
	}
	if d.Data.LastSeq != 4 || d.Data.Readings != 2 || d.Data.Missing != 2 || d.Data.LastHeight != 1 || d.Data.LastTime != t0-1000 {
		t.Errorf("device data %+v: want seq 4, 2 readings, 2 missing", d.Data)
	}
	err = f.dataBlock(t0+1000, f.reading("hog-meter", 1, t0, 1, 1), f.reading("hog-meter", 1, t0+500, 1, 1))
	wantErr(t, err, ErrBadBlock)
	wantErr(t, err, ErrReplayedSeq)
	if !strings.Contains(err.Error(), "readings[1]") {
		t.Errorf("error %q does not name the reading", err)
	}
	if m, _ := GetDataMeta(f.store); m.Height != 1 || m.Readings != 2 {
		t.Errorf("a rejected block changed the data meta: %+v", m)
	}

	// Header checks.
	h := f.dataHeader(t0 + 1000)
	h.Height = 5
	_, _, err = ExecuteDataBlock(f.store, h, nil)
	wantErr(t, err, ErrBadHeader)
	h = f.dataHeader(t0 - 1)
	_, _, err = ExecuteDataBlock(f.store, h, nil)
	wantErr(t, err, ErrBadHeader)
	h = f.dataHeader(t0 + 1000)
	h.Lane = chain.LaneTx
	_, _, err = ExecuteDataBlock(f.store, h, nil)
	wantErr(t, err, ErrBadHeader)
	h = f.dataHeader(t0 + 1000)
	h.Anchor.Height = 9
	_, _, err = ExecuteDataBlock(f.store, h, nil)
	wantErr(t, err, ErrAnchorAhead)
}

func TestDataBlockBuilderSkipsBadReadings(t *testing.T) {
	f := newFixture(t)
	t0 := at(time.Minute)
	b, err := NewDataBuilder(f.store, f.dataHeader(t0))
	if err != nil {
		t.Fatal(err)
	}
	good := f.reading("saver-meter", 1, t0, 1, 1)
	if err := b.Add(good); err != nil {
		t.Fatal(err)
	}
	wantErr(t, b.Add(f.reading("saver-meter", 1, t0+1, 1, 1)), ErrReplayedSeq)
	wantErr(t, b.Add(f.reading("stranger", 1, t0, 1, 1)), ErrUnknownDevice)
	if got := b.Readings(); len(got) != 1 || got[0] != good {
		t.Fatalf("builder kept %d readings", len(got))
	}
	changes, root, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	// Executing the kept readings gives the same changes and root.
	changes2, root2, err := ExecuteDataBlock(f.store, f.dataHeader(t0), []*chain.Reading{good})
	if err != nil || root2 != root || len(changes2) != len(changes) {
		t.Fatalf("builder and executor disagree: %v", err)
	}
	block := &chain.Block{Header: *f.dataHeader(t0), Readings: []*chain.Reading{good}}
	block.Header.StateRoot = root
	if _, err := VerifyDataBlock(f.store, block); err != nil {
		t.Fatalf("VerifyDataBlock: %v", err)
	}
	block.Header.StateRoot = chain.HashBytes([]byte("wrong"))
	_, err = VerifyDataBlock(f.store, block)
	wantErr(t, err, ErrStateRootMismatch)
}

func TestDataRootIgnoresTxLane(t *testing.T) {
	f := newFixture(t)
	before, err := DataRoot(f.store)
	if err != nil {
		t.Fatal(err)
	}
	f.mustTxBlock(at(time.Second), f.transfer("saver", "carol", 1))
	after, _ := DataRoot(f.store)
	if before != after {
		t.Errorf("a tx block changed the data-lane root")
	}
	txBefore := f.txRoot()
	f.mustDataBlock(at(time.Minute), f.reading("saver-meter", 1, at(time.Minute), 1, 1))
	if f.txRoot() != txBefore {
		t.Errorf("a data block changed the tx-lane root")
	}
}
