package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// encodeChunk encodes entries as a chunk of schema 5 (doc.go), written
// independently of the package: format 1, count, lengths, bytes.
func encodeChunk(entries [][]byte) []byte {
	b := binary.AppendUvarint([]byte{1}, uint64(len(entries)))
	for _, e := range entries {
		b = binary.AppendUvarint(b, uint64(len(e)))
	}
	for _, e := range entries {
		b = append(b, e...)
	}
	return b
}

// parseChunk splits a well-formed chunk into its entries.
func parseChunk(t testing.TB, v []byte) [][]byte {
	t.Helper()
	if len(v) == 0 || v[0] != 1 {
		t.Fatalf("not a chunk: %x", v)
	}
	v = v[1:]
	n, k := binary.Uvarint(v)
	v = v[k:]
	lens := make([]uint64, n)
	for i := range lens {
		lens[i], k = binary.Uvarint(v)
		v = v[k:]
	}
	out := make([][]byte, n)
	for i, l := range lens {
		out[i], v = bytes.Clone(v[:l]), v[l:]
	}
	if len(v) != 0 {
		t.Fatalf("%d bytes after the entries", len(v))
	}
	return out
}

// unchunkEntries rewrites the entry chunks of kv as schema 4 stored
// entries, one key per entry, except in the blocks keep names (nil: none),
// as a migration cut short leaves them.
func unchunkEntries(t testing.TB, kv store.KV, keep func(lane chain.Lane, height uint64) bool) {
	t.Helper()
	b := kv.NewBatch()
	if err := kv.Iterate([]byte("e"), store.IterOptions{}, func(k, v []byte) error {
		lane, height, c := chain.Lane(k[1]), binary.BigEndian.Uint64(k[2:]), binary.BigEndian.Uint32(k[10:])
		if keep != nil && keep(lane, height) {
			return nil
		}
		// Chunk c's key is entry c's, which it overwrites: every chunk
		// holds at least one entry.
		for i, e := range parseChunk(t, v) {
			b.Set(entryKeyOf(lane, height, c*16+uint32(i)), e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
}

func chunkKeyOf(lane chain.Lane, height uint64, c uint32) []byte { return entryKeyOf(lane, height, c) }

// sameEncoding fails unless EncodedBlock gives exactly chain.Encode of the
// block and of what Block reads.
func sameEncoding(t testing.TB, s *store.Store, want *chain.Block) {
	t.Helper()
	h := want.Header
	got, err := s.EncodedBlock(h.Lane, h.Height)
	if err != nil {
		t.Fatalf("EncodedBlock(%s, %d): %v", h.Lane, h.Height, err)
	}
	if w := chain.MustEncode(want); !bytes.Equal(got, w) {
		t.Fatalf("EncodedBlock(%s, %d) is not chain.Encode of the block:\ngot  %x\nwant %x", h.Lane, h.Height, got, w)
	}
	read, err := s.Block(h.Lane, h.Height)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, chain.MustEncode(read)) {
		t.Fatalf("EncodedBlock(%s, %d) is not chain.Encode of Block", h.Lane, h.Height)
	}
}

// chunkScenario commits the scenario and then blocks of several chunks:
// a data block of 40 readings (chunks of 16, 16, 8), a tx block of 33
// transactions (16, 16, 1), a data block of exactly 16 and an empty one.
type chunkScenario struct {
	*scenario
	dev    *chain.PrivateKey
	big    []*chain.Block // data/4, tx/3, data/5, data/6
	sender *chain.PrivateKey
}

func commitChunkScenario(t testing.TB, s *store.Store) *chunkScenario {
	t.Helper()
	sc := &chunkScenario{scenario: commitScenario(t, s), dev: key(t, "device-many"), sender: key(t, "sender-many")}
	c := sc.c
	readings := func(from, n int) []*chain.Reading {
		var rs []*chain.Reading
		for i := range n {
			seq := uint64(from + i)
			rs = append(rs, reading(sc.dev, seq, baseTime+1000+chain.Time(seq)))
		}
		return rs
	}
	var txs []*chain.Tx
	for i := range 33 {
		txs = append(txs, transfer(t, sc.sender, uint64(i+1)))
	}
	sc.big = append(sc.big,
		c.commit(s, chain.LaneData, readings(1, 40), nil),
		c.commit(s, chain.LaneTx, nil, txs),
		c.commit(s, chain.LaneData, readings(41, 16), nil),
		c.commit(s, chain.LaneData, nil, nil),
	)
	sc.blocks = append(sc.blocks, sc.big...)
	return sc
}

// checkChunkScenario reads every entry of the big blocks one by one and
// whole.
func checkChunkScenario(t *testing.T, s *store.Store, sc *chunkScenario) {
	t.Helper()
	for _, b := range sc.big {
		h := b.Header
		got, err := s.Block(h.Lane, h.Height)
		if err != nil {
			t.Fatal(err)
		}
		sameBlock(t, got, b)
		sameEncoding(t, s, b)
		for i, r := range b.Readings {
			want := store.Location{Lane: chain.LaneData, Height: h.Height, Index: uint32(i)}
			got, loc, err := s.Reading(r.Device, r.Seq)
			if err != nil || got.Hash() != r.Hash() || loc != want {
				t.Fatalf("Reading(%d) = %v at %s, %v; want at %s", r.Seq, got, loc, err, want)
			}
			got, loc, err = s.ReadingByHash(r.Hash())
			if err != nil || got.Hash() != r.Hash() || loc != want {
				t.Fatalf("ReadingByHash(%d) at %s, %v; want at %s", r.Seq, loc, err, want)
			}
		}
		for i, tx := range b.Txs {
			got, loc, err := s.Tx(tx.Hash())
			if err != nil || got.Hash() != tx.Hash() || loc.Height != h.Height || loc.Index != uint32(i) {
				t.Fatalf("Tx(%d) at %s, %v", i, loc, err)
			}
		}
	}
	var n int
	if err := s.LatestReadings(sc.dev.Public(), 100, func(*chain.Reading, store.Location) error { n++; return nil }); err != nil || n != 56 {
		t.Fatalf("LatestReadings: %d, %v; want 56", n, err)
	}
}

// TestEntryChunks: blocks of many entries are stored in chunks of 16, a
// key per chunk, and read back whole, entry by entry and encoded.
func TestEntryChunks(t *testing.T) {
	for _, o := range kvOpeners {
		t.Run(o.name, func(t *testing.T) {
			kv := o.open(t)
			s := openStore(t, kv)
			sc := commitChunkScenario(t, s)
			checkScenario(t, s, sc.scenario)
			checkChunkScenario(t, s, sc)
			for _, tc := range []struct {
				lane   chain.Lane
				height uint64
				sizes  []int
			}{
				{chain.LaneData, 1, []int{3}}, {chain.LaneTx, 2, nil},
				{chain.LaneData, 4, []int{16, 16, 8}}, {chain.LaneTx, 3, []int{16, 16, 1}}, {chain.LaneData, 5, []int{16}}, {chain.LaneData, 6, nil},
			} {
				var sizes []int
				if err := kv.Iterate(laneHeightKey('e', tc.lane, tc.height), store.IterOptions{}, func(k, v []byte) error {
					if c := binary.BigEndian.Uint32(k[10:]); c != uint32(len(sizes)) {
						t.Fatalf("chunk %d follows %d", c, len(sizes))
					}
					sizes = append(sizes, len(parseChunk(t, v)))
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(sizes, tc.sizes) {
					t.Fatalf("%s/%d is stored in chunks of %v, want %v", tc.lane, tc.height, sizes, tc.sizes)
				}
			}
			s = openStore(t, kv) // reopened
			checkChunkScenario(t, s, sc)
		})
	}
}

// TestEncodedBlockNotFound: a block above the head is not found; an
// empty store has none.
func TestEncodedBlockNotFound(t *testing.T) {
	s := openStore(t, store.NewMemory())
	_, err := s.EncodedBlock(chain.LaneData, 1)
	wantErr(t, err, store.ErrNotFound)
	commitScenario(t, s)
	_, err = s.EncodedBlock(chain.LaneData, 4)
	wantErr(t, err, store.ErrNotFound)
}

// TestOpenMigratesSchema4: a store of schema 4 (one key per entry) is
// rewritten at Open into exactly the store this version writes, and
// reads the same; so is one whose migration was cut short (some blocks
// rewritten, the schema still 4).
func TestOpenMigratesSchema4(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep func(lane chain.Lane, height uint64) bool
	}{
		{"whole", nil},
		{"cut short", func(lane chain.Lane, height uint64) bool {
			return lane == chain.LaneData && (height == 1 || height == 4) || lane == chain.LaneTx && height == 3
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := openBadger(t)
			s := openStore(t, kv)
			if err := s.InitGenesis(newTestChain(t).genesis, nil); err != nil {
				t.Fatal(err)
			}
			sc := commitChunkScenario(t, s)
			want := dump(t, kv)

			unchunkEntries(t, kv, tc.keep)
			put(t, kv, []byte("mschema"), binary.BigEndian.AppendUint64(nil, 4))
			if got := dump(t, kv); got == want {
				t.Fatal("the store was not rewritten in schema 4")
			}
			s = openStore(t, kv)
			if got := dump(t, kv); got != want {
				t.Fatalf("the migrated store differs from the one this version writes:\ngot\n%s\nwant\n%s", got, want)
			}
			checkScenario(t, s, sc.scenario)
			checkChunkScenario(t, s, sc)
		})
	}
}

// TestOpenMigratesSchema4Refuses: entries of schema 4 with a gap are
// reported as corruption by the migration, and the schema stays 4.
func TestOpenMigratesSchema4Refuses(t *testing.T) {
	kv := store.NewMemory()
	s := openStore(t, kv)
	commitChunkScenario(t, s)
	unchunkEntries(t, kv, nil)
	put(t, kv, entryKeyOf(chain.LaneData, 4, 7), nil)
	put(t, kv, []byte("mschema"), binary.BigEndian.AppendUint64(nil, 4))
	_, err := store.Open(kv)
	wantErr(t, err, store.ErrCorrupt)
	if !strings.Contains(err.Error(), "entries chunk 8 of data/4") {
		t.Fatalf("error %q does not name the entry after the gap", err)
	}
	if v := mustGet(t, kv, []byte("mschema")); binary.BigEndian.Uint64(v) != 4 {
		t.Fatalf("schema %d after a failed migration", binary.BigEndian.Uint64(v))
	}
}

// TestCorruptChunks damages the chunks of a block of three: every read
// that meets the damage fails with ErrCorrupt naming the chunk or the
// block, and nothing panics.
func TestCorruptChunks(t *testing.T) {
	big := func(s *store.Store, sc *chunkScenario) error { _, err := s.Block(chain.LaneData, 4); return err }
	encoded := func(s *store.Store, sc *chunkScenario) error {
		_, err := s.EncodedBlock(chain.LaneData, 4)
		return err
	}
	reading := func(seq uint64) func(s *store.Store, sc *chunkScenario) error {
		return func(s *store.Store, sc *chunkScenario) error {
			_, _, err := s.Reading(sc.dev.Public(), seq)
			return err
		}
	}
	mid := chunkKeyOf(chain.LaneData, 4, 1)
	edit := func(f func(entries [][]byte) [][]byte) func(t *testing.T, kv store.KV) {
		return func(t *testing.T, kv store.KV) { put(t, kv, mid, encodeChunk(f(parseChunk(t, mustGet(t, kv, mid))))) }
	}
	tests := []struct {
		name    string
		damage  func(t *testing.T, kv store.KV)
		read    func(s *store.Store, sc *chunkScenario) error
		mention string
	}{
		{"middle chunk missing", func(t *testing.T, kv store.KV) { put(t, kv, mid, nil) }, big,
			"entries chunk 1 of data/4: missing (chunk 2 is the next stored)"},
		{"middle chunk missing, encoded", func(t *testing.T, kv store.KV) { put(t, kv, mid, nil) }, encoded,
			"entries chunk 1 of data/4: missing"},
		{"middle chunk missing, one reading", func(t *testing.T, kv store.KV) { put(t, kv, mid, nil) }, reading(20),
			"entries chunk 1 of data/4: entry 19 missing, indexed as reading 20"},
		{"last chunk missing", func(t *testing.T, kv store.KV) { put(t, kv, chunkKeyOf(chain.LaneData, 4, 2), nil) }, encoded,
			"entries chunk 2 of data/4: missing: data/4 has 40 entries"},
		{"chunk beyond the entries", func(t *testing.T, kv store.KV) {
			put(t, kv, chunkKeyOf(chain.LaneData, 4, 3), mustGet(t, kv, chunkKeyOf(chain.LaneData, 4, 2)))
		}, big, "entries chunk 3 of data/4: beyond the 40 entries"},
		{"entry left out", edit(func(e [][]byte) [][]byte { return e[1:] }), big,
			"entries chunk 1 of data/4: bad entries chunk: 15 entries, want 16"},
		{"entry left out, one reading", edit(func(e [][]byte) [][]byte { return e[:15] }), reading(32),
			"entries chunk 1 of data/4: bad entries chunk: holds 15 entries, entry 15 is asked for"},
		{"entries swapped", edit(func(e [][]byte) [][]byte { e[0], e[1] = e[1], e[0]; return e }), encoded,
			"the entries of data/4 hash to"},
		{"entries swapped, one reading", edit(func(e [][]byte) [][]byte { e[0], e[1] = e[1], e[0]; return e }), reading(17),
			"entries chunk 1 of data/4: entry 16 holds reading 18 of device"},
		{"entry garbage", edit(func(e [][]byte) [][]byte { e[3] = []byte{0xa1, 0x01, 0xff}; return e }), big,
			"entry 19: store corrupt: entries chunk 1 of data/4"},
		{"chunk truncated", func(t *testing.T, kv store.KV) { v := mustGet(t, kv, mid); put(t, kv, mid, v[:len(v)-1]) }, reading(32),
			"entries chunk 1 of data/4: bad entries chunk: entry 15 ends at"},
		{"chunk truncated, block", func(t *testing.T, kv store.KV) { v := mustGet(t, kv, mid); put(t, kv, mid, v[:len(v)-1]) }, encoded,
			"entries chunk 1 of data/4: bad entries chunk: entry: "},
		{"not a chunk", func(t *testing.T, kv store.KV) { put(t, kv, mid, []byte{0xa1, 0x01, 0x01}) }, reading(17),
			"entries chunk 1 of data/4: not an entries chunk"},
		{"bytes after the entries", func(t *testing.T, kv store.KV) { put(t, kv, mid, append(mustGet(t, kv, mid), 0)) }, big,
			"1 bytes after the entries"},
		{"count over 16", func(t *testing.T, kv store.KV) { put(t, kv, mid, []byte{1, 17}) }, encoded,
			"entry count 17 exceeds 16"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kv := store.NewMemory()
			s := openStore(t, kv)
			sc := commitChunkScenario(t, s)
			tc.damage(t, kv)
			err := tc.read(openStore(t, kv), sc)
			wantErr(t, err, store.ErrCorrupt)
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatal("not ErrCorrupt")
			}
		})
	}
}
