package consensus

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// harness drives one engine, validator me of four, at height 1, feeding it
// messages signed by the other validators. proposer(1, r) is
// validators[(1+r) mod 4], so me = 0 proposes round 3.
type harness struct {
	t    *testing.T
	keys []*chain.PrivateKey
	vs   *chain.ValidatorSet
	e    *Engine
	wal  *MemWAL
	out  Ready // everything emitted since the last take
}

func newHarness(t *testing.T, me int) *harness {
	t.Helper()
	keys, vs := testValidators(t, 4, "rules")
	h := &harness{t: t, keys: keys, vs: vs, wal: NewMemWAL()}
	var key *chain.PrivateKey
	if me >= 0 {
		key = keys[me]
	}
	e, err := NewEngine(Config{ChainID: testChainID, Lane: chain.LaneTx, Key: key, ValidatorSetFor: fixedSets(vs), Timeouts: testTimeouts, WAL: h.wal})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	h.must(e.Start(1))
	return h
}

func (h *harness) must(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
	h.drain()
}

func (h *harness) drain() {
	rd := h.e.Ready()
	h.out.Messages = append(h.out.Messages, rd.Messages...)
	h.out.Timers = append(h.out.Timers, rd.Timers...)
	h.out.Validate = append(h.out.Validate, rd.Validate...)
	h.out.Evidence = append(h.out.Evidence, rd.Evidence...)
	if rd.Propose != nil {
		h.out.Propose = rd.Propose
	}
	if rd.Commit != nil {
		h.out.Commit = rd.Commit
	}
}

// take returns and forgets what the engine emitted.
func (h *harness) take() Ready {
	h.drain()
	r := h.out
	h.out = Ready{}
	return r
}

func (h *harness) block(round uint32, salt string) *chain.Block {
	return makeBlock(h.vs, 1, h.vs.Proposer(1, round), genesisHash, genesisTime+1, salt)
}

func (h *harness) keyOf(pub chain.PubKey) *chain.PrivateKey {
	for _, k := range h.keys {
		if k.Public() == pub {
			return k
		}
	}
	h.t.Fatalf("no key for %s", pub.Short())
	return nil
}

func (h *harness) propose(round uint32, pol int32, b *chain.Block) {
	h.t.Helper()
	p := signProposal(testChainID, h.keyOf(h.vs.Proposer(1, round)), b, round, pol)
	h.must(h.e.Step(Message{Proposal: p}))
}

func (h *harness) vote(typ chain.VoteType, round uint32, hash chain.Hash, from ...int) {
	h.t.Helper()
	for _, i := range from {
		err := h.e.Step(Message{Vote: signedVote(h.keys[i], typ, 1, round, hash)})
		if err != nil && !errors.Is(err, ErrStale) {
			h.t.Fatal(err)
		}
		h.drain()
	}
}

func (h *harness) validated(b *chain.Block, ok bool) { h.must(h.e.BlockValidated(b.Hash(), ok)) }

func (h *harness) timeout(kind TimeoutKind, round uint32) {
	h.must(h.e.Timeout(Timer{Kind: kind, Height: 1, Round: round}))
}

// lockOn makes the engine (not the proposer of round) lock on b in round.
func (h *harness) lockOn(round uint32, b *chain.Block, voters ...int) {
	h.t.Helper()
	h.propose(round, -1, b)
	h.validated(b, true)
	h.vote(chain.Prevote, round, b.Hash(), voters...)
}

// own returns the engine's own signed votes among msgs, as "prevote r:X".
func own(h *harness, rd Ready) []string {
	var out []string
	for _, m := range rd.Messages {
		if m.Vote != nil && m.Vote.Validator == h.e.self {
			target := "nil"
			if !m.Vote.BlockHash.IsZero() {
				target = m.Vote.BlockHash.Short()
			}
			out = append(out, fmt.Sprintf("%s %d:%s", m.Vote.Type, m.Vote.Round, target))
		}
	}
	return out
}

func want(t *testing.T, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("own votes %v, want %v", got, want)
	}
}

