package state

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// txCase applies one transaction to a fresh fixture (after setup) in a block
// at one minute past genesis, and checks the outcome. Failing cases must
// leave the block's state exactly as it was.
type txCase struct {
	name    string
	setup   func(f *fixture)
	tx      func(f *fixture) *chain.Tx
	want    error
	msg     string // substring of the error message
	check   func(t *testing.T, f *fixture, r Reader)
	blockAt time.Duration
}

func runTxCases(t *testing.T, cases []txCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			when := tc.blockAt
			if when == 0 {
				when = time.Minute
			}
			b := f.builder(at(when))
			before, err := Root(b.View().Reader(), []byte(TxPrefix))
			if err != nil {
				t.Fatal(err)
			}
			err = b.Add(tc.tx(f))
			wantErr(t, err, tc.want)
			if err != nil {
				if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
				after, rerr := Root(b.View().Reader(), []byte(TxPrefix))
				if rerr != nil {
					t.Fatal(rerr)
				}
				if after != before {
					t.Errorf("rejected transaction changed the state")
				}
				if len(b.Txs()) != 0 {
					t.Errorf("rejected transaction kept in the block")
				}
				return
			}
			if tc.check != nil {
				tc.check(t, f, b.View().Reader())
			}
		})
	}
}

func acctOf(t *testing.T, r Reader, name string) *AccountInfo {
	t.Helper()
	a, err := GetAccount(r, addr(name))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func industryOf(t *testing.T, r Reader, name string) *IndustryInfo {
	t.Helper()
	ind, err := GetIndustry(r, addr(name))
	if err != nil {
		t.Fatal(err)
	}
	return ind
}

func TestTransfer(t *testing.T) {
	runTxCases(t, []txCase{
		{name: "valid", tx: func(f *fixture) *chain.Tx { return f.transfer("saver", "carol", 7*drop) },
			check: func(t *testing.T, f *fixture, r Reader) {
				if got := acctOf(t, r, "saver"); got.Balance != 993*drop || got.Nonce != 1 {
					t.Errorf("sender %+v, want 993 drops nonce 1", got)
				}
				if got := acctOf(t, r, "carol"); got.Balance != 57*drop {
					t.Errorf("recipient %d, want 57 drops", got.Balance)
				}
			}},
		{name: "to a new account", tx: func(f *fixture) *chain.Tx { return f.transfer("carol", "dave", 50*drop) },
			check: func(t *testing.T, f *fixture, r Reader) {
				if got := acctOf(t, r, "dave"); got.Balance != 50*drop || got.Nonce != 0 {
					t.Errorf("dave %+v", got)
				}
			}},
		{name: "insufficient drops", tx: func(f *fixture) *chain.Tx { return f.transfer("carol", "saver", 50*drop+1) },
			want: ErrInsufficientFunds, msg: "balance 50 drops, transfer needs 50.000001 drops"},
		{name: "from an empty account", tx: func(f *fixture) *chain.Tx { return f.transfer("dave", "saver", 1) },
			want: ErrInsufficientFunds, msg: "balance 0 drops"},
		{name: "zero amount", tx: func(f *fixture) *chain.Tx { return f.transfer("saver", "carol", 0) }, want: ErrZeroAmount},
		{name: "nonce reused", setup: func(f *fixture) { f.mustTxBlock(at(time.Second), f.transfer("saver", "carol", 1)) },
			tx: func(f *fixture) *chain.Tx {
				tx := &chain.Tx{From: key("saver").Public(), Nonce: 1, Transfer: &chain.Transfer{To: addr("carol"), Amount: 1}}
				tx.Sign(f.g.ChainID, key("saver"))
				return tx
			}, want: ErrBadNonce, msg: "nonce 1, but the next nonce of"},
		{name: "nonce skipped", tx: func(f *fixture) *chain.Tx {
			return f.tx("saver", 1, func(tx *chain.Tx) { tx.Transfer = &chain.Transfer{To: addr("carol"), Amount: 1} })
		}, want: ErrBadNonce, msg: "nonce 2"},
		{name: "malformed: no body", tx: func(f *fixture) *chain.Tx { return f.tx("saver", 0, func(*chain.Tx) {}) }, want: ErrMalformedTx},
		{name: "malformed: unsigned", tx: func(f *fixture) *chain.Tx {
			return &chain.Tx{From: key("saver").Public(), Nonce: 1, Transfer: &chain.Transfer{To: addr("carol"), Amount: 1}}
		}, want: ErrMalformedTx},
		{name: "nil", tx: func(f *fixture) *chain.Tx { return nil }, want: ErrMalformedTx},
	})
}

// TestTransferOverflow builds a state no genesis allows (balances whose sum
// exceeds 64 bits) to show the recipient's balance is checked, not wrapped.
func TestTransferOverflow(t *testing.T) {
	f := newFixture(t)
	o := newOverlay(f.store)
	putRecord(o, accountKey(addr("carol")), &Account{Balance: math.MaxUint64 - 5})
	f.store.Apply(o.changes())
	b := f.builder(at(time.Minute))
	err := b.Add(f.transfer("saver", "carol", 6))
	wantErr(t, err, ErrOverflow)
	if !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("error %q does not explain the overflow", err)
	}
}

