package consensus

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// walRecords returns a proposal, a prevote and a precommit with its block
// for each of heights 1..n, signed by validator 1 of a four-set.
func walRecords(t testing.TB, heights int) ([]*Record, *chain.ValidatorSet, []*chain.PrivateKey) {
	keys, vs := testValidators(t, 4, "wal")
	var recs []*Record
	for h := uint64(1); h <= uint64(heights); h++ {
		r := uint32((5 - h%4) % 4) // the round validator 1 proposes at height h: (h+r) mod 4 = 1
		b := makeBlock(vs, h, keys[1].Public(), genesisHash, genesisTime+chain.Time(h), "wal")
		recs = append(recs,
			&Record{Proposal: signProposal(testChainID, keys[1], b, r, -1)},
			&Record{Vote: signedVote(keys[1], chain.Prevote, h, r, b.Hash())},
			&Record{Vote: signedVote(keys[1], chain.Precommit, h, r, b.Hash()), Block: b},
		)
	}
	return recs, vs, keys
}

func openT(t *testing.T, dir string) *FileWAL {
	t.Helper()
	w, err := OpenWAL(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// openPruning opens the WAL in dir with recs appended, pruning at any
// size (pruneAt 1), for the tests of Prune.
func openPruning(t *testing.T, dir string, recs []*Record) *FileWAL {
	t.Helper()
	w := openT(t, dir)
	w.pruneAt = 1
	for _, r := range recs {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func sameRecords(t *testing.T, got, want []*Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(chain.MustEncode(got[i]), chain.MustEncode(want[i])) {
			t.Fatalf("record %d differs", i)
		}
	}
}

// walSuite runs on both implementations.
func walSuite(t *testing.T, open func() WAL) {
	recs, _, keys := walRecords(t, 2)
	w := open()
	for _, r := range recs {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := w.Records()
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, got, recs)

	last := recs[len(recs)-1].Vote
	if err := w.Append(recs[len(recs)-1]); err != nil {
		t.Fatalf("repeating the last record: %v", err)
	}
	conflicts := map[string]*Record{
		"same step, other block": {Vote: signedVote(keys[1], chain.Precommit, last.Height, last.Round, chain.Hash{})},
		"earlier step":           {Vote: signedVote(keys[1], chain.Prevote, last.Height, last.Round, last.BlockHash)},
		"earlier height":         {Vote: signedVote(keys[1], chain.Prevote, 1, 9, chain.Hash{})},
		"other lane": {Vote: func() *chain.Vote {
			v := &chain.Vote{Type: chain.Prevote, Lane: chain.LaneData, Height: 9, BlockHash: chain.Hash{}, Validator: keys[1].Public()}
			v.Sign(testChainID, keys[1])
			return v
		}()},
	}
	for name, r := range conflicts {
		if err := w.Append(r); !errors.Is(err, ErrDoubleSign) {
			t.Errorf("%s: Append = %v, want ErrDoubleSign", name, err)
		}
	}
	if err := w.Append(&Record{}); err == nil {
		t.Error("empty record appended")
	}
	if got, _ := w.Records(); len(got) != len(recs) {
		t.Fatalf("refused appends changed the log: %d records", len(got))
	}
}

func TestMemWAL(t *testing.T) {
	walSuite(t, func() WAL { return NewMemWAL() })
}

func TestFileWAL(t *testing.T) {
	dir := t.TempDir()
	walSuite(t, func() WAL { return openT(t, dir) })
	// Everything survives a reopen, and the guard with it.
	recs, _, keys := walRecords(t, 2)
	w := openT(t, dir)
	got, _ := w.Records()
	sameRecords(t, got, recs)
	if pos, ok := w.LastSigned(); !ok || pos != recs[len(recs)-1].Position() {
		t.Fatalf("last signed %v, want %v", pos, recs[len(recs)-1].Position())
	}
	if err := w.Append(&Record{Vote: signedVote(keys[1], chain.Precommit, 2, 3, chain.Hash{})}); !errors.Is(err, ErrDoubleSign) {
		t.Fatalf("after reopen: %v", err)
	}
	w.Close()
	if err := w.Append(recs[0]); !errors.Is(err, ErrWALClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func writeWAL(t *testing.T, recs []*Record) (dir string, data []byte, offsets []int) {
	t.Helper()
	dir = t.TempDir()
	w := openT(t, dir)
	for _, r := range recs {
		offsets = append(offsets, int(w.size))
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	data, err := os.ReadFile(filepath.Join(dir, walFileName))
	if err != nil {
		t.Fatal(err)
	}
	return dir, data, offsets
}

// A crash mid-record leaves a torn last frame: every cut is tolerated and
// cut off, and the log takes appends again.
func TestFileWALTornTail(t *testing.T) {
	recs, _, _ := walRecords(t, 1)
	_, data, offsets := writeWAL(t, recs)
	lastStart := offsets[len(offsets)-1]
	cuts := []int{lastStart + 1, lastStart + 7, lastStart + 8, lastStart + 9, (lastStart + len(data)) / 2, len(data) - 1}
	for _, cut := range cuts {
		dir := t.TempDir()
		path := filepath.Join(dir, walFileName)
		if err := os.WriteFile(path, data[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		w := openT(t, dir)
		got, _ := w.Records()
		sameRecords(t, got, recs[:len(recs)-1])
		if fi, _ := os.Stat(path); fi.Size() != int64(lastStart) {
			t.Fatalf("cut at %d: file is %d bytes, want it cut back to %d", cut, fi.Size(), lastStart)
		}
		if err := w.Append(recs[len(recs)-1]); err != nil {
			t.Fatalf("cut at %d: append after recovery: %v", cut, err)
		}
		w.Close()
		sameRecords(t, mustRecords(t, dir), recs)
	}
	// A tail of zeros (a file extended but never written) is torn too.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, walFileName), append(append([]byte{}, data...), make([]byte, 4096)...), 0o600); err != nil {
		t.Fatal(err)
	}
	sameRecords(t, mustRecords(t, dir), recs)
}

func mustRecords(t *testing.T, dir string) []*Record {
	t.Helper()
	w := openT(t, dir)
	recs, err := w.Records()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	return recs
}

// Damage anywhere but a torn tail stops the node with the file, the
// offset and what to do.
func TestFileWALCorrupt(t *testing.T) {
	recs, _, _ := walRecords(t, 2)
	_, data, offsets := writeWAL(t, recs)
	mid := offsets[2]
	tests := []struct {
		name   string
		mutate func([]byte)
		offset int
	}{
		{"flipped payload byte in the middle", func(b []byte) { b[mid+frameHeader+20] ^= 0x40 }, mid},
		{"flipped checksum in the middle", func(b []byte) { b[mid+5] ^= 1 }, mid},
		{"flipped byte in the complete last record", func(b []byte) { b[len(b)-3] ^= 1 }, offsets[len(offsets)-1]},
		{"length running past the end in the middle", func(b []byte) { b[mid] = 0x00; b[mid+1] = 0xff }, mid},
		{"zero length in the middle", func(b []byte) { copy(b[mid:mid+4], []byte{0, 0, 0, 0}) }, mid},
		{"huge length", func(b []byte) { copy(b[mid:mid+4], []byte{0xff, 0xff, 0xff, 0xff}) }, mid},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		b := append([]byte{}, data...)
		tc.mutate(b)
		path := filepath.Join(dir, walFileName)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := OpenWAL(dir)
		if !errors.Is(err, ErrWALCorrupt) {
			t.Errorf("%s: OpenWAL = %v, want ErrWALCorrupt", tc.name, err)
			continue
		}
		msg := err.Error()
		for _, want := range []string{path, "offset " + itoa(tc.offset), "truncate -s"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q does not name %q", tc.name, msg, want)
			}
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
			t.Errorf("%s: OpenWAL changed a corrupt file", tc.name)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestFileWALPrune(t *testing.T) {
	recs, _, _ := walRecords(t, 5)
	dir := t.TempDir()
	w := openPruning(t, dir, recs)
	if err := w.Prune(4); err != nil {
		t.Fatal(err)
	}
	got, _ := w.Records()
	sameRecords(t, got, recs[9:])
	if err := w.Prune(100); err != nil {
		t.Fatal(err)
	}
	got, _ = w.Records()
	sameRecords(t, got, recs[len(recs)-1:])
	// The last-signed record survives pruning and a reopen.
	w.Close()
	w = openT(t, dir)
	if pos, ok := w.LastSigned(); !ok || pos != recs[len(recs)-1].Position() {
		t.Fatalf("last signed after prune %v", pos)
	}
	if err := w.Append(recs[0]); !errors.Is(err, ErrDoubleSign) {
		t.Fatalf("after prune, an old position: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, walFileName+".tmp")); !os.IsNotExist(err) {
		t.Fatal("temporary file left behind")
	}
}

// A validator that crashes after recording a vote, before sending it,
// sends that same vote after the restart, and never another at that
// height, round and step, whatever it is shown.
func TestRestartNeverDoubleSigns(t *testing.T) {
	keys, vs := testValidators(t, 4, "restart")
	dir := t.TempDir()
	boot := func() (*Engine, *FileWAL) {
		w, err := OpenWAL(dir)
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewEngine(Config{ChainID: testChainID, Lane: chain.LaneTx, Key: keys[0], ValidatorSetFor: fixedSets(vs), Timeouts: testTimeouts, WAL: w})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(1); err != nil {
			t.Fatal(err)
		}
		return e, w
	}
	e, w := boot()
	a := makeBlock(vs, 1, keys[1].Public(), genesisHash, genesisTime+1, "A")
	if err := e.Step(Message{Proposal: signProposal(testChainID, keys[1], a, 0, -1)}); err != nil {
		t.Fatal(err)
	}
	if err := e.BlockValidated(a.Hash(), true); err != nil {
		t.Fatal(err)
	}
	var prevote *chain.Vote
	for _, m := range e.Ready().Messages {
		prevote = m.Vote
	}
	if prevote == nil || prevote.BlockHash != a.Hash() {
		t.Fatalf("no prevote for A: %v", prevote)
	}
	w.Close() // crash: the prevote is on disk, maybe never sent

	e, w = boot()
	defer w.Close()
	rd := e.Ready()
	if len(rd.Messages) != 1 || !bytes.Equal(chain.MustEncode(rd.Messages[0].Vote), chain.MustEncode(prevote)) {
		t.Fatalf("after restart sent %v, want the recorded prevote again", rd.Messages)
	}
	if st := e.Status(); st.Round != 0 || st.Step != StepPrevote {
		t.Fatalf("resumed at %+v, want round 0 prevote", st)
	}
	// A conflicting proposal for the same round, then a propose timeout,
	// would each make a fresh engine prevote: this one signs nothing.
	e.Step(Message{Proposal: signProposal(testChainID, keys[1], a, 0, -1)}) // the proposer's rebroadcast
	e.BlockValidated(a.Hash(), true)
	b := makeBlock(vs, 1, keys[1].Public(), genesisHash, genesisTime+1, "B")
	e.Step(Message{Proposal: signProposal(testChainID, keys[1], b, 0, -1)})
	e.BlockValidated(b.Hash(), true)
	e.Timeout(Timer{Kind: TimeoutPropose, Height: 1, Round: 0})
	for _, m := range e.Ready().Messages {
		if m.Vote != nil && m.Vote.Validator == keys[0].Public() && m.Vote.Type == chain.Prevote && m.Vote.Round == 0 {
			t.Fatalf("signed %s after restart", m.Vote)
		}
	}
	// The engine carries on: a quorum for A locks it and it precommits A,
	// and the lock survives the next crash with the block.
	for _, i := range []int{1, 2} {
		e.Step(Message{Vote: signedVote(keys[i], chain.Prevote, 1, 0, a.Hash())})
	}
	e.Ready()
	w.Close()
	e, w = boot()
	defer w.Close()
	if st := e.Status(); st.LockedRound != 0 || st.Step != StepPrecommit {
		t.Fatalf("after the second restart %+v, want locked in round 0 at precommit", st)
	}
	// Moved to round 3, where it proposes: it re-proposes the locked A.
	for r := uint32(0); r < 3; r++ {
		for _, i := range []int{1, 2, 3} {
			e.Step(Message{Vote: signedVote(keys[i], chain.Precommit, 1, r, chain.Hash{})})
		}
		e.Timeout(Timer{Kind: TimeoutPrecommit, Height: 1, Round: r})
		e.Timeout(Timer{Kind: TimeoutPropose, Height: 1, Round: r + 1})
	}
	var reproposed *chain.Proposal
	pol := 0
	for _, m := range e.Ready().Messages {
		if m.Proposal != nil {
			reproposed = m.Proposal
		}
		if m.Vote != nil && m.Vote.Type == chain.Prevote && m.Vote.Round == 0 && m.Vote.BlockHash == a.Hash() {
			pol++
		}
	}
	if reproposed == nil || reproposed.Block.Hash() != a.Hash() || reproposed.POLRound != 0 {
		t.Fatalf("round 3 proposal %v, want A with POL 0", reproposed)
	}
	if pol < vs.Quorum() {
		t.Fatalf("re-proposal after restart relayed %d prevotes of its proof of lock, want %d (kept in the WAL)", pol, vs.Quorum())
	}
}

// A store that fell behind the WAL (the node lost blocks it had voted
// past) makes the engine abstain at those heights rather than sign again.
func TestStoreBehindWAL(t *testing.T) {
	keys, vs := testValidators(t, 4, "behind")
	w := NewMemWAL()
	v := signedVote(keys[0], chain.Prevote, 5, 0, chain.Hash{})
	if err := w.Append(&Record{Vote: v}); err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(Config{ChainID: testChainID, Lane: chain.LaneTx, Key: keys[0], ValidatorSetFor: fixedSets(vs), Timeouts: testTimeouts, WAL: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(3); err != nil {
		t.Fatal(err)
	}
	e.Timeout(Timer{Kind: TimeoutPropose, Height: 3, Round: 0})
	if msgs := e.Ready().Messages; len(msgs) != 0 {
		t.Fatalf("signed %v below the last signature", msgs)
	}
	if e.Halted() != nil {
		t.Fatal(e.Halted())
	}
}

// A WAL that fails halts the engine: it must not send what it could not
// record.
func TestWALFailureHalts(t *testing.T) {
	keys, vs := testValidators(t, 4, "halt")
	dir := t.TempDir()
	w := openT(t, dir)
	e, err := NewEngine(Config{ChainID: testChainID, Lane: chain.LaneTx, Key: keys[0], ValidatorSetFor: fixedSets(vs), Timeouts: testTimeouts, WAL: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(1); err != nil {
		t.Fatal(err)
	}
	e.Ready()
	w.Close()
	if err := e.Timeout(Timer{Kind: TimeoutPropose, Height: 1, Round: 0}); !errors.Is(err, ErrHalted) {
		t.Fatalf("Timeout with a closed WAL = %v, want ErrHalted", err)
	}
	if msgs := e.Ready().Messages; len(msgs) != 0 {
		t.Fatalf("sent %v without recording it", msgs)
	}
	if err := e.Step(Message{Vote: signedVote(keys[1], chain.Prevote, 1, 0, chain.Hash{})}); !errors.Is(err, ErrHalted) {
		t.Fatalf("Step after halt = %v", err)
	}
	// A WAL of another validator is refused at NewEngine.
	mw := NewMemWAL()
	mw.Append(&Record{Vote: signedVote(keys[1], chain.Prevote, 1, 0, chain.Hash{})})
	if _, err := NewEngine(Config{ChainID: testChainID, Lane: chain.LaneTx, Key: keys[0], ValidatorSetFor: fixedSets(vs), Timeouts: testTimeouts, WAL: mw}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("foreign WAL: %v", err)
	}
}