func TestRules(t *testing.T) {
	tests := []struct {
		name string
		me   int
		run  func(h *harness) []string // returns want
	}{
		{"L22 valid proposal, unlocked: prevote it", 0, func(h *harness) []string {
			a := h.block(0, "A")
			h.propose(0, -1, a)
			h.validated(a, true)
			return []string{"prevote 0:" + a.Hash().Short()}
		}},
		{"L22 waits for validation", 0, func(h *harness) []string {
			h.propose(0, -1, h.block(0, "A"))
			return nil
		}},
		{"L22 invalid proposal: prevote nil", 0, func(h *harness) []string {
			a := h.block(0, "A")
			h.propose(0, -1, a)
			h.validated(a, false)
			return []string{"prevote 0:nil"}
		}},
		{"L22 locked on another block: prevote nil", 0, func(h *harness) []string {
			b := h.block(0, "B")
			h.lockOn(0, b, 1, 2, 3)
			h.vote(chain.Precommit, 0, chain.Hash{}, 1, 2, 3)
			h.timeout(TimeoutPrecommit, 0)
			a := h.block(1, "A")
			h.propose(1, -1, a)
			h.validated(a, true)
			return []string{"prevote 0:" + b.Hash().Short(), "precommit 0:" + b.Hash().Short(), "prevote 1:nil"}
		}},
		{"L28 POL in a round at or after the lock: prevote it", 0, func(h *harness) []string {
			b := h.block(0, "B")
			h.lockOn(0, b, 1, 2, 3)
			h.vote(chain.Precommit, 0, chain.Hash{}, 1, 2, 3)
			h.timeout(TimeoutPrecommit, 0)
			a := h.block(1, "A")
			h.timeout(TimeoutPropose, 1)                // round 1's proposal never arrives
			h.vote(chain.Prevote, 1, a.Hash(), 1, 2, 3) // but A gets a POL in round 1
			h.vote(chain.Precommit, 1, chain.Hash{}, 1, 2, 3)
			h.timeout(TimeoutPrecommit, 1)
			h.propose(2, 1, a) // round 2's proposer re-proposes A with POL 1
			h.validated(a, true)
			return []string{"prevote 0:" + b.Hash().Short(), "precommit 0:" + b.Hash().Short(), "prevote 1:nil", "prevote 2:" + a.Hash().Short()}
		}},
		{"L28 POL older than the lock: prevote nil", 0, func(h *harness) []string {
			a := h.block(0, "A")
			h.timeout(TimeoutPropose, 0)                // round 0's proposal never arrives
			h.vote(chain.Prevote, 0, a.Hash(), 1, 2, 3) // but A gets a POL in round 0
			h.vote(chain.Precommit, 0, chain.Hash{}, 1, 2, 3)
			h.timeout(TimeoutPrecommit, 0)
			b := h.block(1, "B")
			h.lockOn(1, b, 1, 2, 3) // locked on B in round 1
			h.vote(chain.Precommit, 1, chain.Hash{}, 1, 2, 3)
			h.timeout(TimeoutPrecommit, 1)
			h.propose(2, 0, a) // A with POL 0, older than the lock
			h.validated(a, true)
			return []string{"prevote 0:nil", "prevote 1:" + b.Hash().Short(), "precommit 1:" + b.Hash().Short(), "prevote 2:nil"}
		}},
		{"L28 without the POL prevotes: wait, then nil on timeout", 0, func(h *harness) []string {
			a := h.block(0, "A")
			h.propose(0, -1, a)
			h.validated(a, true)
			h.vote(chain.Precommit, 0, chain.Hash{}, 1, 2, 3)
			h.timeout(TimeoutPrevote, 0)
			h.timeout(TimeoutPrecommit, 0)
			h.take()
			h.propose(1, 0, a)
			if got := own(h, h.take()); len(got) != 0 {
				h.t.Fatalf("prevoted %v without a proof of lock", got)
			}
			h.timeout(TimeoutPropose, 1)
			return []string{"prevote 0:" + a.Hash().Short(), "precommit 0:nil", "prevote 1:nil"}
		}},
		{"L57 proposal in time, validation late: wait once more, then prevote it", 0, func(h *harness) []string {
			a := h.block(0, "A")
			h.propose(0, -1, a)
			h.take()
			h.timeout(TimeoutPropose, 0) // the block is still being validated
			rd := h.take()
			if got := own(h, rd); len(got) != 0 {
				h.t.Fatalf("voted %v while the proposal was being validated", got)
			}
			if len(rd.Timers) != 1 || rd.Timers[0].Kind != TimeoutPropose || rd.Timers[0].Round != 0 || rd.Timers[0].Duration != testTimeouts.Propose {
				h.t.Fatalf("timers %v, want the round 0 propose timeout again", rd.Timers)
			}
			h.validated(a, true)
			h.timeout(TimeoutPropose, 0) // the extension expires after the prevote: nothing
			return []string{"prevote 0:" + a.Hash().Short()}
		}},
		{"L57 validation never answered: prevote nil when the extension expires", 0, func(h *harness) []string {
			h.propose(0, -1, h.block(0, "A"))
			h.timeout(TimeoutPropose, 0)
			h.timeout(TimeoutPropose, 0)
			return []string{"prevote 0:nil"}
		}},
		{"L57 no proposal: prevote nil at the first timeout", 0, func(h *harness) []string {
			h.timeout(TimeoutPropose, 0)
			return []string{"prevote 0:nil"}
		}},
		{"L36 lock and precommit; L44 precommit nil", 0, func(h *harness) []string {
			a := h.block(0, "A")
			h.lockOn(0, a, 1, 2)
			st := h.e.Status()
			if st.LockedRound != 0 || st.ValidRound != 0 {
				h.t.Fatalf("status %+v, want locked and valid in round 0", st)
			}
			h.vote(chain.Precommit, 0, chain.Hash{}, 1, 2, 3)
			h.timeout(TimeoutPrecommit, 0)
			h.timeout(TimeoutPropose, 1)
			h.vote(chain.Prevote, 1, chain.Hash{}, 1, 2)
			return []string{"prevote 0:" + a.Hash().Short(), "precommit 0:" + a.Hash().Short(), "prevote 1:nil", "precommit 1:nil"}
		}},
		{"L36 after precommitting nil: update the valid value only", 0, func(h *harness) []string {
			a := h.block(0, "A")
			h.propose(0, -1, a)
			h.validated(a, true)
			h.vote(chain.Prevote, 0, chain.Hash{}, 1)
			h.vote(chain.Prevote, 0, a.Hash(), 2)
			h.timeout(TimeoutPrevote, 0)
			h.vote(chain.Prevote, 0, a.Hash(), 3) // now A has 0, 2, 3
			st := h.e.Status()
			if st.LockedRound != -1 || st.ValidRound != 0 {
				h.t.Fatalf("status %+v, want unlocked and valid in round 0", st)
			}
			return []string{"prevote 0:" + a.Hash().Short(), "precommit 0:nil"}
		}},
		{"L49 decide on a quorum of precommits of any round", 0, func(h *harness) []string {
			a := h.block(0, "A")
			h.propose(0, -1, a)
			h.validated(a, true)
			h.vote(chain.Precommit, 2, a.Hash(), 1, 2, 3)
			rd := h.take()
			if rd.Commit == nil || rd.Commit.Hash() != a.Hash() {
				h.t.Fatalf("commit %v, want block A", rd.Commit)
			}
			if err := rd.Commit.Cert.Verify(testChainID, h.vs, chain.LaneTx, 1, a.Hash()); err != nil {
				h.t.Fatalf("certificate: %v", err)
			}
			return []string{"prevote 0:" + a.Hash().Short()}
		}},
		{"L49 no decision on an invalid block", 0, func(h *harness) []string {
			a := h.block(0, "A")
			h.propose(0, -1, a)
			h.validated(a, false)
			h.vote(chain.Precommit, 0, a.Hash(), 1, 2, 3)
			if h.e.Status().Decided {
				h.t.Fatal("decided an invalid block")
			}
			return []string{"prevote 0:nil"}
		}},
		{"L55 f+1 validators in a higher round: skip to it", 0, func(h *harness) []string {
			h.vote(chain.Prevote, 5, chain.Hash{}, 1)
			if h.e.Round() != 0 {
				h.t.Fatal("skipped on f messages")
			}
			h.vote(chain.Precommit, 6, chain.Hash{}, 2)
			if h.e.Round() != 5 {
				h.t.Fatalf("round %d, want 5 (the highest round f+1 validators reached)", h.e.Round())
			}
			return nil
		}},
		{"proposer of round 3 asks for a block and proposes it", 0, func(h *harness) []string {
			for r := uint32(0); r < 3; r++ {
				h.timeout(TimeoutPropose, r)
				h.vote(chain.Prevote, r, chain.Hash{}, 1, 2, 3)
				h.vote(chain.Precommit, r, chain.Hash{}, 1, 2, 3)
				h.timeout(TimeoutPrecommit, r)
			}
			rd := h.take()
			if rd.Propose == nil || *rd.Propose != (ProposeRequest{Height: 1, Round: 3}) {
				h.t.Fatalf("propose request %v, want 1/3", rd.Propose)
			}
			wrong := h.block(0, "not mine")
			if err := h.e.Propose(wrong); !errors.Is(err, ErrBadBlock) {
				h.t.Fatalf("Propose(block of another proposer) = %v, want ErrBadBlock", err)
			}
			mine := h.block(3, "mine")
			h.must(h.e.Propose(mine))
			rd = h.take()
			if len(rd.Messages) < 1 || rd.Messages[0].Proposal == nil {
				h.t.Fatalf("no proposal sent: %v", rd.Messages)
			}
			if err := VerifyProposal(testChainID, h.vs, rd.Messages[0].Proposal); err != nil {
				h.t.Fatal(err)
			}
			return []string{"prevote 0:nil", "precommit 0:nil", "prevote 1:nil", "precommit 1:nil", "prevote 2:nil", "precommit 2:nil", "prevote 3:" + mine.Hash().Short()}
		}},
		{"re-proposal of another validator's valid block with its POL", 0, func(h *harness) []string {
			a := h.block(0, "A") // proposed by validator 1
			h.lockOn(0, a, 1, 2, 3)
			for r := uint32(0); r < 3; r++ {
				h.vote(chain.Precommit, r, chain.Hash{}, 1, 2, 3)
				h.timeout(TimeoutPrecommit, r)
				if r < 2 {
					h.timeout(TimeoutPropose, r+1)
				}
			}
			rd := h.take()
			var p *chain.Proposal
			var pol int
			for _, m := range rd.Messages {
				if m.Proposal != nil {
					p = m.Proposal
				}
				if m.Vote != nil && m.Vote.Round == 0 && m.Vote.Type == chain.Prevote && m.Vote.BlockHash == a.Hash() {
					pol++
				}
			}
			if p == nil || p.Round != 3 || p.POLRound != 0 || p.Block.Hash() != a.Hash() {
				h.t.Fatalf("proposal %v, want A re-proposed in round 3 with POL 0", p)
			}
			if err := VerifyProposal(testChainID, h.vs, p); err != nil {
				h.t.Fatal(err)
			}
			if pol < h.vs.Quorum() {
				h.t.Fatalf("relayed %d POL prevotes, want %d", pol, h.vs.Quorum())
			}
			a0 := a.Hash().Short()
			return []string{"prevote 0:" + a0, "precommit 0:" + a0, "prevote 1:nil", "prevote 2:nil", "prevote 3:" + a0}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.me)
			w := tc.run(h)
			var got []string
			for _, m := range h.wal.records {
				if m.Vote != nil {
					got = append(got, own(h, Ready{Messages: []Message{{Vote: m.Vote}}})...)
				}
			}
			want(t, got, w...)
		})
	}
}