func TestRegisterDevice(t *testing.T) {
	register := func(from, dev string) func(f *fixture) *chain.Tx {
		return func(f *fixture) *chain.Tx {
			return f.tx(from, 0, func(tx *chain.Tx) {
				tx.RegisterDevice = &chain.RegisterDevice{Device: key(dev).Public(), Label: "second outfall"}
			})
		}
	}
	runTxCases(t, []txCase{
		{name: "valid", tx: register("saver", "saver-meter-2"), check: func(t *testing.T, f *fixture, r Reader) {
			d, err := GetDevice(r, key("saver-meter-2").Public())
			if err != nil {
				t.Fatal(err)
			}
			if d.Owner != addr("saver") || d.RegisteredHeight != 1 || d.RegisteredTime != at(time.Minute) || !d.Active || d.Label != "second outfall" {
				t.Errorf("device %+v", d)
			}
		}},
		{name: "not an industry", tx: register("carol", "carol-meter"), want: ErrNotIndustry, msg: "only industries register devices"},
		{name: "already registered to another", tx: register("hog", "saver-meter"), want: ErrDeviceExists, msg: "registered to"},
		{name: "revoked key", setup: func(f *fixture) {
			f.mustTxBlock(at(time.Second), f.tx("saver", 0, func(tx *chain.Tx) { tx.RevokeDevice = &chain.RevokeDevice{Device: key("saver-meter").Public()} }))
		}, tx: register("saver", "saver-meter"), want: ErrDeviceExists, msg: "never registered again"},
		{name: "label too long", tx: func(f *fixture) *chain.Tx {
			return f.tx("saver", 0, func(tx *chain.Tx) {
				tx.RegisterDevice = &chain.RegisterDevice{Device: key("x").Public(), Label: strings.Repeat("x", chain.MaxLabelLen+1)}
			})
		}, want: ErrMalformedTx},
	})
}

func TestRevokeDevice(t *testing.T) {
	revoke := func(from, dev string) func(f *fixture) *chain.Tx {
		return func(f *fixture) *chain.Tx {
			return f.tx(from, 0, func(tx *chain.Tx) { tx.RevokeDevice = &chain.RevokeDevice{Device: key(dev).Public()} })
		}
	}
	revoked := func(by string) func(t *testing.T, f *fixture, r Reader) {
		return func(t *testing.T, f *fixture, r Reader) {
			d, err := GetDevice(r, key("saver-meter").Public())
			if err != nil {
				t.Fatal(err)
			}
			if d.Active || d.RevokedHeight != 1 || d.RevokedBy != addr(by) {
				t.Errorf("device %+v", d)
			}
			if !d.ActiveAt(0) || d.ActiveAt(1) {
				t.Errorf("ActiveAt: active at 0 and revoked from 1 expected")
			}
		}
	}
	runTxCases(t, []txCase{
		{name: "by owner", tx: revoke("saver", "saver-meter"), check: revoked("saver")},
		{name: "by regulator", tx: revoke("regulator", "saver-meter"), check: revoked("regulator")},
		{name: "another industry's device", tx: revoke("hog", "saver-meter"), want: ErrNotAllowed, msg: "only its owner or a regulator"},
		{name: "unknown device", tx: revoke("saver", "nobody"), want: ErrUnknownDevice},
		{name: "twice", setup: func(f *fixture) { f.mustTxBlock(at(time.Second), revoke("saver", "saver-meter")(f)) },
			tx: revoke("regulator", "saver-meter"), want: ErrDeviceRevoked, msg: "already revoked at tx height 1"},
	})
}

