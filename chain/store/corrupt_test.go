package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// Keys of the layout in doc.go, built independently of the package.
func laneHeightKey(prefix byte, lane chain.Lane, height uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefix, byte(lane)}, height)
}

func entryKeyOf(lane chain.Lane, height uint64, index uint32) []byte {
	return binary.BigEndian.AppendUint32(laneHeightKey('e', lane, height), index)
}

func seqKeyOf(dev chain.PubKey, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{'n'}, dev[:]...), seq)
}

func timeKeyOf(dev chain.PubKey, t chain.Time, seq uint64) []byte {
	k := binary.BigEndian.AppendUint64(append([]byte{'r'}, dev[:]...), uint64(t)^(1<<63))
	return binary.BigEndian.AppendUint64(k, seq)
}

func blockHashKeyOf(b *chain.Block) []byte {
	h := b.Hash()
	return binary.BigEndian.AppendUint64(append(append([]byte{'b'}, h[:8]...), byte(b.Header.Lane)), b.Header.Height)
}

func location(height uint64, index uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, height), index)
}

// editChunk rewrites the chunk under k with what f makes of its entries.
func editChunk(t testing.TB, kv store.KV, k []byte, f func(entries [][]byte) [][]byte) {
	t.Helper()
	put(t, kv, k, encodeChunk(f(parseChunk(t, mustGet(t, kv, k)))))
}

