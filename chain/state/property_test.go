package state

import (
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"pgregory.net/rapid"
)

// sums are the conserved quantities of a state.
type sums struct {
	balances       uint64 // Σ account balances
	supply         uint64 // genesis supply + minted
	afterTrades    uint64 // Σ industries' allowance after trades
	base           uint64 // Σ industries' permit allowance for the period
	escrow         uint64 // Σ industries' escrow
	openRemaining  uint64 // Σ open offers' remaining litres
	escrowBySeller map[chain.Address]uint64
	openBySeller   map[chain.Address]uint64
}

func conserved(t *rapid.T, r Reader, meta TxMeta) sums {
	s := sums{escrowBySeller: map[chain.Address]uint64{}, openBySeller: map[chain.Address]uint64{}}
	s.supply = meta.GenesisSupply + meta.Minted
	err := r.Iterate([]byte(pfxAccount), func(k, v []byte) error {
		var a Account
		if err := decodeRecord(v, &a); err != nil {
			return err
		}
		s.balances += a.Balance
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	inds, err := Industries(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, ind := range inds {
		s.afterTrades += ind.AllowanceAfterTrades
		s.base += ind.Allowance
		s.escrow += ind.Escrow
		s.escrowBySeller[ind.Address] = ind.Escrow
	}
	offers, err := Offers(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offers {
		s.openRemaining += o.Remaining
		s.openBySeller[o.Seller] += o.Remaining
	}
	return s
}

func checkConserved(t *rapid.T, where string, s sums) {
	if s.balances != s.supply {
		t.Fatalf("%s: drops not conserved: balances %d, genesis + minted %d", where, s.balances, s.supply)
	}
	if s.afterTrades != s.base {
		t.Fatalf("%s: allowance not conserved by trades: Σ after trades %d, Σ permit allowance %d", where, s.afterTrades, s.base)
	}
	if s.escrow != s.openRemaining {
		t.Fatalf("%s: escrow %d L, open offers hold %d L", where, s.escrow, s.openRemaining)
	}
	for a, e := range s.escrowBySeller {
		if s.openBySeller[a] != e {
			t.Fatalf("%s: %s escrow %d L, its open offers hold %d L", where, short(a), e, s.openBySeller[a])
		}
	}
}

// TestPropertyConservation runs random transaction sequences (valid and
// not) over blocks crossing period boundaries, with random meter readings,
// and checks after every transaction and block: drops are conserved
// (genesis + minted = Σ balances; drops are never escrowed), allowance is
// conserved by trades, offers' escrow matches their sellers', and a
// rejected transaction leaves the state unchanged.
func TestPropertyConservation(t *testing.T) {
	names := []string{"saver", "hog", "buyer", "carol", "dave"}
	industries := []string{"saver", "hog", "buyer"}
	var minted, accepted, rejected int // the sequences must exercise these
	rapid.Check(t, func(rt *rapid.T) {
		f := newFixture(t)
		now := at(0)
		seq := map[string]uint64{}
		var offerIDs []chain.Hash
		pending := map[string]uint64{}
		nextTx := func(name string, fill func(*chain.Tx)) *chain.Tx {
			tx := &chain.Tx{From: key(name).Public(), Nonce: f.nonce(name) + pending[name]}
			fill(tx)
			tx.Sign(f.g.ChainID, key(name))
			return tx
		}
		steps := rapid.IntRange(1, 12).Draw(rt, "blocks")
		for blk := 0; blk < steps; blk++ {
			now = now.Add(time.Duration(rapid.IntRange(1, 360).Draw(rt, "seconds")) * time.Second)
			// Meter readings up to now, recorded in a data block.
			var rds []*chain.Reading
			for _, ind := range industries {
				n := rapid.IntRange(0, 4).Draw(rt, "readings")
				for i := 0; i < n; i++ {
					seq[ind]++
					rd := f.reading(ind+"-meter", seq[ind], now.Add(-time.Duration(n-i)*time.Second), int64(rapid.IntRange(0, 400).Draw(rt, "litres")), int64(rapid.IntRange(10000, 25000).Draw(rt, "cond")))
					rds = append(rds, rd)
				}
			}
			f.dataHeight++
			if err := f.src.Add(f.dataHeight, now, rds...); err != nil {
				rt.Fatal(err)
			}

			b, err := NewTxBuilder(f.store, f.src, f.g, f.txHeader(now))
			if err != nil {
				rt.Fatal(err)
			}
			checkConserved(rt, "after settlement", conserved(rt, b.View().Reader(), b.View().meta))
			clear(pending)
			ntx := rapid.IntRange(0, 10).Draw(rt, "txs")
			for i := 0; i < ntx; i++ {
				var tx *chain.Tx
				from := rapid.SampledFrom(names).Draw(rt, "from")
				switch rapid.IntRange(0, 4).Draw(rt, "kind") {
				case 0:
					to := rapid.SampledFrom(names).Draw(rt, "to")
					amount := rapid.Uint64Range(0, 1200*drop).Draw(rt, "amount")
					tx = nextTx(from, func(tx *chain.Tx) { tx.Transfer = &chain.Transfer{To: addr(to), Amount: amount} })
				case 1:
					vol := rapid.Uint64Range(0, 1300).Draw(rt, "volume")
					price := rapid.Uint64Range(0, 3*drop).Draw(rt, "price")
					tx = nextTx(from, func(tx *chain.Tx) { tx.OfferAllowance = &chain.OfferAllowance{Volume: vol, Price: price} })
				case 2, 3:
					if len(offerIDs) == 0 {
						continue
					}
					id := rapid.SampledFrom(offerIDs).Draw(rt, "offer")
					vol := rapid.Uint64Range(0, 600).Draw(rt, "buy")
					tx = nextTx(from, func(tx *chain.Tx) { tx.AcceptOffer = &chain.AcceptOffer{Offer: id, Volume: vol} })
				case 4:
					if len(offerIDs) == 0 {
						continue
					}
					id := rapid.SampledFrom(offerIDs).Draw(rt, "cancel")
					tx = nextTx(from, func(tx *chain.Tx) { tx.CancelOffer = &chain.CancelOffer{Offer: id} })
				}
				before, err := Root(b.View().Reader(), []byte(TxPrefix))
				if err != nil {
					rt.Fatal(err)
				}
				if err := b.Add(tx); err != nil {
					rejected++
					after, _ := Root(b.View().Reader(), []byte(TxPrefix))
					if after != before {
						rt.Fatalf("rejected %s (%v) changed the state", tx.Kind(), err)
					}
				} else {
					pending[from]++
					if tx.AcceptOffer != nil {
						accepted++
					}
					if tx.OfferAllowance != nil {
						offerIDs = append(offerIDs, tx.Hash())
					}
				}
				checkConserved(rt, "after "+string(tx.Kind()), conserved(rt, b.View().Reader(), b.View().meta))
			}
			// The block as built executes to the same state.
			changes, root, err := b.Finish()
			if err != nil {
				rt.Fatal(err)
			}
			_, root2, err := ExecuteTxBlock(f.store, f.src, f.g, f.txHeader(now), b.Txs())
			if err != nil || root2 != root {
				rt.Fatalf("re-executing the built block: %v (roots equal: %v)", err, root == root2)
			}
			f.store.Apply(changes)
			f.txHeight++
			meta, err := GetTxMeta(f.store)
			if err != nil {
				rt.Fatal(err)
			}
			checkConserved(rt, "committed", conserved(rt, f.store, *meta))
			if meta.Minted > 0 {
				minted++
			}
		}
	})
	// Whether the random sequences reached minting is a statistical
	// property of the generator: with -short rapid runs a fifth of its
	// checks (20), and 2–21 blocks after minting were counted in 18 such
	// runs, once 0 (the race step of CI). The full run (100 checks) holds
	// the generator to it; every check above holds in both.
	if !testing.Short() && (minted == 0 || accepted == 0 || rejected == 0) {
		t.Errorf("sequences did not exercise the state machine: %d blocks after minting, %d accepted offers, %d rejected txs", minted, accepted, rejected)
	}
	t.Logf("%d blocks after minting, %d accepted offers, %d rejected txs", minted, accepted, rejected)
}
