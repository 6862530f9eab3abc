package node

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/audit/audittest"
)

// marketChain is a valid chain of period 0 (10 minutes) with offers by
// industry-1 and trades by industry-2, an evidence transaction, and the
// trades it made, oldest first: tx/1..12 at G+10s.. each offer 20 L at k/10
// drop per litre; from tx/2 on each block also buys 2 L of the previous
// offer, and every third block 3 L more of the same offer; tx/6 also
// carries the evidence.
func marketChain(t *testing.T) (*audittest.Chain, []api.Trade) {
	t.Helper()
	st, err := store.Open(store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	c, err := audittest.New(st, audittest.Genesis(audittest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	g0 := c.Genesis.GenesisTime
	seller, buyer := c.Industry(1), c.Industry(2)
	var trades []api.Trade
	var prev *chain.Tx
	for k := 1; k <= 12; k++ {
		at := g0.Add(time.Duration(10*k) * time.Second)
		price := uint64(k) * chain.DropUnit / 10
		offer := c.Tx(seller, func(tx *chain.Tx) { tx.OfferAllowance = &chain.OfferAllowance{Volume: 20, Price: price} })
		txs := []*chain.Tx{offer}
		if prev != nil {
			buys := []uint64{2}
			if k%3 == 0 {
				buys = append(buys, 3)
			}
			for _, v := range buys {
				a := c.Tx(buyer, func(tx *chain.Tx) { tx.AcceptOffer = &chain.AcceptOffer{Offer: prev.Hash(), Volume: v} })
				p := prev.OfferAllowance.Price
				trades = append(trades, api.Trade{
					Tx: a.Hash(), Offer: prev.Hash(), Buyer: buyer.Public().Address(), Seller: seller.Public().Address(),
					Volume: v, Price: p, Amount: v * p, Height: uint64(k), Index: uint32(len(txs)), Time: at,
				})
				txs = append(txs, a)
			}
		}
		if k == 6 {
			v2 := c.KeyOf(c.Genesis.Validators[1].NodeKey)
			vote := func(block string) *chain.Vote {
				v := &chain.Vote{Type: chain.Precommit, Lane: chain.LaneData, Height: 1, BlockHash: chain.HashBytes([]byte(block)), Validator: v2.Public()}
				v.Sign(c.Genesis.ChainID, v2)
				return v
			}
			txs = append(txs, c.Tx(seller, func(tx *chain.Tx) { tx.Evidence = &chain.Evidence{VoteA: vote("a"), VoteB: vote("b")} }))
		}
		if _, err := c.TxBlock(at, txs...); err != nil {
			t.Fatalf("tx/%d: %v", k, err)
		}
		prev = offer
	}
	slices.Reverse(trades)
	return c, trades
}

// pages lists every trade by pages of limit, following the cursor of the
// last trade of each page until a short page.
func pages(t *testing.T, st *store.Store, limit int) [][]api.Trade {
	t.Helper()
	var out [][]api.Trade
	q := api.PageQuery{Limit: limit}
	for {
		page, err := listTrades(st, storeState{st}, q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page)
		if len(page) < limit {
			return out
		}
		last := page[len(page)-1]
		q.Before = api.TxCursor{Height: last.Height, Index: last.Index}
	}
}

// TestTradesPages: GET /v1/market/trades lists every trade with its
// seller, price, amount, block time and place, newest first; pages that
// follow the cursor are disjoint and together give each trade once.
func TestTradesPages(t *testing.T) {
	c, want := marketChain(t)
	for _, limit := range []int{1, 2, 5, 100} {
		var got []api.Trade
		for _, p := range pages(t, c.Store, limit) {
			if len(p) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(p))
			}
			got = append(got, p...)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d: %d trades\ngot  %+v\nwant %+v", limit, len(got), got, want)
		}
	}
	// A cursor between two trades of one block.
	page, err := listTrades(c.Store, storeState{c.Store}, api.PageQuery{Before: api.TxCursor{Height: 9, Index: 2}, Limit: 2})
	if err != nil || len(page) != 2 || page[0] != want[5] || page[1] != want[6] {
		t.Fatalf("before 9:2: %+v, %v; want %+v", page, err, want[5:7])
	}
}

// TestOffersAndEvidenceFromIndex: the open offers read back from the kind
// index equal state.Offers, which reads every offer ever made, before and
// after period 0 is settled (which expires its offers, so the walk stops
// at them); evidence pages equal state.EvidenceList, newest first.
func TestOffersAndEvidenceFromIndex(t *testing.T) {
	c, _ := marketChain(t)
	sr := storeState{c.Store}
	check := func(when string, wantOpen int) {
		t.Helper()
		got, err := openOffers(c.Store, sr)
		if err != nil {
			t.Fatal(err)
		}
		want, err := state.Offers(c.State())
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != wantOpen {
			t.Fatalf("%s: %d open offers from the index, want %d:\ngot  %+v\nwant %+v", when, len(got), wantOpen, got, want)
		}
	}
	check("period 0", 12)

	ev, err := listEvidence(c.Store, sr, api.PageQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	all, err := state.EvidenceList(c.State())
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 1 || len(all) != 1 || ev[0].ID != all[0].ID || ev[0].TxHeight != 6 || ev[0].TxIndex != 3 {
		t.Fatalf("evidence %+v, state has %+v", ev, all)
	}
	if ev, err := listEvidence(c.Store, sr, api.PageQuery{Limit: 10, Before: api.TxCursor{Height: 6, Index: 3}}); err != nil || len(ev) != 0 {
		t.Fatalf("evidence before its own place: %+v, %v", ev, err)
	}

	// Close period 0, let its reading window pass, settle it: its offers
	// expire. Then offer again in period 1.
	g0 := c.Genesis.GenesisTime
	for _, step := range []struct {
		lane chain.Lane
		at   time.Duration
	}{{chain.LaneData, 10 * time.Minute}, {chain.LaneTx, 10*time.Minute + time.Second}, {chain.LaneData, 15 * time.Minute}, {chain.LaneTx, 15*time.Minute + time.Second}} {
		var err error
		if step.lane == chain.LaneData {
			_, err = c.DataBlock(g0.Add(step.at))
		} else {
			_, err = c.TxBlock(g0.Add(step.at))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if last, ok, err := state.LastSettledPeriod(c.State()); err != nil || !ok || last != 0 {
		t.Fatalf("last settled period %d %v %v, want 0", last, ok, err)
	}
	check("period 0 settled", 0)
	offer := c.Tx(c.Industry(1), func(tx *chain.Tx) { tx.OfferAllowance = &chain.OfferAllowance{Volume: 5, Price: chain.DropUnit} })
	if _, err := c.TxBlock(g0.Add(16*time.Minute), offer); err != nil {
		t.Fatal(err)
	}
	check("period 1", 1)
}
