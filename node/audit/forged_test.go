package audit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/audit"
	"github.com/waterchain/waterchain/node/audit/audittest"
)

// reseal recomputes a changed block's entries root and certifies it again
// by the set that signs it, so that only the rule broken on purpose is
// broken.
func reseal(t *testing.T, c *audittest.Chain, b *chain.Block) *chain.Block {
	t.Helper()
	b.Header.NumEntries = uint32(b.NumEntries())
	b.Header.EntriesRoot = b.ComputeEntriesRoot()
	vs, err := c.ValidatorSet(b.Header.Lane, b.Header.Height)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Certify(b, vs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readingsLeftOut is a reading source that knows the data chain's blocks
// but none of their readings.
type readingsLeftOut struct{ *store.Store }

func (readingsLeftOut) ReadingsUpTo(chain.PubKey, chain.Time, chain.Time, uint64, func(*chain.Reading) error) error {
	return nil
}

// outsiders certify b: four keys that are no validators.
func outsiders(t *testing.T, c *audittest.Chain, b *chain.Block) *chain.Block {
	t.Helper()
	var keys []chain.PubKey
	for _, n := range []string{"x1", "x2", "x3", "x4"} {
		k := audittest.Key(n)
		c.AddKey(k)
		keys = append(keys, k.Public())
	}
	vs, err := chain.NewValidatorSet(keys)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Certify(b, vs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestForgedBlocks commits, after a valid prefix, one block that is stored
// consistently (it decodes, its entries hash to its root, its certificate
// names it) but breaks one rule, and wants Verify to name the block, the
// entry where there is one, and the check.
func TestForgedBlocks(t *testing.T) {
	type forge func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built
	dataBlock := func(t *testing.T, c *audittest.Chain, at chain.Time, mutate func(b *chain.Block)) *audittest.Built {
		t.Helper()
		rs := []*chain.Reading{
			c.Reading(c.Device(1, 1).Public(), at, nil),
			c.Reading(c.Device(2, 1).Public(), at, nil),
			c.Reading(c.Device(1, 2).Public(), at, nil),
		}
		bt, err := c.Build(chain.LaneData, at, rs, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			mutate(bt.Block)
			bt.Block = reseal(t, c, bt.Block)
		}
		return bt
	}
	txBlock := func(t *testing.T, c *audittest.Chain, at chain.Time, src state.ReadingSource, mutate func(b *chain.Block)) *audittest.Built {
		t.Helper()
		tx := c.Tx(c.Industry(1), func(tx *chain.Tx) {
			tx.Transfer = &chain.Transfer{To: c.Industry(2).Public().Address(), Amount: 5}
		})
		bt, err := c.Build(chain.LaneTx, at, nil, []*chain.Tx{tx}, src)
		if err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			mutate(bt.Block)
			bt.Block = reseal(t, c, bt.Block)
		}
		return bt
	}
	cases := []struct {
		name  string
		lane  chain.Lane
		entry int
		check audit.Check
		is    error
		forge forge
	}{
		{"reading signed by another key", chain.LaneData, 1, audit.CheckSignature, chain.ErrBadSignature, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			return dataBlock(t, c, at, func(b *chain.Block) {
				r := *b.Readings[1]
				r.Sign(c.Genesis.ChainID, audittest.Key("not the meter"))
				b.Readings[1] = &r
			})
		}},
		{"transaction signed for another chain", chain.LaneTx, 0, audit.CheckSignature, chain.ErrBadSignature, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			return txBlock(t, c, at, nil, func(b *chain.Block) {
				tx := *b.Txs[0]
				tx.Sign("another-chain", c.Industry(1))
				b.Txs[0] = &tx
			})
		}},
		{"reading of an unregistered meter", chain.LaneData, 2, audit.CheckExecution, state.ErrUnknownDevice, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			stranger := audittest.Key("stranger-meter")
			c.AddKey(stranger)
			return dataBlock(t, c, at, func(b *chain.Block) {
				b.Readings[2] = c.Reading(stranger.Public(), at, nil)
			})
		}},
		{"replayed reading", chain.LaneData, 2, audit.CheckExecution, state.ErrReplayedSeq, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			return dataBlock(t, c, at, func(b *chain.Block) {
				b.Readings[2] = b.Readings[0]
			})
		}},
		{"wrong state root", chain.LaneData, -1, audit.CheckExecution, state.ErrStateRootMismatch, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			return dataBlock(t, c, at, func(b *chain.Block) { b.Header.StateRoot[0] ^= 1 })
		}},
		{"settlement that left readings out", chain.LaneTx, -1, audit.CheckExecution, state.ErrStateRootMismatch, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			// The proposer settled from a source that lacks every
			// reading: its industries earn nothing, the auditor's do.
			// The data block puts the chain past period 0's reading
			// window, so the tx block settles it.
			settleAt := at + chain.Time(10*time.Minute/time.Millisecond)
			if _, err := c.DataBlock(settleAt - 1000); err != nil {
				t.Fatal(err)
			}
			return txBlock(t, c, settleAt, readingsLeftOut{c.Store}, nil)
		}},
		{"anchor naming another tx block", chain.LaneData, -1, audit.CheckAnchor, chain.ErrBadAnchor, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			return dataBlock(t, c, at, func(b *chain.Block) { b.Header.Anchor.Hash[3] ^= 1 })
		}},
		{"new anchor naming another tx block", chain.LaneData, -1, audit.CheckAnchor, chain.ErrBadAnchor, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			if _, err := c.TxBlock(at - 1); err != nil {
				t.Fatal(err)
			}
			return dataBlock(t, c, at, func(b *chain.Block) { b.Header.Anchor.Hash[3] ^= 1 })
		}},
		{"anchor beyond the tx chain", chain.LaneData, -1, audit.CheckAnchor, chain.ErrBadAnchor, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			return dataBlock(t, c, at, func(b *chain.Block) { b.Header.Anchor.Height += 5 })
		}},
		{"time not after the parent", chain.LaneData, -1, audit.CheckLink, chain.ErrBadLink, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			return dataBlock(t, c, at, func(b *chain.Block) {
				b.Header.Time = c.Head(chain.LaneData).Time
				b.Readings = nil
			})
		}},
		{"header naming another validator set", chain.LaneTx, -1, audit.CheckValidators, nil, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			return txBlock(t, c, at, nil, func(b *chain.Block) { b.Header.ValidatorsHash[0] ^= 1 })
		}},
		{"proposer outside the set", chain.LaneData, -1, audit.CheckValidators, nil, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			return dataBlock(t, c, at, func(b *chain.Block) { b.Header.Proposer = audittest.Key("x1").Public() })
		}},
		{"certificate by strangers", chain.LaneTx, -1, audit.CheckCertificate, nil, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			bt := txBlock(t, c, at, nil, nil)
			bt.Block = outsiders(t, c, bt.Block)
			return bt
		}},
		{"certificate without a quorum", chain.LaneData, -1, audit.CheckCertificate, chain.ErrNoQuorum, func(t *testing.T, c *audittest.Chain, at chain.Time) *audittest.Built {
			bt := dataBlock(t, c, at, nil)
			cert := *bt.Block.Cert
			cert.Sigs = cert.Sigs[:2] // 2 of 4; 3 are needed
			bt.Block = bt.Block.WithCert(&cert)
			return bt
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newChain(t, audittest.Options{Industries: 2, DevicesPerIndustry: 2})
			if err := c.Scenario(5, 2); err != nil {
				t.Fatal(err)
			}
			at := c.Head(chain.LaneData).Time + 60_000
			bt := tc.forge(t, c, at)
			if err := c.Commit(bt); err != nil {
				t.Fatal(err)
			}
			_, err := audit.Verify(c.Store, c.Genesis, audit.VerifyOptions{})
			var f *audit.Failure
			if !errors.As(err, &f) {
				t.Fatalf("Verify = %v, want a failure", err)
			}
			h := bt.Block.Header
			if f.Lane != h.Lane || f.Height != h.Height || f.Entry != tc.entry || f.Check != tc.check {
				t.Fatalf("Verify blames %s/%d entry %d (%s), want %s/%d entry %d (%s): %v", f.Lane, f.Height, f.Entry, f.Check, h.Lane, h.Height, tc.entry, tc.check, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("Verify = %v, want it to wrap %v", err, tc.is)
			}
			t.Log(err)
		})
	}
}