func TestSetPermit(t *testing.T) {
	permit := func(from, industry string, allowance uint64, limits chain.Limits) func(f *fixture) *chain.Tx {
		return func(f *fixture) *chain.Tx {
			return f.tx(from, 0, func(tx *chain.Tx) {
				tx.SetPermit = &chain.SetPermit{Industry: addr(industry), Allowance: allowance, Limits: limits}
			})
		}
	}
	newLimits := chain.Limits{Conductivity: 15000}
	runTxCases(t, []txCase{
		{name: "valid: takes effect next period", tx: permit("regulator", "hog", 1400, newLimits),
			check: func(t *testing.T, f *fixture, r Reader) {
				ind := industryOf(t, r, "hog")
				if ind.Permit.Allowance != 1000 || ind.Allowance != 1000 || ind.NextPermit == nil || ind.NextPermit.Allowance != 1400 || ind.NextPermit.Limits != newLimits {
					t.Errorf("industry %+v", ind)
				}
			}},
		{name: "by an industry", tx: permit("hog", "hog", 5000, testLimits), want: ErrNotAllowed, msg: "only a regulator may set permits"},
		{name: "unknown industry", tx: permit("regulator", "carol", 10, testLimits), want: ErrUnknownIndustry},
		{name: "negative limit", tx: permit("regulator", "hog", 10, chain.Limits{Turbidity: -1}), want: ErrMalformedTx},
		{name: "overflowing allowance", tx: permit("regulator", "hog", math.MaxUint64/999, testLimits), want: ErrOverflow},
	})
}

// offerSetup has the saver offer 300 L at 0.5 drops per litre in block 1;
// it returns the offer id through *id.
func offerSetup(id *chain.Hash) func(f *fixture) {
	return func(f *fixture) {
		tx := f.offer("saver", 0, 300, drop/2)
		*id = tx.Hash()
		f.mustTxBlock(at(time.Second), tx)
	}
}

func TestOfferAllowance(t *testing.T) {
	runTxCases(t, []txCase{
		{name: "valid", tx: func(f *fixture) *chain.Tx { return f.offer("saver", 0, 300, drop/2) },
			check: func(t *testing.T, f *fixture, r Reader) {
				ind := industryOf(t, r, "saver")
				if ind.Escrow != 300 || ind.Unoffered != 700 || ind.AllowanceAfterTrades != 1000 {
					t.Errorf("industry %+v", ind)
				}
				offers, err := Offers(r)
				if err != nil || len(offers) != 1 {
					t.Fatalf("offers %v, %v", offers, err)
				}
				if o := offers[0]; o.Seller != addr("saver") || o.Remaining != 300 || o.Price != drop/2 || o.Status != OfferOpen || o.Period != 0 {
					t.Errorf("offer %+v", o)
				}
			}},
		{name: "all of it", tx: func(f *fixture) *chain.Tx { return f.offer("saver", 0, 1000, 1) }},
		{name: "more than unused", setup: func(f *fixture) { f.mustTxBlock(at(time.Second), f.offer("saver", 0, 800, 1)) },
			tx:   func(f *fixture) *chain.Tx { return f.offer("saver", 0, 300, 1) },
			want: ErrInsufficientAllowance, msg: "200 L unused this period (1000 L after trades, 800 L already on offer), the offer needs 300 L"},
		{name: "not an industry", tx: func(f *fixture) *chain.Tx { return f.offer("carol", 0, 1, 1) }, want: ErrNotIndustry},
		{name: "zero volume", tx: func(f *fixture) *chain.Tx { return f.offer("saver", 0, 0, 1) }, want: ErrZeroAmount},
		{name: "zero price", tx: func(f *fixture) *chain.Tx { return f.offer("saver", 0, 10, 0) }, want: ErrZeroAmount},
		{name: "overflowing value", tx: func(f *fixture) *chain.Tx { return f.offer("saver", 0, 1000, math.MaxUint64/999) }, want: ErrOverflow},
	})
}