func TestTimeoutsLinear(t *testing.T) {
	h := newHarness(t, 0)
	rd := h.take()
	if len(rd.Timers) != 1 || rd.Timers[0] != (Timer{Kind: TimeoutPropose, Height: 1, Round: 0, Duration: 300 * time.Millisecond}) {
		t.Fatalf("timers %v, want propose 1/0 after 300ms", rd.Timers)
	}
	for r := uint32(0); r < 3; r++ {
		h.timeout(TimeoutPropose, r)
		h.vote(chain.Prevote, r, chain.Hash{}, 1, 2)
		h.vote(chain.Precommit, r, chain.Hash{}, 1, 2, 3)
		rd := h.take()
		var precommit time.Duration
		for _, tm := range rd.Timers {
			if tm.Kind == TimeoutPrecommit {
				precommit = tm.Duration
			}
		}
		if want := 150*time.Millisecond + time.Duration(r)*100*time.Millisecond; precommit != want {
			t.Fatalf("round %d precommit timeout %s, want %s", r, precommit, want)
		}
		h.timeout(TimeoutPrecommit, r)
	}
	if got := testTimeouts.Duration(TimeoutPropose, 1000); got != 300*time.Millisecond+1000*100*time.Millisecond {
		t.Fatalf("round 1000: %s", got)
	}
	huge := Timeouts{Propose: time.Second, Prevote: time.Second, Precommit: time.Second, Delta: time.Hour}
	if got := huge.Duration(TimeoutPropose, chain.MaxRound); got != maxTimeout {
		t.Fatalf("capped timeout %s, want %s", got, maxTimeout)
	}
	// Stale expiries do nothing.
	h.must(h.e.Timeout(Timer{Kind: TimeoutPropose, Height: 1, Round: 0}))
	h.must(h.e.Timeout(Timer{Kind: TimeoutPrecommit, Height: 9, Round: 3}))
	if h.e.Round() != 3 {
		t.Fatalf("round %d after stale timeouts, want 3", h.e.Round())
	}
}