func mustGet(t testing.TB, kv store.KV, k []byte) []byte {
	t.Helper()
	v, err := kv.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func put(t testing.TB, kv store.KV, k, v []byte) {
	t.Helper()
	b := kv.NewBatch()
	if v == nil {
		b.Delete(k)
	} else {
		b.Set(k, v)
	}
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptRecords damages one stored record at a time: the read that
// meets it fails with ErrCorrupt naming the record, and nothing panics.
func TestCorruptRecords(t *testing.T) {
	garbage := []byte{0xa1, 0x01, 0xff}
	tests := []struct {
		name    string
		damage  func(t *testing.T, kv store.KV, sc *scenario)
		read    func(s *store.Store, sc *scenario) error
		mention string
	}{
		{"header garbage",
			func(t *testing.T, kv store.KV, sc *scenario) {
				put(t, kv, laneHeightKey('h', chain.LaneData, 2), garbage)
			},
			func(s *store.Store, sc *scenario) error { _, err := s.Block(chain.LaneData, 2); return err },
			"block record of data/2: not a block record"},
		{"header of another height",
			func(t *testing.T, kv store.KV, sc *scenario) {
				put(t, kv, laneHeightKey('h', chain.LaneData, 2), mustGet(t, kv, laneHeightKey('h', chain.LaneData, 1)))
			},
			func(s *store.Store, sc *scenario) error { _, err := s.Header(chain.LaneData, 2); return err },
			// The record at 2 holds the hash of data/1: the next block,
			// whose previous hash it gives, no longer rebuilds.
			"the header rebuilt from the record hashes to"},
		{"header of another height, read alone",
			func(t *testing.T, kv store.KV, sc *scenario) {
				put(t, kv, laneHeightKey('h', chain.LaneTx, 1), mustGet(t, kv, laneHeightKey('h', chain.LaneTx, 2)))
			},
			func(s *store.Store, sc *scenario) error { _, err := s.Header(chain.LaneTx, 1); return err },
			"block record of tx/1"},
		{"header missing below the head",
			func(t *testing.T, kv store.KV, sc *scenario) { put(t, kv, laneHeightKey('h', chain.LaneData, 2), nil) },
			func(s *store.Store, sc *scenario) error { _, err := s.Header(chain.LaneData, 2); return err },
			"block record of data/2: missing"},
		{"shared value missing",
			func(t *testing.T, kv store.KV, sc *scenario) { put(t, kv, []byte{'v', 0, 0, 0, 0}, nil) },
			func(s *store.Store, sc *scenario) error { return nil }, // Open fails
			"shared value 1 follows 0 values"},
		{"shared value changed",
			func(t *testing.T, kv store.KV, sc *scenario) {
				put(t, kv, []byte{'v', 0, 0, 0, 1}, bytes.Repeat([]byte{7}, 32))
			},
			func(s *store.Store, sc *scenario) error { _, err := s.Block(chain.LaneData, 2); return err },
			"the header rebuilt from the record hashes to"},
		{"entry replaced by another",
			func(t *testing.T, kv store.KV, sc *scenario) {
				editChunk(t, kv, chunkKeyOf(chain.LaneData, 2, 0), func(e [][]byte) [][]byte { e[1] = e[0]; return e })
			},
			func(s *store.Store, sc *scenario) error { _, _, err := s.Reading(sc.devA.Public(), 4); return err },
			"entries chunk 0 of data/2: entry 1 holds reading 3"},
		{"entry replaced: block root",
			func(t *testing.T, kv store.KV, sc *scenario) {
				editChunk(t, kv, chunkKeyOf(chain.LaneData, 2, 0), func(e [][]byte) [][]byte { e[1] = e[0]; return e })
			},
			func(s *store.Store, sc *scenario) error { _, err := s.Block(chain.LaneData, 2); return err },
			"entries of data/2"},
		{"entry missing",
			func(t *testing.T, kv store.KV, sc *scenario) {
				editChunk(t, kv, chunkKeyOf(chain.LaneData, 2, 0), func(e [][]byte) [][]byte { return e[:2] })
			},
			func(s *store.Store, sc *scenario) error { _, err := s.Block(chain.LaneData, 2); return err },
			"entries chunk 0 of data/2: bad entries chunk: 2 entries, want 3"},
		{"chunk missing",
			func(t *testing.T, kv store.KV, sc *scenario) { put(t, kv, chunkKeyOf(chain.LaneData, 2, 0), nil) },
			func(s *store.Store, sc *scenario) error { _, err := s.Block(chain.LaneData, 2); return err },
			"entries chunk 0 of data/2: missing: data/2 has 3 entries"},
		{"entry beyond the count",
			func(t *testing.T, kv store.KV, sc *scenario) {
				put(t, kv, chunkKeyOf(chain.LaneData, 2, 1), mustGet(t, kv, chunkKeyOf(chain.LaneData, 2, 0)))
			},
			func(s *store.Store, sc *scenario) error { _, err := s.Block(chain.LaneData, 2); return err },
			"beyond the 3 entries"},
		{"chunk garbage",
			func(t *testing.T, kv store.KV, sc *scenario) { put(t, kv, chunkKeyOf(chain.LaneTx, 1, 0), garbage) },
			func(s *store.Store, sc *scenario) error { _, _, err := s.Tx(sc.txs[0].Hash()); return err },
			"entries chunk 0 of tx/1: not an entries chunk"},
		{"entry garbage",
			func(t *testing.T, kv store.KV, sc *scenario) {
				editChunk(t, kv, chunkKeyOf(chain.LaneTx, 1, 0), func(e [][]byte) [][]byte { e[0] = garbage; return e })
			},
			func(s *store.Store, sc *scenario) error { _, err := s.Block(chain.LaneTx, 1); return err },
			"entry 0: store corrupt: entries chunk 0 of tx/1"},
		{"seq index value too short",
			func(t *testing.T, kv store.KV, sc *scenario) { put(t, kv, seqKeyOf(sc.devA.Public(), 4), garbage) },
			func(s *store.Store, sc *scenario) error { _, _, err := s.Reading(sc.devA.Public(), 4); return err },
			"reading seq index"},
		{"time index points at another device's reading",
			func(t *testing.T, kv store.KV, sc *scenario) {
				put(t, kv, timeKeyOf(sc.devA.Public(), baseTime+100, 1), location(2, 2))
			},
			func(s *store.Store, sc *scenario) error {
				return s.Readings(sc.devA.Public(), 0, 0, 0, func(*chain.Reading, store.Location) error { return nil })
			},
			"entries chunk 0 of data/2: entry 2 holds reading 2 of device"},
		{"time index points at nothing",
			func(t *testing.T, kv store.KV, sc *scenario) {
				put(t, kv, timeKeyOf(sc.devA.Public(), baseTime+100, 1), location(9, 0))
			},
			func(s *store.Store, sc *scenario) error {
				return s.ReadingsUpTo(sc.devA.Public(), baseTime, baseTime+1000, 10, func(*chain.Reading) error { return nil })
			},
			"entries chunk 0 of data/9: entry 0 missing"},
		{"tx index points at another tx",
			func(t *testing.T, kv store.KV, sc *scenario) {
				h := sc.txs[0].Hash()
				put(t, kv, append([]byte{'x'}, h[:]...), location(1, 1))
			},
			func(s *store.Store, sc *scenario) error { _, _, err := s.Tx(sc.txs[0].Hash()); return err },
			"entries chunk 0 of tx/1: entry 1 holds tx"},
		{"block hash index key of the wrong length",
			func(t *testing.T, kv store.KV, sc *scenario) {
				h := sc.blocks[2].Hash()
				put(t, kv, blockHashKeyOf(sc.blocks[2]), nil)
				put(t, kv, append([]byte{'b'}, h[:]...), []byte{byte(chain.LaneData), 0, 0, 0, 0, 0, 0, 0, 1})
			},
			func(s *store.Store, sc *scenario) error { _, err := s.BlockByHash(sc.blocks[2].Hash()); return err },
			"block hash index key is 33 bytes"},
		{"block hash index points at nothing",
			func(t *testing.T, kv store.KV, sc *scenario) {
				h := sc.blocks[2].Hash()
				put(t, kv, blockHashKeyOf(sc.blocks[2]), nil)
				put(t, kv, binary.BigEndian.AppendUint64(append(append([]byte{'b'}, h[:8]...), byte(chain.LaneTx)), 9), []byte{})
			},
			func(s *store.Store, sc *scenario) error { _, err := s.BlockByHash(sc.blocks[2].Hash()); return err },
			"names tx/9, which is not stored"},
		{"head garbage",
			func(t *testing.T, kv store.KV, sc *scenario) { put(t, kv, []byte{'l', byte(chain.LaneData)}, garbage) },
			func(s *store.Store, sc *scenario) error { return nil }, // Open fails
			"head of data"},
		{"head beyond the blocks",
			func(t *testing.T, kv store.KV, sc *scenario) {
				h := sc.blocks[3].Header // tx/2, the head
				h.Height = 9
				put(t, kv, []byte{'l', byte(chain.LaneTx)}, append(binary.BigEndian.AppendUint64(nil, 9), chain.MustEncode(&h)...))
			},
			func(s *store.Store, sc *scenario) error { return nil },
			"names height 9"},
		{"genesis hash garbage",
			func(t *testing.T, kv store.KV, sc *scenario) { put(t, kv, []byte("mgenesis"), garbage) },
			func(s *store.Store, sc *scenario) error { return nil },
			"genesis hash is 3 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kv := store.NewMemory()
			s := openStore(t, kv)
			sc := commitScenario(t, s)
			tc.damage(t, kv, sc)
			s, err := store.Open(kv)
			if err == nil {
				err = tc.read(s, sc)
			}
			wantErr(t, err, store.ErrCorrupt)
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

// FuzzCorruptStore replaces (or, given no bytes, deletes) one record of a
// store and runs every read over it: none panics, and each fails, if at
// all, with ErrCorrupt or ErrNotFound.
func FuzzCorruptStore(f *testing.F) {
	base := store.NewMemory()
	sc := commitScenario(f, openStore(f, base))
	type pair struct{ k, v []byte }
	var pairs []pair
	if err := base.Iterate(nil, store.IterOptions{}, func(k, v []byte) error {
		pairs = append(pairs, pair{bytes.Clone(k), bytes.Clone(v)})
		return nil
	}); err != nil {
		f.Fatal(err)
	}
	for i, p := range pairs {
		f.Add(uint16(i), []byte(nil))
		f.Add(uint16(i), p.v[:len(p.v)/2])
		if len(p.v) > 0 {
			flipped := bytes.Clone(p.v)
			flipped[len(flipped)-1] ^= 1
			f.Add(uint16(i), flipped)
		}
	}
	f.Fuzz(func(t *testing.T, index uint16, data []byte) {
		kv := store.NewMemory()
		b := kv.NewBatch()
		target := int(index) % len(pairs)
		for i, p := range pairs {
			switch {
			case i != target:
				b.Set(p.k, p.v)
			case len(data) > 0:
				b.Set(p.k, data)
			}
		}
		if err := b.Write(); err != nil {
			t.Fatal(err)
		}
		check := func(what string, err error) {
			if err != nil && !errors.Is(err, store.ErrCorrupt) && !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s with %s damaged: %v", what, pairs[target].k, err)
			}
		}
		s, err := store.Open(kv)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) && !errors.Is(err, store.ErrSchema) {
				t.Fatalf("Open with %q damaged: %v", pairs[target].k, err)
			}
			return
		}
		for _, blk := range sc.blocks {
			h := blk.Header
			_, err := s.Block(h.Lane, h.Height)
			check("Block", err)
			_, err = s.BlockByHash(blk.Hash())
			check("BlockByHash", err)
			_, err = s.Header(h.Lane, h.Height)
			check("Header", err)
			_, err = s.EncodedBlock(h.Lane, h.Height)
			check("EncodedBlock", err)
		}
		for _, dev := range []chain.PubKey{sc.devA.Public(), sc.devB.Public()} {
			for seq := uint64(1); seq <= 5; seq++ {
				_, _, err := s.Reading(dev, seq)
				check("Reading", err)
			}
			nop := func(*chain.Reading, store.Location) error { return nil }
			check("Readings", s.Readings(dev, 0, 0, 0, nop))
			check("LatestReadings", s.LatestReadings(dev, 3, nop))
			check("ReadingsUpTo", s.ReadingsUpTo(dev, baseTime, baseTime+1000, 3, func(*chain.Reading) error { return nil }))
		}
		for _, tx := range sc.txs {
			_, _, err := s.Tx(tx.Hash())
			check("Tx", err)
		}
		_, err = s.State([]byte("d/a"))
		check("State", err)
		check("IterateState", s.IterateState(nil, func(k, v []byte) error { return nil }))
	})
}
