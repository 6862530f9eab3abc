package consensus

import (
	"errors"
	"fmt"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// instantNet runs engines with every message delivered at once, in
// order, and every block valid: the engine alone, with no network cost.
type instantNet struct {
	t       testing.TB
	sets    ValidatorSetFunc
	keys    []*chain.PrivateKey
	engines []*Engine
	commits map[uint64]*chain.Block // agreed block per height
	queue   []queued
	sent    int // broadcasts
	deliv   int // deliveries (Step calls)
}

type queued struct {
	to  int
	msg Message
}

func newInstantNet(t testing.TB, keys []*chain.PrivateKey, sets ValidatorSetFunc) *instantNet {
	n := &instantNet{t: t, sets: sets, keys: keys, commits: map[uint64]*chain.Block{}}
	for _, k := range keys {
		e, err := NewEngine(Config{ChainID: testChainID, Lane: chain.LaneTx, Key: k, ValidatorSetFor: sets, Timeouts: testTimeouts, WAL: NewMemWAL()})
		if err != nil {
			t.Fatal(err)
		}
		n.engines = append(n.engines, e)
	}
	for i, e := range n.engines {
		n.check(e.Start(1))
		n.drain(i)
	}
	return n
}

func (n *instantNet) check(err error) {
	if err != nil && !errors.Is(err, ErrStale) {
		n.t.Fatal(err)
	}
}

// drain handles engine i's outputs; timers are never needed, since every
// round-0 proposal arrives before any timeout would.
func (n *instantNet) drain(i int) {
	e := n.engines[i]
	for e.HasReady() {
		rd := e.Ready()
		for _, m := range rd.Messages {
			n.sent++
			for to := range n.engines {
				if to != i {
					n.queue = append(n.queue, queued{to, m})
				}
			}
		}
		for _, b := range rd.Validate {
			n.check(e.BlockValidated(b.Hash(), true))
		}
		if r := rd.Propose; r != nil {
			vs, _ := n.sets(r.Height)
			prev := genesisHash
			if p := n.commits[r.Height-1]; p != nil {
				prev = p.Hash()
			}
			b := makeBlock(vs, r.Height, n.keys[i].Public(), prev, genesisTime+chain.Time(r.Height), fmt.Sprint(r.Round))
			n.check(e.Propose(b))
		}
		if b := rd.Commit; b != nil {
			h := b.Header.Height
			if prior := n.commits[h]; prior != nil && prior.Hash() != b.Hash() {
				n.t.Fatalf("height %d committed twice differently", h)
			}
			n.commits[h] = b
			n.check(e.Start(h + 1))
		}
	}
}

// run delivers until every engine has committed height.
func (n *instantNet) run(height uint64) {
	for {
		done := true
		for _, e := range n.engines {
			if e.Height() <= height {
				done = false
			}
		}
		if done {
			return
		}
		if len(n.queue) == 0 {
			n.t.Fatalf("network idle before height %d", height)
		}
		q := n.queue[0]
		n.queue = n.queue[1:]
		n.deliv++
		n.check(n.engines[q.to].Step(q.msg))
		n.drain(q.to)
	}
}

// A validator-set change approved at tx height 1 signs from height 3: the
// engines ask the driver's function per height, proposers and votes
// follow the new set, and each certificate verifies against its own set.
func TestValidatorSetChange(t *testing.T) {
	keys := make([]*chain.PrivateKey, 5)
	for i := range keys {
		keys[i] = testKey(t, fmt.Sprintf("change-%d", i))
	}
	pubs := func(ks []*chain.PrivateKey) []chain.PubKey {
		var out []chain.PubKey
		for _, k := range ks {
			out = append(out, k.Public())
		}
		return out
	}
	oldSet, _ := chain.NewValidatorSet(pubs(keys[:4]))
	newSet, _ := chain.NewValidatorSet(pubs(keys[1:]))
	const approved = 1
	var asked []uint64
	sets := func(h uint64) (*chain.ValidatorSet, error) {
		asked = append(asked, h)
		if h >= approved+2 {
			return newSet, nil
		}
		return oldSet, nil
	}
	n := newInstantNet(t, keys, sets)
	n.run(5)
	for h := uint64(1); h <= 5; h++ {
		b := n.commits[h]
		right, wrong := oldSet, newSet
		if h >= approved+2 {
			right, wrong = newSet, oldSet
		}
		if b.Header.ValidatorsHash != right.Hash() {
			t.Fatalf("height %d names set %s, want %s", h, b.Header.ValidatorsHash.Short(), right.Hash().Short())
		}
		if b.Header.Proposer != right.Proposer(h, 0) {
			t.Fatalf("height %d proposed by %s, want %s", h, b.Header.Proposer.Short(), right.Proposer(h, 0).Short())
		}
		if err := b.Cert.Verify(testChainID, right, chain.LaneTx, h, b.Hash()); err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
		for _, s := range b.Cert.Sigs {
			if !right.Has(s.Validator) {
				t.Fatalf("height %d signed by %s, outside its set", h, s.Validator.Short())
			}
		}
		if wrong.Has(keys[0].Public()) != right.Has(keys[0].Public()) && b.Cert.Verify(testChainID, wrong, chain.LaneTx, h, b.Hash()) == nil {
			// A certificate of the old set may verify against the new
			// one when all its signers are in both; only one naming a
			// removed or added validator must fail.
			for _, s := range b.Cert.Sigs {
				if !wrong.Has(s.Validator) {
					t.Fatalf("height %d certificate verifies against the wrong set", h)
				}
			}
		}
	}
	for _, h := range []uint64{1, 2, 3} {
		found := false
		for _, a := range asked {
			found = found || a == h
		}
		if !found {
			t.Fatalf("ValidatorSetFor(%d) never asked", h)
		}
	}
	// The removed validator's vote is refused from height 3 on.
	e := n.engines[1]
	v := signedVote(keys[0], chain.Prevote, e.Height(), 0, chain.Hash{})
	if err := e.Step(Message{Vote: v}); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("removed validator's vote at height %d: %v", e.Height(), err)
	}
	// A certificate of the new set fails against the old one when it
	// carries the added validator's signature.
	withAdded := 0
	for h := uint64(3); h <= 5; h++ {
		c := n.commits[h].Cert
		for _, s := range c.Sigs {
			if s.Validator == keys[4].Public() {
				withAdded++
				if err := c.Verify(testChainID, oldSet, chain.LaneTx, h, n.commits[h].Hash()); err == nil {
					t.Fatalf("height %d: certificate signed by the added validator verifies against the old set", h)
				}
			}
		}
	}
	if withAdded == 0 {
		t.Fatal("the added validator signed no certificate")
	}
}