func TestStepRejects(t *testing.T) {
	h := newHarness(t, 0)
	good := func() *chain.Vote { return signedVote(h.keys[1], chain.Prevote, 1, 0, chain.Hash{}) }
	outsider := testKey(t, "outsider")
	tests := []struct {
		name  string
		vote  func() *chain.Vote
		isErr error
	}{
		{"valid", good, nil},
		{"unknown type", func() *chain.Vote { v := good(); v.Type = 9; return v }, ErrInvalidMessage},
		{"other lane", func() *chain.Vote { v := good(); v.Lane = chain.LaneData; v.Sign(testChainID, h.keys[1]); return v }, ErrInvalidMessage},
		{"height 0", func() *chain.Vote { v := good(); v.Height = 0; return v }, ErrInvalidMessage},
		{"short signature", func() *chain.Vote { v := good(); v.Sig = v.Sig[:10]; return v }, ErrInvalidMessage},
		{"not a validator", func() *chain.Vote { return signedVote(outsider, chain.Prevote, 1, 0, chain.Hash{}) }, ErrInvalidMessage},
		{"round too far ahead", func() *chain.Vote { return signedVote(h.keys[2], chain.Prevote, 1, 100, chain.Hash{}) }, ErrStale},
		{"duplicate", good, ErrStale},
		{"far future height", func() *chain.Vote { return signedVote(h.keys[1], chain.Prevote, 50, 0, chain.Hash{}) }, ErrStale},
	}
	for _, tc := range tests {
		err := h.e.Step(Message{Vote: tc.vote()})
		if tc.isErr == nil && err != nil || tc.isErr != nil && !errors.Is(err, tc.isErr) {
			t.Errorf("%s: Step = %v, want %v", tc.name, err, tc.isErr)
		}
	}
	if err := h.e.Step(Message{}); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("empty message: %v", err)
	}

	a := h.block(0, "A")
	goodProp := func() *chain.Proposal { return signProposal(testChainID, h.keys[1], a, 0, -1) }
	props := []struct {
		name  string
		prop  func() *chain.Proposal
		isErr error
	}{
		{"wrong proposer", func() *chain.Proposal {
			b := makeBlock(h.vs, 1, h.keys[2].Public(), genesisHash, genesisTime+1, "x")
			return signProposal(testChainID, h.keys[2], b, 0, -1)
		}, ErrInvalidMessage},
		{"bad signature", func() *chain.Proposal {
			p := goodProp()
			p.Sig = append(chain.Signature{}, p.Sig...)
			p.Sig[0] ^= 1
			return p
		}, ErrInvalidMessage},
		{"other chain", func() *chain.Proposal {
			b := *a
			b.Header.ChainID = "other"
			return signProposal(testChainID, h.keys[1], &b, 0, -1)
		}, ErrInvalidMessage},
		{"other validator set", func() *chain.Proposal {
			b := *a
			b.Header.ValidatorsHash = chain.HashBytes([]byte("x"))
			return signProposal(testChainID, h.keys[1], &b, 0, -1)
		}, ErrInvalidMessage},
		{"no block", func() *chain.Proposal { p := goodProp(); p.Block = nil; return p }, ErrInvalidMessage},
		{"block of another height", func() *chain.Proposal { p := goodProp(); p.Height = 2; return p }, ErrInvalidMessage},
		{"fresh block re-proposed by another", func() *chain.Proposal { return signProposal(testChainID, h.keys[2], a, 1, -1) }, ErrInvalidMessage},
		{"valid", goodProp, nil},
		{"duplicate", goodProp, ErrStale},
	}
	for _, tc := range props {
		err := h.e.Step(Message{Proposal: tc.prop()})
		if tc.isErr == nil && err != nil || tc.isErr != nil && !errors.Is(err, tc.isErr) {
			t.Errorf("proposal %s: Step = %v, want %v", tc.name, err, tc.isErr)
		}
	}
}