func TestAcceptOffer(t *testing.T) {
	var id chain.Hash
	runTxCases(t, []txCase{
		{name: "partial fill", setup: offerSetup(&id), tx: func(f *fixture) *chain.Tx { return f.accept("buyer", 0, id, 250) },
			check: func(t *testing.T, f *fixture, r Reader) {
				if b := acctOf(t, r, "buyer").Balance; b != 875*drop {
					t.Errorf("buyer balance %s, want 875 drops", FormatDrops(b))
				}
				if b := acctOf(t, r, "saver").Balance; b != 1125*drop {
					t.Errorf("seller balance %s, want 1125 drops", FormatDrops(b))
				}
				if s := industryOf(t, r, "saver"); s.Sold != 250 || s.Escrow != 50 || s.AllowanceAfterTrades != 750 || s.Unoffered != 700 {
					t.Errorf("seller %+v", s)
				}
				if b := industryOf(t, r, "buyer"); b.Bought != 250 || b.AllowanceAfterTrades != 1250 {
					t.Errorf("buyer %+v", b)
				}
				o, err := GetOffer(r, id)
				if err != nil || o.Remaining != 50 || o.Status != OfferOpen {
					t.Errorf("offer %+v %v", o, err)
				}
			}},
		{name: "full fill", setup: offerSetup(&id), tx: func(f *fixture) *chain.Tx { return f.accept("buyer", 0, id, 300) },
			check: func(t *testing.T, f *fixture, r Reader) {
				o, err := GetOffer(r, id)
				if err != nil || o.Remaining != 0 || o.Status != OfferFilled || o.ClosedHeight != 2 {
					t.Errorf("offer %+v %v", o, err)
				}
				if offers, _ := Offers(r); len(offers) != 0 {
					t.Errorf("filled offer still listed as open")
				}
			}},
		{name: "own offer", setup: offerSetup(&id), tx: func(f *fixture) *chain.Tx { return f.accept("saver", 0, id, 10) },
			want: ErrOwnOffer, msg: "cannot accept it"},
		{name: "more than offered", setup: offerSetup(&id), tx: func(f *fixture) *chain.Tx { return f.accept("buyer", 0, id, 301) },
			want: ErrOfferExceeded, msg: "buying 301 L, but offer"},
		{name: "insufficient drops", setup: func(f *fixture) {
			tx := f.offer("saver", 0, 300, 4*drop)
			id = tx.Hash()
			f.mustTxBlock(at(time.Second), tx)
		}, tx: func(f *fixture) *chain.Tx { return f.accept("buyer", 0, id, 251) },
			want: ErrInsufficientFunds, msg: "balance 1000 drops, buying 251 L at 4 drops per litre needs 1004 drops"},
		{name: "expired offer", setup: offerSetup(&id), blockAt: 10 * time.Minute,
			tx: func(f *fixture) *chain.Tx { return f.accept("buyer", 0, id, 10) }, want: ErrOfferExpired, msg: "which has ended"},
		{name: "cancelled offer", setup: func(f *fixture) {
			offerSetup(&id)(f)
			f.mustTxBlock(at(2*time.Second), f.cancel("saver", 0, id))
		}, tx: func(f *fixture) *chain.Tx { return f.accept("buyer", 0, id, 10) }, want: ErrOfferClosed, msg: "cancelled"},
		{name: "unknown offer", tx: func(f *fixture) *chain.Tx { return f.accept("buyer", 0, chain.HashBytes([]byte("x")), 10) },
			want: ErrOfferNotFound},
		{name: "buyer not an industry", setup: offerSetup(&id), tx: func(f *fixture) *chain.Tx { return f.accept("carol", 0, id, 10) },
			want: ErrNotIndustry},
		{name: "zero volume", setup: offerSetup(&id), tx: func(f *fixture) *chain.Tx { return f.accept("buyer", 0, id, 0) },
			want: ErrZeroAmount},
	})
}

func TestCancelOffer(t *testing.T) {
	var id chain.Hash
	runTxCases(t, []txCase{
		{name: "valid", setup: offerSetup(&id), tx: func(f *fixture) *chain.Tx { return f.cancel("saver", 0, id) },
			check: func(t *testing.T, f *fixture, r Reader) {
				if s := industryOf(t, r, "saver"); s.Escrow != 0 || s.Unoffered != 1000 {
					t.Errorf("seller %+v", s)
				}
				if o, _ := GetOffer(r, id); o.Status != OfferCancelled {
					t.Errorf("offer %+v", o)
				}
			}},
		{name: "someone else's", setup: offerSetup(&id), tx: func(f *fixture) *chain.Tx { return f.cancel("buyer", 0, id) },
			want: ErrNotAllowed, msg: "only its seller may cancel it"},
		{name: "twice", setup: func(f *fixture) {
			offerSetup(&id)(f)
			f.mustTxBlock(at(2*time.Second), f.cancel("saver", 0, id))
		}, tx: func(f *fixture) *chain.Tx { return f.cancel("saver", 0, id) }, want: ErrOfferClosed},
		{name: "expired", setup: offerSetup(&id), blockAt: 11 * time.Minute,
			tx: func(f *fixture) *chain.Tx { return f.cancel("saver", 0, id) }, want: ErrOfferExpired},
	})
}