// BenchmarkEngine4 is the engine alone: four validators, instant
// in-order delivery, in-memory WALs. It reports heights finalized per
// second and messages per height (broadcasts, and deliveries: n-1 per
// broadcast, so O(n²)).
func BenchmarkEngine4(b *testing.B) {
	keys, vs := testValidators(b, 4, "bench")
	n := newInstantNet(b, keys, fixedSets(vs))
	b.ResetTimer()
	n.run(uint64(b.N))
	b.StopTimer()
	heights := float64(b.N)
	b.ReportMetric(heights/b.Elapsed().Seconds(), "heights/s")
	b.ReportMetric(float64(n.sent)/heights, "broadcasts/height")
	b.ReportMetric(float64(n.deliv)/heights, "deliveries/height")
}

// BenchmarkEngineN shows how messages per height grow with n.
func BenchmarkEngineN(b *testing.B) {
	for _, size := range []int{4, 7, 10} {
		b.Run(fmt.Sprintf("n=%d", size), func(b *testing.B) {
			keys, vs := testValidators(b, size, "bench")
			n := newInstantNet(b, keys, fixedSets(vs))
			b.ResetTimer()
			n.run(uint64(b.N))
			b.StopTimer()
			heights := float64(b.N)
			b.ReportMetric(heights/b.Elapsed().Seconds(), "heights/s")
			b.ReportMetric(float64(n.deliv)/heights, "deliveries/height")
		})
	}
}
