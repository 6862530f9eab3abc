package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/audit/audittest"
)

// bulkKV gathers the store's batches, one per block, into one badger
// transaction per bulkBlocks blocks, so that a benchmark builds a long
// chain fast: Store.Commit writes exactly what it writes to any KV, only
// the fsyncs are fewer. flush writes the last ones.
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

// tradesChain is a valid chain (one validator, monthly periods) of n tx
// blocks, one a second, in a badger store: industry-1 offers 1,000,000 L
// in the first, and industry-2 buys 1 L of it in every tenth.
func tradesChain(b *testing.B, n int) *store.Store {
	kv, err := store.OpenBadger(b.TempDir(), store.BadgerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { kv.Close() })
	bulk := &bulkKV{KV: kv, pending: kv.NewBatch()}
	st, err := store.Open(bulk)
	if err != nil {
		b.Fatal(err)
	}
	c, err := audittest.New(st, audittest.Genesis(audittest.Options{Validators: 1, SettlementPeriod: "month", Allowance: 10_000_000}))
	if err != nil {
		b.Fatal(err)
	}
	g0 := c.Genesis.GenesisTime
	offer := c.Tx(c.Industry(1), func(tx *chain.Tx) { tx.OfferAllowance = &chain.OfferAllowance{Volume: 1_000_000, Price: 1} })
	for h := 1; h <= n; h++ {
		var txs []*chain.Tx
		switch {
		case h == 1:
			txs = append(txs, offer)
		case h%10 == 0:
			txs = append(txs, c.Tx(c.Industry(2), func(tx *chain.Tx) { tx.AcceptOffer = &chain.AcceptOffer{Offer: offer.Hash(), Volume: 1} }))
		}
		if _, err := c.TxBlock(g0.Add(time.Duration(h)*time.Second), txs...); err != nil {
			b.Fatalf("tx/%d: %v", h, err)
		}
	}
	if err := bulk.flush(); err != nil {
		b.Fatal(err)
	}
	if st, err = store.Open(kv); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkTrades is GET /v1/market/trades without HTTP: a page of 100
// trades (1,000 tx blocks of history) with their offers and block times,
// from a badger store of 1,000 and of 100,000 tx blocks, from the newest
// and from a cursor in the middle. The cost of a page does not depend on
// the chain's length (the scan it replaces read back up to 5,000 blocks).
func BenchmarkTrades(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		st := tradesChain(b, n)
		for _, from := range []struct {
			name   string
			before api.TxCursor
		}{{"newest", api.TxCursor{}}, {"middle", api.TxCursor{Height: uint64(n/2 + 1)}}} {
			b.Run(fmt.Sprintf("blocks=%d/%s", n, from.name), func(b *testing.B) {
				q := api.PageQuery{Before: from.before, Limit: 100}
				want := min(100, int(from.before.Height)/10)
				if from.before.Height == 0 {
					want = min(100, n/10)
				}
				for i := 0; i < b.N; i++ {
					page, err := listTrades(st, storeState{st}, q)
					if err != nil || len(page) != want {
						b.Fatalf("%d trades, want %d: %v", len(page), want, err)
					}
				}
			})
		}
	}
}
