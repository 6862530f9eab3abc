package consensus

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"weak"

	"github.com/waterchain/waterchain/chain"
)

// frame is payload framed as FileWAL writes it.
func frame(payload []byte) []byte {
	fr := append(make([]byte, frameHeader, frameHeader+len(payload)), payload...)
	sealFrame(fr)
	return fr
}

// checkRecordCBOR: appendRecord gives chain.Encode's bytes, after what
// dst held.
func checkRecordCBOR(t *testing.T, name string, rec *Record) {
	t.Helper()
	want, err := chain.Encode(rec)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	prefix := []byte{0xde, 0xad}
	got, err := appendRecord(prefix[:2:2], rec)
	if err != nil {
		t.Fatalf("%s: appendRecord: %v", name, err)
	}
	if !bytes.Equal(got, append(prefix, want...)) {
		got = got[2:]
		at := 0
		for at < min(len(got), len(want)) && got[at] == want[at] {
			at++
		}
		t.Fatalf("%s: appendRecord gives %d bytes, chain.Encode %d; from byte %d\n got %x\nwant %x",
			name, len(got), len(want), at, got[at:min(at+48, len(got))], want[at:min(at+48, len(want))])
	}
}

// TestRecordCBORMatchesGeneric: every kind of record the engine appends
// (a proposal, a re-proposal with its proof of lock, a prevote, a nil
// precommit, a precommit with its block and proof of lock; on both lanes,
// with and without entries), and shapes Validate refuses but the encoder
// still writes.
func TestRecordCBORMatchesGeneric(t *testing.T) {
	recs, _, keys := walRecords(t, 2)
	names := []string{"proposal", "prevote", "precommit with block"}
	for i, r := range recs {
		checkRecordCBOR(t, names[i%3], r)
	}
	a := recs[0].Proposal.Block
	pol := []*chain.Vote{
		signedVote(keys[0], chain.Prevote, 1, 0, a.Hash()),
		signedVote(keys[2], chain.Prevote, 1, 0, a.Hash()),
		signedVote(keys[3], chain.Prevote, 1, 0, a.Hash()),
	}
	dataProposal, dataPrevote, dataPrecommit := walBenchRecords(t)
	wide := &chain.Vote{Type: math.MaxUint8, Lane: math.MaxUint8, Height: math.MaxUint64, Round: math.MaxUint32, Validator: keys[1].Public(), Sig: make(chain.Signature, 64)}
	for _, tc := range []struct {
		name string
		rec  *Record
	}{
		{"re-proposal with proof of lock", &Record{Proposal: signProposal(testChainID, keys[1], a, 3, 0), POL: pol}},
		{"nil precommit", &Record{Vote: signedVote(keys[1], chain.Precommit, 1, 2, chain.Hash{})}},
		{"precommit with block and proof of lock", &Record{Vote: signedVote(keys[1], chain.Precommit, 1, 0, a.Hash()), Block: a, POL: pol}},
		{"data-lane proposal", dataProposal},
		{"data-lane prevote", dataPrevote},
		{"data-lane precommit", dataPrecommit},
		{"empty", &Record{}},
		{"empty proof of lock", &Record{Vote: pol[0], POL: []*chain.Vote{}}},
		{"every field", &Record{Proposal: dataProposal.Proposal, Vote: wide, Block: a, POL: pol}},
		{"null in the proof of lock", &Record{Vote: pol[0], Block: a, POL: []*chain.Vote{pol[1], nil, wide}}},
		{"unsigned vote", &Record{Vote: &chain.Vote{Type: chain.Prevote, Lane: chain.LaneTx, Height: 24}}},
		{"proposal without block or signature", &Record{Proposal: &chain.Proposal{Lane: chain.LaneData, Height: 1 << 40, Round: 24, POLRound: -1}}},
		{"proposal at extremes", &Record{Proposal: &chain.Proposal{Lane: math.MaxUint8, Height: math.MaxUint64, Round: math.MaxUint32, POLRound: math.MinInt32, Block: a, Sig: chain.Signature{1}}}},
		{"proposal with a large proof-of-lock round", &Record{Proposal: &chain.Proposal{Lane: chain.LaneTx, Height: 9, Round: 70000, POLRound: math.MaxInt32, Block: a, Sig: make(chain.Signature, 300)}}},
		{"proposal with negative rounds at head sizes", &Record{Proposal: &chain.Proposal{Lane: chain.LaneTx, Height: 9, POLRound: -25, Block: a}}},
		{"block alone", &Record{Block: dataPrecommit.Block}},
		{"block with a certificate", &Record{Vote: pol[0], Block: a.WithCert(&chain.Certificate{Lane: chain.LaneTx, Height: 1, BlockHash: a.Hash(), Sigs: []chain.CommitSig{{}, {}}})}},
	} {
		checkRecordCBOR(t, tc.name, tc.rec)
	}
	for _, pr := range []int32{-1, -24, -25, -256, -257, -65536, -65537, 0, 23, 24, 255, 256, 65535, 65536} {
		checkRecordCBOR(t, "proposal-round", &Record{Proposal: &chain.Proposal{Lane: chain.LaneTx, Height: 9, POLRound: pr, Block: a}})
	}
}