func TestOffersExpireAtPeriodEnd(t *testing.T) {
	f := newFixture(t)
	var id chain.Hash
	offerSetup(&id)(f)
	f.mustTxBlock(at(2*time.Second), f.accept("buyer", 0, id, 100))
	if s := f.industry("saver"); s.Escrow != 200 {
		t.Fatalf("escrow %d, want 200", s.Escrow)
	}
	f.mustTxBlock(at(10 * time.Minute)) // period 1 opens
	o, err := GetOffer(f.store, id)
	if err != nil || o.Status != OfferExpired || o.Remaining != 200 || o.ClosedHeight != 3 {
		t.Fatalf("offer %+v %v", o, err)
	}
	s := f.industry("saver")
	if s.Escrow != 0 || s.Sold != 0 || s.Allowance != 1000 || s.Period != 1 {
		t.Errorf("saver in period 1: %+v", s)
	}
	// Closed, not settled: a reading of period 0 may still arrive until
	// the data chain is 30 s (the reading window) past its end.
	if _, err := Settlements(f.store, 0); !errors.Is(err, ErrNoSuchPeriod) {
		t.Fatalf("period 0 settled before the reading window after it passed: %v", err)
	}
	f.mustDataBlock(at(10*time.Minute + 30*time.Second))
	f.mustTxBlock(at(10*time.Minute + 31*time.Second))
	recs, err := Settlements(f.store, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Name == "saver" && (r.Sold != 100 || r.AllowanceAfterTrades != 900) {
			t.Errorf("saver settled with %+v, want 100 L sold and 900 L after trades", r)
		}
	}
}

func TestEvidence(t *testing.T) {
	vote := func(signer string, block string) *chain.Vote {
		v := &chain.Vote{Type: chain.Precommit, Lane: chain.LaneTx, Height: 5, Round: 0, BlockHash: chain.HashBytes([]byte(block)), Validator: key(signer).Public()}
		v.Sign("waterchain-test", key(signer))
		return v
	}
	ev := func(signer string) *chain.Evidence {
		return &chain.Evidence{VoteA: vote(signer, "a"), VoteB: vote(signer, "b")}
	}
	submit := func(e *chain.Evidence) func(f *fixture) *chain.Tx {
		return func(f *fixture) *chain.Tx { return f.tx("carol", 0, func(tx *chain.Tx) { tx.Evidence = e }) }
	}
	forged := ev("v2")
	forged.VoteB.Sig = append(chain.Signature(nil), forged.VoteA.Sig...)
	runTxCases(t, []txCase{
		{name: "valid", tx: submit(ev("v2")), check: func(t *testing.T, f *fixture, r Reader) {
			list, err := EvidenceList(r)
			if err != nil || len(list) != 1 {
				t.Fatalf("evidence %v %v", list, err)
			}
			if e := list[0]; e.Offender != key("v2").Public() || e.Lane != chain.LaneTx || e.Height != 5 || e.Reporter != addr("carol") || e.TxHeight != 1 {
				t.Errorf("record %+v", e)
			}
		}},
		{name: "duplicate", setup: func(f *fixture) { f.mustTxBlock(at(time.Second), submit(ev("v2"))(f)) },
			tx: submit(&chain.Evidence{VoteA: ev("v2").VoteB, VoteB: ev("v2").VoteA}), want: ErrDuplicateEvidence},
		{name: "not a validator", tx: submit(ev("carol")), want: ErrBadEvidence, msg: "never been a validator"},
		{name: "bad signature", tx: submit(forged), want: ErrBadEvidence},
		{name: "not conflicting", tx: submit(&chain.Evidence{VoteA: vote("v2", "a"), VoteB: vote("v2", "a")}), want: ErrMalformedTx},
	})
}