// TestValidatorSetChange runs a chain through a validator-set change
// (validator-4 voted out by the three others) and wants Verify to accept
// blocks certified by the set in force at their height, and to refuse a
// block after the change certified by the old set.
func TestValidatorSetChange(t *testing.T) {
	build := func(t *testing.T, oldSetSignsLast bool) (*audittest.Chain, *chain.Block) {
		c, _ := newChain(t, audittest.Options{})
		if err := c.Scenario(3, 0); err != nil {
			t.Fatal(err)
		}
		leaver := c.Genesis.Validators[3].NodeKey
		var votes []*chain.Tx
		for i := 1; i <= 3; i++ {
			votes = append(votes, c.Tx(c.KeyOf(c.Genesis.Validators[i-1].NodeKey), func(tx *chain.Tx) {
				tx.ValidatorChange = &chain.ValidatorChange{Validator: leaver, Remove: true}
			}))
		}
		at := c.Head(chain.LaneData).Time + 1000
		approval, err := c.TxBlock(at, votes...)
		if err != nil {
			t.Fatal(err)
		}
		// Two more tx blocks: the new set signs tx heights from H+2 on,
		// and data blocks once their parent's anchor reaches it.
		for i := 0; i < 2; i++ {
			at += 1000
			if _, err := c.TxBlock(at); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Scenario(3, 1); err != nil {
			t.Fatal(err)
		}
		vs, err := c.ValidatorSet(chain.LaneTx, c.Head(chain.LaneTx).Height)
		if err != nil {
			t.Fatal(err)
		}
		if vs.Has(leaver) || vs.Size() != 3 {
			t.Fatalf("after approval at tx/%d the set is %d validators", approval.Header.Height, vs.Size())
		}
		at = c.Head(chain.LaneData).Time + 60_000
		bt, err := c.Build(chain.LaneData, at, []*chain.Reading{c.Reading(c.Device(1, 1).Public(), at, nil)}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if oldSetSignsLast {
			old, err := c.ValidatorSet(chain.LaneTx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if bt.Block, err = c.Certify(bt.Block, old); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Commit(bt); err != nil {
			t.Fatal(err)
		}
		return c, bt.Block
	}
	c, _ := build(t, false)
	sum, err := audit.Verify(c.Store, c.Genesis, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.ValidatorSets != 2 {
		t.Errorf("summary counts %d validator sets, want 2", sum.ValidatorSets)
	}

	c, last := build(t, true)
	_, err = audit.Verify(c.Store, c.Genesis, audit.VerifyOptions{})
	var f *audit.Failure
	if !errors.As(err, &f) || f.Lane != chain.LaneData || f.Height != last.Header.Height || f.Check != audit.CheckCertificate {
		t.Fatalf("Verify = %v, want data/%d refused for its certificate", err, last.Header.Height)
	}
	t.Log(err)
}
