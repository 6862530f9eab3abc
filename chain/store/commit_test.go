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

// TestCommitRejects starts from a valid next block and breaks one thing at
// a time: each commit fails with the named error, writes nothing, and the
// valid block still commits afterwards.
func TestCommitRejects(t *testing.T) {
	for _, o := range kvOpeners {
		t.Run(o.name, func(t *testing.T) {
			kv := o.open(t)
			s := openStore(t, kv)
			c := newTestChain(t)
			if err := s.InitGenesis(c.genesis, nil); err != nil {
				t.Fatal(err)
			}
			dev := key(t, "device")
			first := c.commit(s, chain.LaneData, []*chain.Reading{reading(dev, 1, baseTime+1)}, nil)
			valid := c.next(chain.LaneData, []*chain.Reading{reading(dev, 2, baseTime+2), reading(dev, 3, baseTime+3)}, nil)
			firstTx := c.next(chain.LaneTx, nil, []*chain.Tx{transfer(t, key(t, "industry"), 1)})

			// reheader changes the header and re-certifies, so that only
			// the change is wrong.
			reheader := func(b *chain.Block, change func(h *chain.Header)) *chain.Block {
				cp := *b
				change(&cp.Header)
				return c.certify(&cp)
			}
			recert := func(b *chain.Block, change func(cert *chain.Certificate)) *chain.Block {
				cert := *b.Cert
				change(&cert)
				return b.WithCert(&cert)
			}
			withEntries := func(b *chain.Block, readings []*chain.Reading, txs []*chain.Tx) *chain.Block {
				cp := *b
				cp.Readings, cp.Txs = readings, txs
				return &cp
			}
			goodChanges := []store.Change{set("d/x", "1")}
			tests := []struct {
				name     string
				block    *chain.Block
				changes  []store.Change
				want     error
				mentions []string
			}{
				{"nil block", nil, goodChanges, store.ErrInvalidBlock, nil},
				{"no certificate", valid.WithCert(nil), goodChanges, store.ErrMissingCert, []string{"data/2"}},
				{"certificate for another height", recert(valid, func(c *chain.Certificate) { c.Height = 3 }), goodChanges, store.ErrCertMismatch, []string{"data/3", "data/2"}},
				{"certificate for another lane", recert(valid, func(c *chain.Certificate) { c.Lane = chain.LaneTx }), goodChanges, store.ErrCertMismatch, []string{"tx/2", "data/2"}},
				{"certificate for another block", recert(valid, func(c *chain.Certificate) { c.BlockHash = first.Hash() }), goodChanges, store.ErrCertMismatch, []string{first.Hash().Short(), valid.Hash().Short()}},
				{"height gap", reheader(valid, func(h *chain.Header) { h.Height = 5 }), goodChanges, store.ErrNotNext, []string{"height 5", "head is at 1", "want 2"}},
				{"height already committed", first, goodChanges, store.ErrNotNext, []string{"height 1", "head is at 1"}},
				{"prev hash not the head's", reheader(valid, func(h *chain.Header) { h.PrevHash = chain.HashBytes([]byte("elsewhere")) }), goodChanges, store.ErrNotNext, []string{"prev_hash", first.Hash().String()}},
				{"first block not on genesis", reheader(firstTx, func(h *chain.Header) { h.PrevHash = first.Hash() }), goodChanges, store.ErrNotNext, []string{"tx/1", "genesis", c.genesis.String()}},
				{"unknown lane", reheader(valid, func(h *chain.Header) { h.Lane = 7 }), goodChanges, store.ErrInvalidBlock, []string{"lane 7"}},
				{"entry count differs from header", reheader(valid, func(h *chain.Header) { h.NumEntries = 3 }), goodChanges, store.ErrInvalidBlock, []string{"3 entries", "has 2"}},
				{"transaction in a data block", withEntries(valid, valid.Readings, firstTx.Txs), goodChanges, store.ErrInvalidBlock, []string{"1 transactions"}},
				{"reading in a tx block", withEntries(firstTx, valid.Readings, firstTx.Txs), goodChanges, store.ErrInvalidBlock, []string{"2 readings"}},
				{"nil reading", withEntries(valid, []*chain.Reading{valid.Readings[0], nil}, nil), goodChanges, store.ErrInvalidBlock, []string{"reading 1 is nil"}},
				{"empty change key", valid, []store.Change{set("d/x", "1"), {Value: []byte("v")}}, store.ErrInvalidChange, []string{"change 1"}},
				{"oversize change key", valid, []store.Change{{Key: bytes.Repeat([]byte("k"), store.MaxStateKeyLen+1), Value: []byte("v")}}, store.ErrInvalidChange, []string{"1025 bytes"}},
			}
			before := dump(t, kv)
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					err := s.Commit(tc.block, tc.changes)
					wantErr(t, err, tc.want)
					for _, m := range tc.mentions {
						if !strings.Contains(err.Error(), m) {
							t.Errorf("error %q does not mention %q", err, m)
						}
					}
					if after := dump(t, kv); after != before {
						t.Fatal("a rejected commit changed the store")
					}
					if h, _ := s.Head(chain.LaneData); h.Hash() != first.Hash() {
						t.Fatalf("a rejected commit moved the data head to %s", &h)
					}
					if _, ok := s.Head(chain.LaneTx); ok {
						t.Fatal("a rejected commit made a tx head")
					}
				})
			}
			if err := s.Commit(valid, goodChanges); err != nil {
				t.Fatalf("the valid block after the rejected ones: %v", err)
			}
			if err := s.Commit(firstTx, nil); err != nil {
				t.Fatalf("the valid tx block after the rejected ones: %v", err)
			}
		})
	}
}