func TestFutureHeightBuffered(t *testing.T) {
	h := newHarness(t, 0)
	b2 := makeBlock(h.vs, 2, h.vs.Proposer(2, 0), chain.HashBytes([]byte("one")), genesisTime+2, "two")
	p := signProposal(testChainID, h.keyOf(h.vs.Proposer(2, 0)), b2, 0, -1)
	if err := h.e.Step(Message{Proposal: p}); err != nil {
		t.Fatalf("future proposal: %v", err)
	}
	if err := h.e.Step(Message{Proposal: p}); !errors.Is(err, ErrStale) {
		t.Fatalf("buffered twice: %v", err)
	}
	h.take()
	h.must(h.e.Start(2))
	rd := h.take()
	if len(rd.Validate) != 1 || rd.Validate[0].Hash() != b2.Hash() {
		t.Fatalf("after Start(2) validate %v, want the buffered block", rd.Validate)
	}
	if err := h.e.Step(Message{Vote: signedVote(h.keys[1], chain.Prevote, 1, 0, chain.Hash{})}); !errors.Is(err, ErrStale) {
		t.Fatalf("past height: %v", err)
	}
	if err := h.e.Start(2); !errors.Is(err, ErrBadHeight) {
		t.Fatalf("Start(2) again: %v", err)
	}
}