// TestRecordCBORFields: Record and chain.Proposal have the fields
// appendRecord and appendProposal write; a new one fails here before it
// could go unwritten (a random record leaves a field it does not know of
// empty, so the other tests would not see it).
func TestRecordCBORFields(t *testing.T) {
	for _, tc := range []struct {
		typ  reflect.Type
		tags []string
	}{
		{reflect.TypeFor[Record](), []string{"1,keyasint,omitempty", "2,keyasint,omitempty", "3,keyasint,omitempty", "4,keyasint,omitempty"}},
		{reflect.TypeFor[chain.Proposal](), []string{"1,keyasint", "2,keyasint", "3,keyasint", "4,keyasint", "5,keyasint", "15,keyasint,omitempty"}},
	} {
		var tags []string
		for i := range tc.typ.NumField() {
			tags = append(tags, tc.typ.Field(i).Tag.Get("cbor"))
		}
		if !reflect.DeepEqual(tags, tc.tags) {
			t.Errorf("%s has fields tagged %q; appendRecord writes %q: update wal_cbor.go", tc.typ, tags, tc.tags)
		}
	}
	if typ := reflect.TypeFor[chain.Proposal](); typ.Field(3).Type.Kind() != reflect.Int32 {
		t.Errorf("chain.Proposal.POLRound is a %s; appendProposal writes an int32", typ.Field(3).Type)
	}
}

// FuzzRecordCBORMatchesGeneric: appendRecord is chain.Encode on records
// of any shape, valid or not.
func FuzzRecordCBORMatchesGeneric(f *testing.F) {
	f.Add(uint8(0b0010), uint8(1), uint8(2), uint64(7), uint32(0), []byte("block"), []byte("sig"), int32(-1), uint8(0), uint8(0))
	f.Add(uint8(0b1110), uint8(2), uint8(1), uint64(1<<33), uint32(70000), []byte{}, make([]byte, 64), int32(3), uint8(11), uint8(2))
	f.Add(uint8(0b1001), uint8(0), uint8(0), uint64(math.MaxUint64), uint32(math.MaxUint32), []byte{1}, []byte{}, int32(math.MinInt32), uint8(5), uint8(1))
	f.Add(uint8(0b1111), uint8(255), uint8(255), uint64(24), uint32(23), make([]byte, 40), make([]byte, 300), int32(-25), uint8(255), uint8(3))
	recs, _, _ := walRecords(f, 1)
	_, _, dataPrecommit := walBenchRecords(f)
	blocks := []*chain.Block{nil, recs[0].Proposal.Block, dataPrecommit.Block, dataPrecommit.Block.WithCert(&chain.Certificate{Lane: chain.LaneData, Height: 3, Sigs: make([]chain.CommitSig, 11)})}
	f.Fuzz(func(t *testing.T, fields, typ, lane uint8, height uint64, round uint32, hash, sig []byte, polRound int32, npol, block uint8) {
		v := &chain.Vote{Type: chain.VoteType(typ), Lane: chain.Lane(lane), Height: height, Round: round, Sig: sig}
		copy(v.BlockHash[:], hash)
		copy(v.Validator[:], sig)
		b := blocks[int(block)%len(blocks)]
		var rec Record
		if fields&1 != 0 {
			rec.Proposal = &chain.Proposal{Lane: chain.Lane(lane), Height: height, Round: round, POLRound: polRound, Block: b, Sig: sig}
		}
		if fields&2 != 0 {
			rec.Vote = v
		}
		if fields&4 != 0 {
			rec.Block = b
		}
		if fields&8 != 0 {
			rec.POL = []*chain.Vote{}
		}
		for i := range int(npol) {
			u := *v
			u.Round += uint32(i)
			if i%7 == 3 {
				rec.POL = append(rec.POL, nil)
				continue
			}
			rec.POL = append(rec.POL, &u)
		}
		checkRecordCBOR(t, "fuzzed", &rec)
	})
}

