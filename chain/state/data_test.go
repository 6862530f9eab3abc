package state

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

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
		{"late seq into the open gap 1–4", 2, f.reading("buyer-meter", 4, blockTime, 10, 100), nil, ""},
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

// TestLateReadingsFillGaps: a seq jump records the skipped numbers as
// missing and keeps them open; a late reading fills its number once
// (whatever its time, within the window), the last seq and time stay, and
// only the newest MaxOpenGaps gaps stay open.
func TestLateReadingsFillGaps(t *testing.T) {
	f := newFixture(t)
	t0 := at(time.Minute)
	dev := key("saver-meter").Public()
	data := func() DeviceData {
		t.Helper()
		d, err := GetDevice(f.store, dev)
		if err != nil {
			t.Fatal(err)
		}
		return d.Data
	}
	f.mustDataBlock(t0, f.reading("saver-meter", 1, t0-3000, 1, 1), f.reading("saver-meter", 5, t0-1000, 1, 1))
	if d := data(); d.LastSeq != 5 || d.Readings != 2 || d.Missing != 3 || fmt.Sprint(d.Gaps) != "[{2 4}]" {
		t.Fatalf("after 1 and 5: %+v", d)
	}
	// 3 arrives late, timed before 5.
	f.mustDataBlock(t0+1000, f.reading("saver-meter", 3, t0-2000, 1, 1))
	if d := data(); d.LastSeq != 5 || d.LastTime != t0-1000 || d.Readings != 3 || d.Missing != 2 || fmt.Sprint(d.Gaps) != "[{2 2} {4 4}]" {
		t.Fatalf("after the late 3: %+v", d)
	}
	for _, tc := range []struct {
		name string
		rd   *chain.Reading
		want error
	}{
		{"3 again", f.reading("saver-meter", 3, t0-2000, 1, 1), ErrReplayedSeq},
		{"5 again", f.reading("saver-meter", 5, t0, 1, 1), ErrReplayedSeq},
		{"late 4, too old for the window", f.reading("saver-meter", 4, t0+2000-31_000, 1, 1), ErrTimeOutsideWindow},
		{"late 4", f.reading("saver-meter", 4, t0-1500, 1, 1), nil},
		{"next 6", f.reading("saver-meter", 6, t0+1500, 1, 1), nil},
	} {
		wantErr(t, CheckReading(f.store, 0, t0+2000, tc.rd), tc.want)
	}
	// Both in one block: 2 fills its gap, 4 its own.
	f.mustDataBlock(t0+2000, f.reading("saver-meter", 2, t0-2500, 1, 1), f.reading("saver-meter", 4, t0-1500, 1, 1), f.reading("saver-meter", 6, t0+1500, 1, 1))
	if d := data(); d.LastSeq != 6 || d.Readings != 6 || d.Missing != 0 || d.Gaps != nil {
		t.Fatalf("after 2, 4 and 6: %+v", d)
	}
	// 20 gaps of one number each: the oldest 4 are closed for good.
	var rs []*chain.Reading
	for i := uint64(0); i < 20; i++ {
		rs = append(rs, f.reading("saver-meter", 8+2*i, t0+3000+chain.Time(i), 1, 1))
	}
	f.mustDataBlock(t0+4000, rs...)
	d := data()
	if len(d.Gaps) != MaxOpenGaps || d.Gaps[0] != (SeqRange{15, 15}) || d.Missing != 20 {
		t.Fatalf("after 20 gaps: %d open, first %v, %d missing", len(d.Gaps), d.Gaps[0], d.Missing)
	}
	wantErr(t, CheckReading(f.store, 0, t0+5000, f.reading("saver-meter", 7, t0+3500, 1, 1)), ErrReplayedSeq)
	wantErr(t, CheckReading(f.store, 0, t0+5000, f.reading("saver-meter", 15, t0+3500, 1, 1)), nil)
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

// TestPropertyReadingsInAnyOrder: a device's readings 1..n (n ≤ 31, so at
// most 15 gaps are ever open) recorded in any order, one block each, are
// all recorded: each once, a second copy refused, and the record's counts
// add up (the strict decode checks its invariants at every read).
func TestPropertyReadingsInAnyOrder(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		f := newFixture(t)
		n := rapid.IntRange(1, 31).Draw(rt, "n")
		seqs := rapid.Permutation(makeRange(1, n)).Draw(rt, "order")
		t0 := at(time.Minute)
		for i, seq := range seqs {
			bt := t0 + chain.Time(i*100)
			rd := f.reading("saver-meter", uint64(seq), t0-chain.Time(n-seq)*10, 1, 1)
			if err := CheckReading(f.store, 0, bt, rd); err != nil {
				rt.Fatalf("seq %d (arrival %d): %v", seq, i, err)
			}
			f.mustDataBlock(bt, rd)
			if err := CheckReading(f.store, 0, bt+50, rd); !errors.Is(err, ErrReplayedSeq) {
				rt.Fatalf("seq %d again: %v, want a replay", seq, err)
			}
			d, err := GetDevice(f.store, key("saver-meter").Public())
			if err != nil {
				rt.Fatal(err)
			}
			if d.Data.Readings != uint64(i+1) || d.Data.Readings+d.Data.Missing != d.Data.LastSeq {
				rt.Fatalf("after %d readings: %+v", i+1, d.Data)
			}
		}
	})
}

func makeRange(from, to int) []int {
	out := make([]int, 0, to-from+1)
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}