func TestEquivocationEvidence(t *testing.T) {
	h := newHarness(t, 0)
	a, b := h.block(0, "A"), h.block(0, "B")
	h.propose(0, -1, a)
	h.propose(0, -1, b)
	h.vote(chain.Prevote, 0, a.Hash(), 2)
	h.vote(chain.Prevote, 0, chain.Hash{}, 2)
	rd := h.take()
	if len(rd.Evidence) != 2 {
		t.Fatalf("%d evidence, want 2 (proposals and prevotes)", len(rd.Evidence))
	}
	for _, ev := range rd.Evidence {
		if err := ev.ValidateBasic(); err != nil {
			t.Fatal(err)
		}
		if err := ev.VerifySignatures(testChainID); err != nil {
			t.Fatal(err)
		}
	}
	if rd.Evidence[0].Offender() != h.keys[1].Public() || rd.Evidence[1].Offender() != h.keys[2].Public() {
		t.Fatal("wrong offenders")
	}
	h.vote(chain.Prevote, 0, chain.Hash{}, 2) // the same pair again: reported once
	if rd := h.take(); len(rd.Evidence) != 0 {
		t.Fatalf("evidence reported twice")
	}
}

func TestObserverNeverSigns(t *testing.T) {
	h := newHarness(t, -1)
	a := h.block(0, "A")
	h.propose(0, -1, a)
	h.validated(a, true)
	h.vote(chain.Prevote, 0, a.Hash(), 0, 1, 2)
	h.vote(chain.Precommit, 0, a.Hash(), 0, 1, 2)
	rd := h.take()
	if len(rd.Messages) != 0 {
		t.Fatalf("observer sent %v", rd.Messages)
	}
	if rd.Commit == nil || rd.Commit.Hash() != a.Hash() {
		t.Fatal("observer did not commit")
	}
}

