package state

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// recordKinds are fresh values of every stored record type.
var recordKinds = []func() record{
	func() record { return new(Account) },
	func() record { return new(Industry) },
	func() record { return new(Regulator) },
	func() record { return new(Device) },
	func() record { return new(Offer) },
	func() record { return new(ValidatorSetRecord) },
	func() record { return new(ValidatorVotes) },
	func() record { return new(EvidenceRecord) },
	func() record { return new(Settlement) },
	func() record { return new(TxMeta) },
	func() record { return new(genesisRecord) },
	func() record { return new(DataMeta) },
	func() record { return new(DeviceData) },
}

// FuzzDecodeRecords feeds bytes to every record decoder: none may panic, and
// whatever decodes must re-encode to the same bytes (one encoding per
// value). Seeds are every value stored by a run over both lanes, so plain
// `go test` decodes real records.
func FuzzDecodeRecords(f *testing.F) {
	fx := newFixture(f)
	tx := fx.offer("saver", 0, 100, 5)
	fx.mustTxBlock(at(time.Second), tx, vote(fx, "v1", 0, "v5", false))
	fx.mustDataBlock(at(time.Minute), fx.reading("saver-meter", 3, at(time.Minute), 10, 100))
	fx.mustTxBlock(at(11 * time.Minute))
	err := fx.store.Iterate(nil, func(k, v []byte) error {
		f.Add(append([]byte(nil), v...))
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	f.Add([]byte{0xa1, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mk := range recordKinds {
			rec := mk()
			if err := decodeRecord(data, rec); err != nil {
				continue
			}
			again, err := chain.Encode(rec)
			if err != nil {
				t.Fatalf("%T decoded but does not encode: %v", rec, err)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("%T: %x re-encodes as %x", rec, data, again)
			}
		}
	})
}

// TestDecodeRecordsRejectCorruption: records that decode but break their
// invariants are reported as corrupt state, not used.
func TestDecodeRecordsRejectCorruption(t *testing.T) {
	bad := []record{
		&Industry{Name: "x", Allowance: 10, Sold: 11},
		&Industry{Name: "x", Allowance: 10, Sold: 5, Escrow: 6},
		&Offer{Status: 9, Volume: 1},
		&Offer{Status: OfferOpen, Volume: 1, Remaining: 2},
		&Device{RegisteredHeight: 5, RevokedHeight: 3},
		&DeviceData{LastSeq: 5, Readings: 1, Missing: 1},
		&DeviceData{LastSeq: 5, Readings: 3, Missing: 2, Gaps: []SeqRange{{2, 4}}},         // more open than missing
		&DeviceData{LastSeq: 5, Readings: 3, Missing: 2, Gaps: []SeqRange{{3, 3}, {2, 2}}}, // out of order
		&DeviceData{LastSeq: 5, Readings: 3, Missing: 2, Gaps: []SeqRange{{2, 2}, {3, 3}}}, // adjacent
		&DeviceData{LastSeq: 5, Readings: 4, Missing: 1, Gaps: []SeqRange{{5, 5}}},         // the last seq is recorded
		&DeviceData{LastSeq: 5, Readings: 4, Missing: 1, Gaps: []SeqRange{{3, 2}}},         // empty range
		&Settlement{Gross: 1, Reward: 2},
		&ValidatorSetRecord{},
		&genesisRecord{ChainID: "x"},
	}
	for _, rec := range bad {
		b := chain.MustEncode(rec)
		fresh := func() record {
			for _, mk := range recordKinds {
				r := mk()
				if sameType(r, rec) {
					return r
				}
			}
			t.Fatalf("no decoder for %T", rec)
			return nil
		}()
		wantErr(t, decodeRecord(b, fresh), ErrCorruptState)
	}
}

func sameType(a, b record) bool { return fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b) }