// failingKV fails batch writes on demand, as a full disk would.
type failingKV struct {
	store.KV
	fail bool
}

var errInjected = errors.New("injected write failure")

func (f *failingKV) NewBatch() store.Batch { return &failingBatch{Batch: f.KV.NewBatch(), kv: f} }

type failingBatch struct {
	store.Batch
	kv *failingKV
}

func (b *failingBatch) Write() error {
	if b.kv.fail {
		b.Batch.Discard()
		return errInjected
	}
	return b.Batch.Write()
}

func TestCommitWriteFailureLeavesHead(t *testing.T) {
	kv := &failingKV{KV: openMemory(t)}
	s := openStore(t, kv)
	c := newTestChain(t)
	dev := key(t, "device")
	first := c.commit(s, chain.LaneData, []*chain.Reading{reading(dev, 1, baseTime+1)}, nil)
	next := c.next(chain.LaneData, []*chain.Reading{reading(dev, 2, baseTime+2)}, nil)
	before := dump(t, kv)
	kv.fail = true
	err := s.Commit(next, []store.Change{set("d/x", "1")})
	wantErr(t, err, errInjected)
	if !strings.Contains(err.Error(), "data/2") {
		t.Errorf("error %q does not name the block", err)
	}
	if h, _ := s.Head(chain.LaneData); h.Hash() != first.Hash() {
		t.Fatalf("a failed write moved the head to %s", &h)
	}
	if dump(t, kv) != before {
		t.Fatal("a failed write changed the store")
	}
	kv.fail = false
	if err := s.Commit(next, nil); err != nil {
		t.Fatalf("retry after the failure: %v", err)
	}
	if h, _ := s.Head(chain.LaneData); h.Hash() != next.Hash() {
		t.Fatalf("head %s after the retry, want data/2", &h)
	}
}

// TestCommitTooBigWritesNothing has badger refuse a batch over its limit
// (a deliberately small memtable): the block is not half written.
func TestCommitTooBigWritesNothing(t *testing.T) {
	kv := openBadgerWith(t, t.TempDir(), store.BadgerOptions{MemTableSize: store.MinMemTableSize})
	s := openStore(t, kv)
	c := newTestChain(t)
	before := dump(t, kv)
	// 8 MiB memtable: batches up to 1.2 MB. 5,000 readings are 1.8 MB.
	readings := signedReadings(t, 10, 500, false)
	err := s.Commit(c.next(chain.LaneData, readings, nil), nil)
	wantErr(t, err, store.ErrBatchTooBig)
	if dump(t, kv) != before {
		t.Fatal("a batch too big changed the store")
	}
	if _, ok := s.Head(chain.LaneData); ok {
		t.Fatal("a batch too big made a head")
	}
	c.commit(s, chain.LaneData, readings[:10], nil)
}