func TestConfigValidate(t *testing.T) {
	_, vs := testValidators(t, 4, "cfg")
	good := func() Config {
		return Config{ChainID: testChainID, Lane: chain.LaneTx, Key: testKey(t, "k"), ValidatorSetFor: fixedSets(vs), Timeouts: testTimeouts, WAL: NewMemWAL()}
	}
	breaks := map[string]func(*Config){
		"ChainID":         func(c *Config) { c.ChainID = "" },
		"Lane":            func(c *Config) { c.Lane = 7 },
		"ValidatorSetFor": func(c *Config) { c.ValidatorSetFor = nil },
		"Timeouts":        func(c *Config) { c.Timeouts.Prevote = 0 },
		"Timeouts.Delta":  func(c *Config) { c.Timeouts.Delta = -1 },
		"WAL":             func(c *Config) { c.WAL = nil },
		"MaxBuffered":     func(c *Config) { c.MaxBuffered = -1 },
	}
	c := good()
	if _, err := NewEngine(c); err != nil {
		t.Fatal(err)
	}
	for field, f := range breaks {
		c := good()
		f(&c)
		_, err := NewEngine(c)
		if !errors.Is(err, ErrBadConfig) || !containsWord(err.Error(), field) {
			t.Errorf("break %s: %v", field, err)
		}
	}
	p := chain.Params{TimeoutPropose: chain.Duration(2 * time.Second), TimeoutDelta: chain.Duration(500 * time.Millisecond)}
	if got := TimeoutsFromParams(&p); got.Propose != 2*time.Second || got.Delta != 500*time.Millisecond || got.Prevote != time.Second {
		t.Fatalf("TimeoutsFromParams = %+v", got)
	}
}

func containsWord(s, w string) bool {
	return len(s) >= len(w) && (func() bool {
		for i := 0; i+len(w) <= len(s); i++ {
			if s[i:i+len(w)] == w {
				return true
			}
		}
		return false
	})()
}

// TestHolds checks that Holds names exactly the messages Step counted at
// the height: the driver drops further copies of those before verifying
// them, so a message reported held that was not taken would be lost.
func TestHolds(t *testing.T) {
	h := newHarness(t, 0)
	step := func(m Message) {
		t.Helper()
		if err := h.e.Step(m); err != nil && !errors.Is(err, ErrStale) {
			t.Fatalf("Step(%s) = %v", m, err)
		}
	}
	v := signedVote(h.keys[1], chain.Prevote, 1, 0, chain.Hash{})
	if h.e.Holds(Message{Vote: v}) {
		t.Fatal("a vote not yet stepped is held")
	}
	step(Message{Vote: v})
	copyOf := *v
	if !h.e.Holds(Message{Vote: &copyOf}) {
		t.Fatal("a counted vote is not held")
	}
	forged := *v
	forged.Sig = append(chain.Signature{}, v.Sig...)
	forged.Sig[0] ^= 1
	precommit := *v
	precommit.Type = chain.Precommit
	unknown := chain.HashBytes([]byte("unknown block"))
	notHeld := []struct {
		name string
		m    Message
	}{
		{"other signature", Message{Vote: &forged}},
		{"same fields, other step", Message{Vote: &precommit}},
		{"conflicting vote for an unknown block (evidence, not counted)", Message{Vote: signedVote(h.keys[1], chain.Prevote, 1, 0, unknown)}},
		{"buffered for a later height", Message{Vote: signedVote(h.keys[2], chain.Prevote, 2, 0, chain.Hash{})}},
		{"too many rounds ahead to be stored", Message{Vote: signedVote(h.keys[2], chain.Prevote, 1, 100, chain.Hash{})}},
		{"empty", Message{}},
	}
	for _, tc := range notHeld {
		if tc.m.Vote != nil && tc.name != "other signature" && tc.name != "same fields, other step" {
			step(tc.m)
		}
		if h.e.Holds(tc.m) {
			t.Errorf("%s: held", tc.name)
		}
	}

	a := h.block(0, "A")
	p := signProposal(testChainID, h.keys[1], a, 0, -1)
	if h.e.Holds(Message{Proposal: p}) {
		t.Fatal("a proposal not yet stepped is held")
	}
	step(Message{Proposal: p})
	if !h.e.Holds(Message{Proposal: signProposal(testChainID, h.keys[1], a, 0, -1)}) {
		t.Fatal("the round's proposal is not held")
	}
	other := *p
	other.Sig = append(chain.Signature{}, p.Sig...)
	other.Sig[1] ^= 1
	if h.e.Holds(Message{Proposal: &other}) {
		t.Error("a proposal with another signature is held")
	}
}
