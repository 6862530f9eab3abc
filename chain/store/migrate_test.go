package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// toSchema3 rewrites the blocks of a store in the layout of schema 3, as
// the version before block records wrote them (independently of the
// package): a CBOR header under h, a CBOR certificate under c, and the
// block hash index b<hash:32> → lane (1), height (8); no shared values.
// keep names the blocks left as records, as a migration cut short by a
// crash leaves them (their shared values are then kept too).
func toSchema3(t *testing.T, kv store.KV, s *store.Store, blocks []*chain.Block, keep map[*chain.Block]bool) {
	t.Helper()
	b := kv.NewBatch()
	if len(keep) == 0 {
		if err := kv.Iterate([]byte("v"), store.IterOptions{}, func(k, _ []byte) error {
			b.Delete(bytes.Clone(k))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, blk := range blocks {
		h := blk.Header
		hash := blk.Hash()
		b.Delete(blockHashKeyOf(blk))
		b.Set(append([]byte{'b'}, hash[:]...), binary.BigEndian.AppendUint64([]byte{byte(h.Lane)}, h.Height))
		if keep[blk] {
			continue
		}
		hb, err := chain.Encode(&h)
		if err != nil {
			t.Fatal(err)
		}
		cb, err := chain.Encode(blk.Cert)
		if err != nil {
			t.Fatal(err)
		}
		b.Set(laneHeightKey('h', h.Lane, h.Height), hb)
		b.Set(laneHeightKey('c', h.Lane, h.Height), cb)
	}
	if len(keep) == 0 { // a pass cut short has rewritten the heads first
		for _, lane := range chain.Lanes {
			b.Set([]byte{'l', byte(lane)}, binary.BigEndian.AppendUint64(nil, s.Height(lane)))
		}
	}
	b.Set([]byte("mschema"), binary.BigEndian.AppendUint64(nil, 3))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	unchunkEntries(t, kv, nil)
}

// TestOpenMigratesSchema3: a store of schema 3 (CBOR headers and
// certificates, full block hashes in the index) is rewritten at Open into
// exactly the store this version writes, and reads the same blocks,
// readings and indexes; so is one whose migration was cut short.
func TestOpenMigratesSchema3(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep func(sc *scenario) map[*chain.Block]bool
	}{
		{"whole", func(*scenario) map[*chain.Block]bool { return nil }},
		{"cut short", func(sc *scenario) map[*chain.Block]bool {
			return map[*chain.Block]bool{sc.blocks[0]: true, sc.blocks[2]: true}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := openBadger(t)
			s := openStore(t, kv)
			if err := s.InitGenesis(newTestChain(t).genesis, nil); err != nil {
				t.Fatal(err)
			}
			sc := commitScenario(t, s)
			want := dump(t, kv)

			toSchema3(t, kv, s, sc.blocks, tc.keep(sc))
			if got := dump(t, kv); got == want {
				t.Fatal("the store was not rewritten in schema 3")
			}
			s = openStore(t, kv)
			if got := dump(t, kv); got != want {
				t.Fatalf("the migrated store differs from the one this version writes:\ngot\n%s\nwant\n%s", got, want)
			}
			checkScenario(t, s, sc)
			var sum store.IndexSum
			for _, b := range sc.blocks {
				sum.Add(store.BlockIndexSum(b))
				if err := s.CheckBlockIndexes(b); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := s.IndexSum(); err != nil || got != sum {
				t.Fatalf("index sum %v, %v; want %v", got, err, sum)
			}
		})
	}
}

// TestBlockByHashSkipsSharedPrefix: an index entry of another block whose
// hash begins with the same 8 bytes is passed over.
func TestBlockByHashSkipsSharedPrefix(t *testing.T) {
	kv := store.NewMemory()
	s := openStore(t, kv)
	sc := commitScenario(t, s)
	want := sc.blocks[2] // data/2
	h := want.Hash()
	put(t, kv, binary.BigEndian.AppendUint64(append(append([]byte{'b'}, h[:8]...), byte(chain.LaneData)), 1), []byte{})
	got, err := s.BlockByHash(h)
	if err != nil {
		t.Fatal(err)
	}
	sameBlock(t, got, want)
	other := h
	other[31] ^= 1
	if _, err := s.BlockByHash(other); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("BlockByHash of an unknown hash with a known prefix: %v, want ErrNotFound", err)
	}
}

// TestDamagedRecordIsNamed: a block whose anchor's record is damaged does
// not rebuild; the error names the anchor's record, not the block read.
func TestDamagedRecordIsNamed(t *testing.T) {
	kv := store.NewMemory()
	s := openStore(t, kv)
	commitScenario(t, s) // data/2 anchors tx/1
	k := laneHeightKey('h', chain.LaneTx, 1)
	v := bytes.Clone(mustGet(t, kv, k))
	v[5] ^= 0x01 // in the block hash the record begins with
	put(t, kv, k, v)
	s = openStore(t, kv)
	_, err := s.Block(chain.LaneData, 2)
	var re *store.BlockRecordError
	if !errors.As(err, &re) || !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Block(data/2) = %v, want a BlockRecordError wrapping ErrCorrupt", err)
	}
	if re.Lane != chain.LaneTx || re.Height != 1 {
		t.Fatalf("the error names %s/%d, want tx/1: %v", re.Lane, re.Height, err)
	}
	if _, err := s.Block(chain.LaneData, 1); err != nil {
		t.Fatalf("data/1, which does not depend on tx/1: %v", err)
	}
}
