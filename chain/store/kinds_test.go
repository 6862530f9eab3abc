package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// accept returns an accept-offer transaction signed by buyer.
func accept(t testing.TB, buyer *chain.PrivateKey, nonce uint64) *chain.Tx {
	tx := &chain.Tx{From: buyer.Public(), Nonce: nonce, AcceptOffer: &chain.AcceptOffer{Offer: chain.HashBytes([]byte(fmt.Sprint("offer ", nonce))), Volume: nonce}}
	tx.Sign(testChainID, buyer)
	return tx
}

// oneValidator makes c certify with one validator, so that a test can
// build thousands of blocks quickly.
func oneValidator(t testing.TB, c *testChain) {
	vs, err := chain.NewValidatorSet([]chain.PubKey{c.keys[0].Public()})
	if err != nil {
		t.Fatal(err)
	}
	c.keys, c.vs = c.keys[:1], vs
}

// pageAll lists every transaction of kind by pages of limit, following
// the cursor (the last position of a page) until a short page.
func pageAll(t testing.TB, s *store.Store, kind chain.TxKind, limit int) ([]store.Location, int) {
	t.Helper()
	var out []store.Location
	var before store.Location
	pages := 0
	for {
		n := 0
		err := s.TxsByKind(kind, before, func(tx *chain.Tx, loc store.Location) error {
			if tx.Kind() != kind {
				t.Fatalf("%s: a %s transaction in the %s list", loc, tx.Kind(), kind)
			}
			out = append(out, loc)
			before = loc
			if n++; n == limit {
				return store.ErrStop
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if n < limit {
			return out, pages
		}
	}
}

// TestTxsByKindListsEveryTrade: trades (accept-offer transactions) are
// listed newest first from the kind index, the oldest one too, more than
// 5,000 tx blocks back (the old API scan stopped there); pages that follow
// the cursor are disjoint and together give every trade once; other kinds
// are not mixed in.
func TestTxsByKindListsEveryTrade(t *testing.T) {
	kv := store.NewMemory()
	s := openStore(t, kv)
	c := newTestChain(t)
	oneValidator(t, c)
	buyer, payer := key(t, "buyer"), key(t, "payer")
	const blocks = 5_200
	var want []store.Location // oldest first
	for h := uint64(1); h <= blocks; h++ {
		var txs []*chain.Tx
		if h == 1 || h%97 == 0 {
			txs = append(txs, transfer(t, payer, h), accept(t, buyer, 2*h))
			want = append(want, store.Location{Lane: chain.LaneTx, Height: h, Index: 1})
			if h%2 == 0 { // two trades in one block
				txs = append(txs, accept(t, buyer, 2*h+1))
				want = append(want, store.Location{Lane: chain.LaneTx, Height: h, Index: 2})
			}
		}
		c.commit(s, chain.LaneTx, nil, txs)
	}
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}
	for _, limit := range []int{1, 7, 100, 1000} {
		got, pages := pageAll(t, s, chain.KindAcceptOffer, limit)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d: %d trades in %d pages, want %d newest first:\ngot  %v\nwant %v", limit, len(got), pages, len(want), got, want)
		}
		if last := got[len(got)-1]; last.Height != 1 {
			t.Fatalf("limit %d: the oldest trade listed is at %s, want tx/1", limit, last)
		}
	}
	// A cursor inside a block lists the trades before it in that block.
	var got []store.Location
	err := s.TxsByKind(chain.KindAcceptOffer, store.Location{Height: 194, Index: 2}, func(_ *chain.Tx, loc store.Location) error {
		got = append(got, loc)
		if len(got) == 2 {
			return store.ErrStop
		}
		return nil
	})
	if err != nil || fmt.Sprint(got) != fmt.Sprint([]store.Location{{Lane: chain.LaneTx, Height: 194, Index: 1}, {Lane: chain.LaneTx, Height: 97, Index: 1}}) {
		t.Fatalf("before tx/194[2]: %v, %v", got, err)
	}
	transfers, _ := pageAll(t, s, chain.KindTransfer, 50)
	if len(transfers) != 1+blocks/97 {
		t.Fatalf("%d transfers listed, want %d", len(transfers), 1+blocks/97)
	}
	if err := s.TxsByKind("mint", store.Location{}, nil); !errors.Is(err, store.ErrUnknownKind) {
		t.Fatalf("unknown kind: err %v, want ErrUnknownKind", err)
	}
}

// TestTxsByKindCorruptIndex: an index key naming a transaction of another
// kind, or no entry, is ErrCorrupt, not a wrong trade.
func TestTxsByKindCorruptIndex(t *testing.T) {
	for _, tc := range []struct {
		name   string
		height uint64
	}{{"another kind", 1}, {"no entry", 9}} {
		t.Run(tc.name, func(t *testing.T) {
			kv := store.NewMemory()
			s := openStore(t, kv)
			c := newTestChain(t)
			c.commit(s, chain.LaneTx, nil, []*chain.Tx{transfer(t, key(t, "payer"), 1)})
			b := kv.NewBatch()
			k := binary.BigEndian.AppendUint64([]byte{'k', 6}, tc.height) // accept-offer at tx/h[0]
			b.Set(binary.BigEndian.AppendUint32(k, 0), []byte{})
			if err := b.Write(); err != nil {
				t.Fatal(err)
			}
			err := s.TxsByKind(chain.KindAcceptOffer, store.Location{}, func(*chain.Tx, store.Location) error { return nil })
			wantErr(t, err, store.ErrCorrupt)
		})
	}
}

// TestOpenMigratesSchema2: a store written before the tx kind index
// (schema 2) is upgraded in place at Open into exactly the store the new
// version writes, and lists its trades.
func TestOpenMigratesSchema2(t *testing.T) {
	kv := store.NewMemory()
	s := openStore(t, kv)
	c := newTestChain(t)
	buyer := key(t, "buyer")
	nonce := uint64(0)
	for range 4 {
		var txs []*chain.Tx
		for range 3 {
			nonce++
			txs = append(txs, accept(t, buyer, nonce), transfer(t, buyer, 100+nonce))
		}
		c.commit(s, chain.LaneTx, nil, txs)
	}
	c.commit(s, chain.LaneData, []*chain.Reading{reading(key(t, "meter"), 1, c.now+1)}, nil)
	want := dump(t, kv)

	b := kv.NewBatch()
	var kKeys int
	if err := kv.Iterate([]byte("k"), store.IterOptions{}, func(k, _ []byte) error {
		b.Delete(bytes.Clone(k))
		kKeys++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b.Set([]byte("mschema"), binary.BigEndian.AppendUint64(nil, 2))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	unchunkEntries(t, kv, nil)
	if kKeys != 2*int(nonce) {
		t.Fatalf("%d tx kind keys, want %d", kKeys, 2*nonce)
	}
	if got, _ := pageAll(t, s, chain.KindAcceptOffer, 100); len(got) != 0 {
		t.Fatalf("%d trades listed without the index", len(got))
	}

	s = openStore(t, kv)
	if got := dump(t, kv); got != want {
		t.Fatal("the migrated store differs from the one schema 3 writes")
	}
	if got, _ := pageAll(t, s, chain.KindAcceptOffer, 5); len(got) != int(nonce) {
		t.Fatalf("%d trades listed after the migration, want %d", len(got), nonce)
	}
}

// bulkKV builds a long chain fast for benchmarks: the store's batches,
// one per block, are gathered into one badger transaction per
// bulkBlocks blocks (Store.Commit writes exactly what it writes to any
// KV; only the fsyncs are fewer). Flush writes the last ones.
type bulkKV struct {
	store.KV
	pending store.Batch
	blocks  int
}

const bulkBlocks = 500

func (k *bulkKV) NewBatch() store.Batch { return bulkBatch{k} }

func (k *bulkKV) flush() error {
	err := k.pending.Write()
	k.pending = k.KV.NewBatch()
	return err
}

type bulkBatch struct{ k *bulkKV }

func (b bulkBatch) Set(key, value []byte) { b.k.pending.Set(key, value) }
func (b bulkBatch) Delete(key []byte)     { b.k.pending.Delete(key) }
func (b bulkBatch) Discard()              {}
func (b bulkBatch) Write() error {
	if b.k.blocks++; b.k.blocks%bulkBlocks == 0 {
		return b.k.flush()
	}
	return nil
}

// tradeChain is a badger store of n tx blocks with a trade in every
// tenth, the other blocks carrying a transfer.
func tradeChain(b *testing.B, n int) *store.Store {
	kv := openBadgerIn(b, b.TempDir())
	bulk := &bulkKV{KV: kv, pending: kv.NewBatch()}
	s := openStore(b, bulk)
	c := newTestChain(b)
	oneValidator(b, c)
	buyer := key(b, "buyer")
	for h := 1; h <= n; h++ {
		tx := transfer(b, buyer, uint64(h))
		if h%10 == 0 {
			tx = accept(b, buyer, uint64(h))
		}
		c.commit(s, chain.LaneTx, nil, []*chain.Tx{tx})
	}
	if err := bulk.flush(); err != nil {
		b.Fatal(err)
	}
	return openStore(b, kv)
}

// BenchmarkTradesPage reads a page of 50 trades (500 tx blocks of
// history) from the tx kind index of a badger store of 1,000 and of
// 100,000 tx blocks, from the newest and from a cursor in the middle of
// the chain: the cost of a page does not depend on the chain's length.
func BenchmarkTradesPage(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		s := tradeChain(b, n)
		for _, from := range []struct {
			name   string
			before store.Location
		}{{"newest", store.Location{}}, {"middle", store.Location{Height: uint64(n/2 + 1)}}} {
			b.Run(fmt.Sprintf("blocks=%d/%s", n, from.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					got := 0
					err := s.TxsByKind(chain.KindAcceptOffer, from.before, func(*chain.Tx, store.Location) error {
						if got++; got == 50 {
							return store.ErrStop
						}
						return nil
					})
					if err != nil || got != 50 {
						b.Fatalf("%d trades, %v", got, err)
					}
				}
			})
		}
	}
}

// TestCheckBlockIndexesNamesMissingKindEntry: a tx kind entry deleted
// from the store is found by CheckBlockIndexes, IndexSum and
// CountIndexes.
func TestCheckBlockIndexesNamesMissingKindEntry(t *testing.T) {
	kv := store.NewMemory()
	s := openStore(t, kv)
	c := newTestChain(t)
	buyer := key(t, "buyer")
	blk := c.commit(s, chain.LaneTx, nil, []*chain.Tx{transfer(t, buyer, 1), accept(t, buyer, 2)})
	want := store.BlockIndexSum(blk)
	if got, err := s.IndexSum(); err != nil || got != want {
		t.Fatalf("IndexSum %+v %v, want %+v", got, err, want)
	}
	b := kv.NewBatch()
	b.Delete(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64([]byte{'k', 6}, 1), 1))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	err := s.CheckBlockIndexes(blk)
	wantErr(t, err, store.ErrIndex)
	if got, _ := s.IndexSum(); got == want {
		t.Fatal("the sum missed the deleted kind entry")
	}
	if counts, _ := s.CountIndexes(); counts.TxKinds != 1 || counts.Txs != 2 {
		t.Fatalf("counts %+v, want 1 kind entry and 2 tx hashes", counts)
	}
}
