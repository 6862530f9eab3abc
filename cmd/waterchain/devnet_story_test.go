package main

import (
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/alerts"
)

// TestStoryMarketDecisions: the market script's next transaction follows
// from the state alone — so a resumed devnet, or one where someone else
// traded meanwhile, neither repeats nor skips a step. Each case starts from
// a state and names the transaction it must give.
func TestStoryMarketDecisions(t *testing.T) {
	addr := func(b byte) chain.Address { return chain.Address{b} }
	seller1, seller2, buyer1, buyer2 := addr(1), addr(2), addr(3), addr(4)
	s := &devnetStory{industries: []storyIndustry{
		{name: "S1", addr: seller1, seller: true, price: 2000},
		{name: "B1", addr: buyer1},
		{name: "S2", addr: seller2, seller: true, price: 2500},
		{name: "B2", addr: buyer2},
	}}
	fresh := func() []storyIndustryState {
		return []storyIndustryState{
			{Address: seller1, Allowance: 1000, Unoffered: 1000},
			{Address: buyer1, Allowance: 800, Unoffered: 800},
			{Address: seller2, Allowance: 500, Unoffered: 500},
			{Address: buyer2, Allowance: 600, Unoffered: 600},
		}
	}
	offer := func(seller chain.Address, id byte, price, remaining uint64, period int64) storyOffer {
		return storyOffer{ID: chain.Hash{id}, Seller: seller, Price: price, Remaining: remaining, Period: period, Status: "open"}
	}
	for _, c := range []struct {
		name   string
		change func(inds []storyIndustryState) []storyIndustryState
		offers []storyOffer
		from   string
		offer  uint64 // volume of the expected offer, or
		accept byte   // id of the expected accepted offer
		volume uint64 // litres accepted
	}{
		{name: "fresh period: the first seller offers a tenth", from: "S1", offer: 100},
		{name: "first seller has an open offer: the second offers", offers: []storyOffer{offer(seller1, 1, 2000, 100, 0)}, from: "S2", offer: 50},
		{name: "first seller sold out (no open offer, sold > 0): not again",
			change: func(i []storyIndustryState) []storyIndustryState { i[0].Sold = 100; return i }, from: "S2", offer: 50},
		{name: "seller's allowance all in escrow: no offer",
			change: func(i []storyIndustryState) []storyIndustryState { i[0].Unoffered, i[2].Unoffered = 50, 10; return i }},
		{name: "both offers open: the first buyer takes half the cheapest, up to a tenth of its allowance",
			offers: []storyOffer{offer(seller2, 2, 2500, 50, 0), offer(seller1, 1, 2000, 100, 0)}, from: "B1", accept: 1, volume: 50},
		{name: "first buyer bought: the second buys",
			change: func(i []storyIndustryState) []storyIndustryState { i[1].Bought = 50; return i },
			offers: []storyOffer{offer(seller1, 1, 2000, 50, 0), offer(seller2, 2, 2500, 50, 0)}, from: "B2", accept: 1, volume: 25},
		{name: "a buyer's tenth is smaller than half the offer",
			change: func(i []storyIndustryState) []storyIndustryState { i[1].Allowance = 30; return i },
			offers: []storyOffer{offer(seller1, 1, 2000, 100, 0), offer(seller2, 2, 2500, 50, 0)}, from: "B1", accept: 1, volume: 3},
		{name: "an offer of a past period is not bought",
			change: func(i []storyIndustryState) []storyIndustryState {
				for k := range i {
					i[k].Period = 1
				}
				i[0].Sold, i[2].Sold = 1, 1
				return i
			},
			offers: []storyOffer{offer(seller1, 1, 2000, 100, 0)}},
		{name: "everyone traded: nothing",
			change: func(i []storyIndustryState) []storyIndustryState {
				i[1].Bought, i[3].Bought = 1, 1
				return i
			},
			offers: []storyOffer{offer(seller1, 1, 2000, 100, 0), offer(seller2, 2, 2500, 50, 0)}},
	} {
		inds := fresh()
		if c.change != nil {
			inds = c.change(inds)
		}
		tx, who, what := s.nextMarketTx(inds, c.offers)
		switch {
		case c.from == "":
			if tx != nil {
				t.Errorf("%s: got %s %s, want nothing", c.name, who.name, what)
			}
		case tx == nil:
			t.Errorf("%s: got nothing, want a transaction of %s", c.name, c.from)
		case who.name != c.from:
			t.Errorf("%s: %s %s, want a transaction of %s", c.name, who.name, what, c.from)
		case c.offer != 0 && (tx.OfferAllowance == nil || tx.OfferAllowance.Volume != c.offer || tx.OfferAllowance.Price != who.price):
			t.Errorf("%s: %s %s, want an offer of %d L at %d", c.name, who.name, what, c.offer, who.price)
		case c.accept != 0 && (tx.AcceptOffer == nil || tx.AcceptOffer.Offer != chain.Hash{c.accept} || tx.AcceptOffer.Volume != c.volume):
			t.Errorf("%s: %s %s, want to accept %d L of offer %d", c.name, who.name, what, c.volume, c.accept)
		}
	}
}

// TestStoryLeakTiming: on a devnet's alert day (2 minutes, night
// 22:00–05:00, one night learnt), whatever the phase of the day the devnet
// starts in, the leak alert is predicted within 4½ minutes of the start —
// the story's promise of "everything within five minutes".
func TestStoryLeakTiming(t *testing.T) {
	th := alerts.DefaultThresholds()
	th.DayLength = (2 * time.Minute).Milliseconds()
	th.NightStart, th.NightEnd = 22*3_600_000, 5*3_600_000
	th.LeakLearnNights = 1
	s := &devnetStory{th: th, interval: 10 * time.Second}
	day := time.Unix(1_764_000_000, 0).Truncate(2 * time.Minute)
	worst := time.Duration(0)
	for off := time.Duration(0); off < 2*time.Minute; off += time.Second {
		start := day.Add(off)
		n := s.nightFrom(start)
		ns, ne := th.NightBounds(n)
		if in := !start.Before(ns.Std()) && start.Before(ne.Std()); !in && !ns.Std().After(start) {
			t.Fatalf("start %s: nightFrom gave night %d (%s–%s), neither holding nor after it", off, n, ns.Std(), ne.Std())
		}
		worst = max(worst, s.predictLeakAlert(start).Sub(start))
	}
	if worst > 4*time.Minute+30*time.Second {
		t.Errorf("the leak alert comes up to %s after the start, want within 4m30s", worst)
	}
	t.Logf("leak alert at most %s after the start", worst)
}