func TestGenesis(t *testing.T) {
	kv := openMemory(t)
	s := openStore(t, kv)
	g := chain.HashBytes([]byte("genesis A"))
	other := chain.HashBytes([]byte("genesis B"))
	wantErr(t, s.CheckGenesis(g), store.ErrNoGenesis)
	if _, err := s.GenesisHash(); !errors.Is(err, store.ErrNoGenesis) {
		t.Fatalf("GenesisHash of a fresh store: %v", err)
	}
	wantErr(t, s.InitGenesis(chain.Hash{}, nil), store.ErrInvalidChange)
	wantErr(t, s.InitGenesis(g, []store.Change{{Value: []byte("x")}}), store.ErrInvalidChange)

	if err := s.InitGenesis(g, []store.Change{set("t/a", "1"), set("t/b", "2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckGenesis(g); err != nil {
		t.Fatal(err)
	}
	err := s.CheckGenesis(other)
	wantErr(t, err, store.ErrGenesisMismatch)
	for _, m := range []string{g.String(), other.String()} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not name %s", err, m)
		}
	}
	before := dump(t, kv)
	if err := s.InitGenesis(g, []store.Change{set("t/a", "changed")}); err != nil {
		t.Fatalf("InitGenesis again with the same genesis: %v", err)
	}
	if dump(t, kv) != before {
		t.Fatal("a second InitGenesis wrote")
	}
	wantErr(t, s.InitGenesis(other, nil), store.ErrGenesisMismatch)

	// Reopened, the store remembers.
	s = openStore(t, kv)
	if got, err := s.GenesisHash(); err != nil || got != g {
		t.Fatalf("GenesisHash after reopening = %s, %v", got, err)
	}
	if v, err := s.State([]byte("t/a")); err != nil || string(v) != "1" {
		t.Fatalf("genesis state = %q, %v", v, err)
	}
}

func TestInitGenesisAfterBlocksIsCorrupt(t *testing.T) {
	s := openStore(t, openMemory(t))
	c := newTestChain(t)
	c.commit(s, chain.LaneTx, nil, nil)
	wantErr(t, s.InitGenesis(c.genesis, nil), store.ErrCorrupt)
}

func TestOpenSchema(t *testing.T) {
	foreign := store.NewMemory()
	b := foreign.NewBatch()
	b.Set([]byte("somebody else's"), []byte("data"))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(foreign)
	wantErr(t, err, store.ErrSchema)

	future := store.NewMemory()
	openStore(t, future)
	b = future.NewBatch()
	b.Set([]byte("mschema"), binary.BigEndian.AppendUint64(nil, 7))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(future)
	wantErr(t, err, store.ErrSchema)
	if !strings.Contains(err.Error(), "schema 7") || !strings.Contains(err.Error(), "schema 6") {
		t.Errorf("error %q does not name both versions", err)
	}

	// A fresh KV gets the schema recorded once; reopening keeps it.
	kv := store.NewMemory()
	openStore(t, kv)
	first := dump(t, kv)
	openStore(t, kv)
	if dump(t, kv) != first {
		t.Fatal("reopening rewrote the store")
	}
}

// TestOpenMigratesSchema1: a store written before the reading hash index
// (schema 1) is upgraded in place at Open, into exactly the store the new
// version would have written, and its readings are found by hash.
func TestOpenMigratesSchema1(t *testing.T) {
	kv := store.NewMemory()
	s := openStore(t, kv)
	c := newTestChain(t)
	dev := key(t, "meter")
	var readings []*chain.Reading
	for h := range 5 {
		var rs []*chain.Reading
		for i := range 3 {
			rs = append(rs, reading(dev, uint64(3*h+i+1), c.now+1))
		}
		readings = append(readings, rs...)
		c.commit(s, chain.LaneData, rs, nil)
	}
	c.commit(s, chain.LaneTx, nil, []*chain.Tx{transfer(t, dev, 1)})
	want := dump(t, kv)

	// Make it the store schema 1 wrote: no d keys, schema 1.
	b := kv.NewBatch()
	var dKeys int
	if err := kv.Iterate([]byte("d"), store.IterOptions{}, func(k, _ []byte) error {
		b.Delete(bytes.Clone(k))
		dKeys++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b.Set([]byte("mschema"), binary.BigEndian.AppendUint64(nil, 1))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	unchunkEntries(t, kv, nil)
	if dKeys != len(readings) {
		t.Fatalf("%d reading hash keys, want %d", dKeys, len(readings))
	}

	s = openStore(t, kv)
	if got := dump(t, kv); got != want {
		t.Fatal("the migrated store differs from the one this version writes")
	}
	for _, r := range readings {
		got, _, err := s.ReadingByHash(r.Hash())
		if err != nil || got.Hash() != r.Hash() {
			t.Fatalf("reading %d by hash after the migration: %v", r.Seq, err)
		}
	}
}