// walFrames is what FileWAL wrote for recs before it encoded them by
// hand: the frame of chain.Encode of each.
func walFrames(recs []*Record) []byte {
	var b []byte
	for _, r := range recs {
		b = append(b, frame(chain.MustEncode(r))...)
	}
	return b
}

// TestFileWALBytes: the file holds the frames of chain.Encode of its
// records, as when FileWAL encoded them by reflection, after each append
// and after a prune, which copies the file's tail instead of encoding the
// records it keeps again.
func TestFileWALBytes(t *testing.T) {
	proposal, prevote, precommit := walBenchRecords(t)
	dataRecs := []*Record{proposal, prevote, precommit} // a block of readings, a proof of lock of 11
	txRecs, _, keys := walRecords(t, 5)
	for _, recs := range [][]*Record{dataRecs, txRecs} {
		dir := t.TempDir()
		path := filepath.Join(dir, walFileName)
		w := openT(t, dir)
		for i, r := range recs {
			if err := w.Append(r); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, walFrames(recs[:i+1])) {
				t.Fatalf("after %d appends the file differs from the records' frames", i+1)
			}
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, walFileName)
	w := openPruning(t, dir, txRecs)
	for _, tc := range []struct {
		height uint64
		kept   []*Record
	}{{1, txRecs}, {3, txRecs[6:]}, {5, txRecs[12:]}, {100, txRecs[14:]}, {100, txRecs[14:]}} {
		if err := w.Prune(tc.height); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, walFrames(tc.kept)) {
			t.Fatalf("after Prune(%d) the file differs from the frames of the %d records kept", tc.height, len(tc.kept))
		}
		got, err := w.Records()
		if err != nil {
			t.Fatal(err)
		}
		sameRecords(t, got, tc.kept)
	}
	// Appends after a prune go on from the new end, and a reopen reads
	// the pruned file.
	next := &Record{Vote: signedVote(keys[1], chain.Prevote, 8, 0, chain.Hash{})}
	if err := w.Append(next); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, walFrames([]*Record{txRecs[14], next})) {
		t.Fatal("an append after a prune differs")
	}
	w.Close()
	sameRecords(t, mustRecords(t, dir), []*Record{txRecs[14], next})
}

// TestFileWALPruneRefusesDamage: a prune copies the file's tail, so it
// refuses one that no longer reads back as written, rather than carry the
// damage into the new file; the file is left for OpenWAL to report.
func TestFileWALPruneRefusesDamage(t *testing.T) {
	recs, _, _ := walRecords(t, 3)
	dir := t.TempDir()
	w := openPruning(t, dir, recs)
	path := filepath.Join(dir, walFileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-10] ^= 1 // in the last record, which every prune keeps
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.Prune(3); err == nil || !errors.Is(err, ErrWALCorrupt) {
		t.Fatalf("Prune over a damaged record = %v, want ErrWALCorrupt", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Fatal("a refused prune changed the file")
	}
	if _, err := w.Records(); !errors.Is(err, ErrWALCorrupt) {
		t.Fatalf("Records over a damaged record = %v, want ErrWALCorrupt", err)
	}
}

// TestFileWALHoldsNoRecords: what the engine appends is not kept in
// memory (the node held every precommitted block until the next prune),
// and the records read at open go to the first Records call only.
func TestFileWALHoldsNoRecords(t *testing.T) {
	dir := t.TempDir()
	w := openT(t, dir)
	_, _, precommit := walBenchRecords(t)
	block := weak.Make(precommit.Block)
	if err := w.Append(precommit); err != nil {
		t.Fatal(err)
	}
	precommit = nil
	runtime.GC()
	if block.Value() != nil {
		t.Fatal("the WAL holds the block of a record it appended")
	}
	w.Close()
	w = openT(t, dir)
	first, err := w.Records()
	if err != nil || len(first) != 1 {
		t.Fatalf("Records after open: %d, %v", len(first), err)
	}
	opened := weak.Make(first[0].Block)
	first = nil
	runtime.GC()
	if opened.Value() != nil {
		t.Fatal("the WAL holds the records it read at open after Records took them")
	}
	if again, err := w.Records(); err != nil || len(again) != 1 {
		t.Fatalf("Records read back: %d, %v", len(again), err)
	}
}
