package consensus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// writeWAL appends recs to a new log and returns its frames (the file
// without its tail of zeros) and where each starts.
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
	size := w.size
	w.Close()
	data, err := os.ReadFile(filepath.Join(dir, walFileName))
	if err != nil {
		t.Fatal(err)
	}
	if !allZero(data[size:]) {
		t.Fatalf("the file has data past its logical end %d", size)
	}
	return dir, data[:size], offsets
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
		// Cut back to the last intact frame; a torn first byte of zero
		// (the top of a length) is a tail of zeros, kept.
		if after, _ := os.ReadFile(path); w.size != int64(lastStart) || len(after) < lastStart || !allZero(after[lastStart:]) {
			t.Fatalf("cut at %d: file is %d bytes, logical end %d, want it cut back to %d", cut, len(after), w.size, lastStart)
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
	// The same damage is corruption with the file's tail of zeros after it.
	for _, tail := range []int{0, 4096} {
		for _, tc := range tests {
			dir := t.TempDir()
			b := append([]byte{}, data...)
			tc.mutate(b)
			b = append(b, make([]byte, tail)...)
			name := fmt.Sprintf("%s, %d zero bytes after", tc.name, tail)
			path := filepath.Join(dir, walFileName)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenWAL(dir)
			if !errors.Is(err, ErrWALCorrupt) {
				t.Errorf("%s: OpenWAL = %v, want ErrWALCorrupt", name, err)
				continue
			}
			msg := err.Error()
			for _, want := range []string{path, "offset " + itoa(tc.offset), "truncate -s"} {
				if !strings.Contains(msg, want) {
					t.Errorf("%s: error %q does not name %q", name, msg, want)
				}
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
				t.Errorf("%s: OpenWAL changed a corrupt file", name)
			}
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
	w := openT(t, dir)
	w.pruneAt = 1
	for _, r := range recs {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
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

// The file is extended with zeros a chunk at a time, not at every append;
// a reopen finds the end of the frames under the zeros, and the next
// append lands right after the last frame.
func TestFileWALPreallocated(t *testing.T) {
	recs, _, _ := walRecords(t, 5)
	dir := t.TempDir()
	path := filepath.Join(dir, walFileName)
	fileSize := func() int64 {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	w := openT(t, dir)
	if err := w.Append(recs[0]); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(); got != walChunk {
		t.Fatalf("after one append the file is %d bytes, want one chunk of %d", got, walChunk)
	}
	w.Close()

	dir = t.TempDir()
	path = filepath.Join(dir, walFileName)
	w = openT(t, dir)
	w.chunk = 2048
	var frames []byte
	sizes := map[int64]bool{}
	for i, r := range recs[:len(recs)-1] {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, frame(chain.MustEncode(r))...)
		want := (int64(len(frames)) + w.chunk - 1) / w.chunk * w.chunk
		if got := fileSize(); got != want || w.size != int64(len(frames)) {
			t.Fatalf("after record %d: file is %d bytes, logical end %d; want %d and %d", i, got, w.size, want, len(frames))
		}
		sizes[want] = true
	}
	if len(sizes) < 2 || len(sizes) >= len(recs)-1 {
		t.Fatalf("%d file sizes over %d appends: want a few chunks, more than one", len(sizes), len(recs)-1)
	}
	allocated := fileSize()
	w.Close()

	w = openT(t, dir)
	got, _ := w.Records()
	sameRecords(t, got, recs[:len(recs)-1])
	if w.size != int64(len(frames)) || fileSize() != allocated {
		t.Fatalf("reopened: logical end %d, file %d bytes; want %d and the tail kept, %d", w.size, fileSize(), len(frames), allocated)
	}
	if err := w.Append(recs[len(recs)-1]); err != nil {
		t.Fatal(err)
	}
	frames = append(frames, frame(chain.MustEncode(recs[len(recs)-1]))...)
	w.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < len(frames) || !bytes.Equal(data[:len(frames)], frames) || !allZero(data[len(frames):]) {
		t.Fatal("after a reopen, the next frame is not right after the last one, zeros after it")
	}
	sameRecords(t, mustRecords(t, dir), recs)
}

// tornWrites returns the files a crash can leave while frame is written
// at offset off over zeros: its first bytes written (a process killed
// between pages; every cut), or some of its sectors and not others (power
// lost between them; every set), and zeros after.
func tornWrites(off int, frame []byte, tail int) [][]byte {
	var out [][]byte
	for cut := 0; cut < len(frame); cut++ {
		b := make([]byte, len(frame)+tail)
		copy(b, frame[:cut])
		out = append(out, b)
	}
	var sectors [][2]int
	for i := 0; i < len(frame); {
		k := min(sectorSize-(off+i)%sectorSize, len(frame)-i)
		sectors = append(sectors, [2]int{i, i + k})
		i += k
	}
	for set := 0; set < 1<<len(sectors)-1; set++ {
		b := make([]byte, len(frame)+tail)
		for j, s := range sectors {
			if set&(1<<j) != 0 {
				copy(b[s[0]:s[1]], frame[s[0]:s[1]])
			}
		}
		out = append(out, b)
	}
	return out
}

// A crash mid-append over the tail of zeros leaves the frame in part, at
// any byte or sector, and zeros after: every such file opens to the
// records before it, and takes the append again right there.
func TestFileWALTornOverTail(t *testing.T) {
	recs, _, _ := walRecords(t, 1)
	_, data, offsets := writeWAL(t, recs)
	lastStart := offsets[len(offsets)-1]
	last := data[lastStart:]
	if lastStart/sectorSize == (len(data)-1)/sectorSize {
		t.Fatalf("the last frame (%d..%d) lies in one sector: a torn sector is not tested", lastStart, len(data))
	}
	torns := tornWrites(lastStart, last, 4096)
	for i, b := range torns {
		file := append(append([]byte{}, data[:lastStart]...), b...)
		got, end, err := parseFrames("wal", file)
		if err != nil || end != lastStart {
			t.Fatalf("torn write %d: parse ends at %d, %v; want it torn at %d", i, end, err, lastStart)
		}
		sameRecords(t, got, recs[:len(recs)-1])
	}
	// Through the file: cuts after the first byte, in the middle and
	// before the last byte; the first sector written alone, and all but it.
	for _, i := range []int{1, len(last) / 2, len(last) - 1, len(last) + 1, len(torns) - 1} {
		dir := t.TempDir()
		path := filepath.Join(dir, walFileName)
		if err := os.WriteFile(path, append(append([]byte{}, data[:lastStart]...), torns[i]...), 0o600); err != nil {
			t.Fatal(err)
		}
		w := openT(t, dir)
		got, _ := w.Records()
		sameRecords(t, got, recs[:len(recs)-1])
		if w.size != int64(lastStart) {
			t.Fatalf("torn write %d: logical end %d, want %d", i, w.size, lastStart)
		}
		if err := w.Append(recs[len(recs)-1]); err != nil {
			t.Fatalf("torn write %d: append after recovery: %v", i, err)
		}
		w.Close()
		after, _ := os.ReadFile(path)
		if !bytes.Equal(after[:len(data)], data) || !allZero(after[len(data):]) {
			t.Fatalf("torn write %d: the append again is not where the torn one was", i)
		}
		sameRecords(t, mustRecords(t, dir), recs)
	}
}

// At any alignment to sectors, a torn write of a frame over zeros is
// told from a damaged one.
func TestTornAtEveryAlignment(t *testing.T) {
	recs, _, _ := walRecords(t, 1)
	last := frame(chain.MustEncode(recs[len(recs)-1]))
	for off := 0; off < sectorSize; off++ {
		for i, b := range tornWrites(off, last, 4096) {
			if allZero(b) || bytes.Equal(b[:len(last)], last) {
				continue // nothing written, or all of it: not torn
			}
			if !torn(off, b, binary.BigEndian.Uint32(b[0:4])) {
				t.Fatalf("at offset %d, torn write %d taken for damage", off, i)
			}
		}
		// Outside the length: a length that runs into the zeros reads as a
		// torn write, as one running past the end of the file always has.
		for _, at := range []int{4, 7, frameHeader, len(last) / 2, len(last) - 1} {
			b := append(append([]byte{}, last...), make([]byte, 4096)...)
			b[at] ^= 0x10
			if torn(off, b, binary.BigEndian.Uint32(b[0:4])) {
				t.Fatalf("at offset %d, a flipped bit at %d taken for a torn write", off, at)
			}
		}
	}
}

// Prune decides on the log's size, not the file's with its tail, and the
// pruned file, without a tail, is extended again by the next append.
func TestFileWALPruneWithTail(t *testing.T) {
	recs, _, _ := walRecords(t, 5)
	dir := t.TempDir()
	path := filepath.Join(dir, walFileName)
	w := openT(t, dir)
	w.chunk = 1 << 16
	for _, r := range recs[:12] {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	w.pruneAt = w.size + 1 // the file, 64 KiB, is larger
	if err := w.Prune(4); err != nil {
		t.Fatal(err)
	}
	got, _ := w.Records()
	sameRecords(t, got, recs[:12])
	w.pruneAt = 1
	if err := w.Prune(4); err != nil {
		t.Fatal(err)
	}
	got, _ = w.Records()
	sameRecords(t, got, recs[9:12])
	var frames []byte
	for _, r := range recs[9:12] {
		frames = append(frames, frame(chain.MustEncode(r))...)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, frames) || w.size != int64(len(frames)) {
		t.Fatalf("pruned file is %d bytes, logical end %d; want the %d bytes of the frames kept", len(after), w.size, len(frames))
	}
	for _, r := range recs[12:] {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if fi, _ := os.Stat(path); fi.Size() != w.chunk {
		t.Fatalf("after appends the pruned file is %d bytes, want one chunk of %d", fi.Size(), w.chunk)
	}
	w.Close()
	sameRecords(t, mustRecords(t, dir), recs[9:])
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

// benchRecords returns n records as a validator of sixteen writes them,
// two a height: a prevote for the height's block, then the precommit for
// it carrying the block and the quorum of prevotes it locked on. The
// votes of height 1 are signed once and copied to later heights: the WAL
// checks a record's shape and order, not its signatures.
func benchRecords(b *testing.B, n int) []*Record {
	keys, vs := testValidators(b, 16, "bench")
	block := makeBlock(vs, 1, keys[1].Public(), genesisHash, genesisTime+1, "bench")
	var pol []*chain.Vote
	for _, k := range keys[:vs.Quorum()] {
		pol = append(pol, signedVote(k, chain.Prevote, 1, 0, block.Hash()))
	}
	precommit := signedVote(keys[0], chain.Precommit, 1, 0, block.Hash())
	recs := make([]*Record, 0, n+1)
	for h := uint64(1); len(recs) < n; h++ {
		blk := *block
		blk.Header.Height = h
		blk.Header.Time = genesisTime + chain.Time(h)
		hash := blk.Hash()
		height := make([]*chain.Vote, len(pol))
		for i, v := range pol {
			c := *v
			c.Height, c.BlockHash = h, hash
			height[i] = &c
		}
		pc := *precommit
		pc.Height, pc.BlockHash = h, hash
		recs = append(recs, &Record{Vote: height[0]}, &Record{Vote: &pc, Block: &blk, POL: height})
	}
	return recs[:n]
}

// BenchmarkFileWALAppend appends vote records back to back.
func BenchmarkFileWALAppend(b *testing.B) { benchFileWALAppend(b, 0) }

// BenchmarkFileWALAppendSpaced appends them 5 ms apart (untimed), as a
// node's appends to one lane's log come: an append in a new tick of the
// file's timestamps writes the inode with it. Run it with -benchtime 400x:
// each op sleeps.
func BenchmarkFileWALAppendSpaced(b *testing.B) { benchFileWALAppend(b, 5*time.Millisecond) }

func benchFileWALAppend(b *testing.B, gap time.Duration) {
	recs := benchRecords(b, b.N)
	var frameBytes int
	for _, r := range recs[:min(len(recs), 2)] {
		frameBytes += frameHeader + len(chain.MustEncode(r))
	}
	w, err := OpenWAL(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.SetBytes(int64(frameBytes / min(len(recs), 2)))
	b.ResetTimer()
	for _, r := range recs {
		if gap > 0 {
			b.StopTimer()
			time.Sleep(gap)
			b.StartTimer()
		}
		if err := w.Append(r); err != nil {
			b.Fatal(err)
		}
	}
}
