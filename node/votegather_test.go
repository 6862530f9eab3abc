package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/config"
)

// gatherVotes makes count signed votes of one phase by distinct
// validators (the engine never sees them: only their phase and key count).
func gatherVotes(t *testing.T, typ chain.VoteType, lane chain.Lane, height uint64, round uint32, count int) []laneMessage {
	t.Helper()
	out := make([]laneMessage, count)
	for i := range out {
		seed := chain.HashBytes(fmt.Appendf(nil, "gather-%d", i))
		k, err := chain.NewPrivateKey(seed[:])
		if err != nil {
			t.Fatal(err)
		}
		v := &chain.Vote{Type: typ, Lane: lane, Height: height, Round: round, Validator: k.Public()}
		v.Sign("gather-test", k)
		out[i] = voteMessage(v)
	}
	return out
}

// TestVoteGather: of sixteen validators the engine needs ten others'
// votes of a phase; the first nine wait, the tenth sends all ten to be
// checked together, and the phase's later votes go at once. A phase that
// never gathers ten goes after the hold; a copy is not counted twice; a
// small set's votes never wait; what is remembered of past heights is
// forgotten.
func TestVoteGather(t *testing.T) {
	need := map[chain.Lane]int{chain.LaneData: 10, chain.LaneTx: 10}
	tips := map[chain.Lane]uint64{}
	g := newVoteGather(func(l chain.Lane) int { return need[l] }, func(l chain.Lane) uint64 { return tips[l] }, 20*time.Millisecond)
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

	pre := gatherVotes(t, chain.Prevote, chain.LaneData, 5, 0, 15)
	for i := range 9 {
		if out := g.add(at(i), pre[i:i+1]); out != nil {
			t.Fatalf("vote %d of the phase went with %d votes, want held until the tenth", i+1, len(out))
		}
	}
	// A copy of a held vote does not count.
	if out := g.add(at(9), pre[3:4]); out != nil {
		t.Fatalf("a copy of a held vote released %d", len(out))
	}
	if d, ok := g.deadline(); !ok || !d.Equal(at(20)) {
		t.Fatalf("deadline %v %v, want the first vote's time + hold", d, ok)
	}
	out := g.add(at(10), pre[9:10])
	if len(out) != 10 {
		t.Fatalf("the tenth vote released %d, want 10", len(out))
	}
	for i, lm := range out {
		if lm.key != pre[i].key {
			t.Fatalf("released vote %d is not the %dth that came", i, i+1)
		}
	}
	if _, ok := g.deadline(); ok {
		t.Fatal("a deadline with nothing held")
	}
	// The rest of the phase goes at once.
	if out := g.add(at(11), pre[10:11]); len(out) != 1 {
		t.Fatalf("a vote after the phase's quorum released %d, want 1", len(out))
	}

	// Precommits of the same height are a phase of their own; four of
	// them go only when the hold runs out.
	pc := gatherVotes(t, chain.Precommit, chain.LaneData, 5, 0, 4)
	if out := g.add(at(12), pc); out != nil {
		t.Fatalf("4 precommits released %d, want held", len(out))
	}
	if out := g.expire(at(31)); out != nil {
		t.Fatalf("expired before the hold: %d", len(out))
	}
	if out := g.expire(at(32)); len(out) != 4 {
		t.Fatalf("at the hold released %d, want 4", len(out))
	}
	// A vote that comes after the hold (ready or not) goes with what waits.
	late := gatherVotes(t, chain.Prevote, chain.LaneData, 5, 1, 2)
	if out := g.add(at(40), late[:1]); out != nil {
		t.Fatal("a new round's first vote released at once")
	}
	if out := g.add(at(60), late[1:]); len(out) != 2 {
		t.Fatalf("a vote at the hold released %d, want both", len(out))
	}

	// A set of four needs two others: nothing waits.
	need[chain.LaneTx] = 2
	if out := g.add(at(70), gatherVotes(t, chain.Prevote, chain.LaneTx, 3, 0, 1)); len(out) != 1 {
		t.Fatalf("a small set's vote released %d, want 1", len(out))
	}

	// Phases of committed heights are forgotten once enough are remembered.
	for h := uint64(10); len(g.released) < pruneGatherPhases; h++ {
		g.released[votePhase{lane: chain.LaneData, height: h, typ: chain.Prevote}] = 1
	}
	tips[chain.LaneData] = 1 << 40
	tips[chain.LaneTx] = 3
	g.add(at(80), gatherVotes(t, chain.Prevote, chain.LaneTx, 4, 0, 1))
	if len(g.released) != 1 {
		t.Fatalf("%d phases remembered after pruning, want only the new one", len(g.released))
	}
}

// TestVoteGatherBounded: votes of more phases than the gather remembers (a
// peer naming heights at will) do not grow it without bound.
func TestVoteGatherBounded(t *testing.T) {
	g := newVoteGather(func(chain.Lane) int { return 10 }, func(chain.Lane) uint64 { return 0 }, time.Millisecond)
	v := gatherVotes(t, chain.Prevote, chain.LaneData, 1, 0, 1)[0]
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 3 * maxGatherPhases {
		u := *v.msg.Vote
		u.Height = uint64(i + 1)
		lm := voteMessage(&u)
		g.add(t0, []laneMessage{lm})
		g.expire(t0.Add(time.Millisecond))
		if len(g.released) > maxGatherPhases {
			t.Fatalf("%d phases remembered", len(g.released))
		}
	}
}

// TestVotesRelayedByProposer runs 5 validators relaying votes through each
// round's proposer (p2p.relay_votes_from lowered from 10 to 4): the
// heights go on, the proposers relay the votes, and a node takes far
// fewer vote messages than the 8 a height of votes sent straight to every
// peer. Then one validator stops relaying: the heights it proposes still
// commit, the others' votes of its rounds sent to every peer after
// relayFallbackAfter (or by Rebroadcast, later).
func TestVotesRelayedByProposer(t *testing.T) {
	tn := startTestNetWith(t, 5, 0, 1, testNetOptions{configure: func(_ int, cfg *config.Config) { cfg.P2P.RelayVotesFrom = config.MinRelayVotesFrom }})
	heights := func() uint64 { return tn.nodes[0].Height(chain.LaneData) + tn.nodes[0].Height(chain.LaneTx) }
	waitFor(t, 2*time.Minute, "the first blocks", func() bool { return heights() >= 4 })

	votes0 := make([]float64, len(tn.nodes))
	relayed0 := 0.0
	for i, n := range tn.nodes {
		votes0[i], _, _ = consensusAccepted(t, n)
		relayed0 += counterValue(t, n.metrics.votesRelayed)
	}
	h0 := heights()
	const more = 10
	waitFor(t, 2*time.Minute, "10 more heights", func() bool { return heights() >= h0+more })
	relayed := -relayed0
	for i, n := range tn.nodes {
		relayed += counterValue(t, n.metrics.votesRelayed)
		votes, _, _ := consensusAccepted(t, n)
		// Straight to every peer: 2 phases × 4 peers a height. Relayed:
		// the proposer's relay of a quorum and a late vote a phase, and
		// the 8 votes of the heights this node proposes (a fifth).
		if votes -= votes0[i]; votes > more*8*3/4 {
			t.Errorf("node %d took %v vote messages over %d heights, want fewer than %d", i, votes, more, more*8*3/4)
		}
	}
	// Each height's proposer relays its two phases (4 or 5 votes each).
	if relayed < more*2*4*3/4 {
		t.Errorf("the proposers relayed %v votes over %d heights, want at least %d", relayed, more, more*2*4*3/4)
	}

	withholder := tn.nodes[0]
	withholder.relay.withhold.Store(true)
	h1 := map[chain.Lane]uint64{chain.LaneData: tn.nodes[1].Height(chain.LaneData), chain.LaneTx: tn.nodes[1].Height(chain.LaneTx)}
	waitFor(t, 2*time.Minute, "heights past one validator withholding relays", func() bool {
		return tn.nodes[1].Height(chain.LaneData) >= h1[chain.LaneData]+5 && tn.nodes[1].Height(chain.LaneTx) >= h1[chain.LaneTx]+5
	})
	// The others' votes of its rounds went to every peer after
	// relayFallbackAfter.
	unrelayed := 0.0
	for _, n := range tn.nodes[1:] {
		unrelayed += counterValue(t, n.metrics.votesUnrelayed)
	}
	if unrelayed == 0 {
		t.Error("no vote sent to every peer after its proposer withheld it")
	}
	// Each lane's 5 heights had one the withholding validator proposed
	// (round robin), and its block was committed: the rounds moved on
	// without its relay.
	for lane, from := range h1 {
		own := 0
		for h := from + 1; h <= from+5; h++ {
			hd, err := tn.nodes[1].store.Header(lane, h)
			if err != nil {
				t.Fatal(err)
			}
			if hd.Proposer == withholder.key.Public() {
				own++
			}
		}
		if own == 0 {
			t.Errorf("%s: no block of the validator withholding relays among 5 committed", lane)
		}
	}
}

// TestVoteRelay: a proposer relays nothing until it holds a quorum of a
// phase, then all of it in one message; later votes only if that quorum
// was not for one block; a copy never.
func TestVoteRelay(t *testing.T) {
	tip := func(chain.Lane) uint64 { return 0 }
	block := func(lms []laneMessage, h chain.Hash) []laneMessage {
		for i := range lms {
			u := *lms[i].msg.Vote
			u.BlockHash = h
			lms[i] = voteMessage(&u)
		}
		return lms
	}
	a, b := chain.HashBytes([]byte("a")), chain.HashBytes([]byte("b"))
	r := newVoteRelay()
	add := func(lm laneMessage) []*chain.Vote { return r.add(lm.msg.Vote, lm.key, 3, tip) }

	one := block(gatherVotes(t, chain.Prevote, chain.LaneData, 7, 0, 4), a)
	for i := range 2 {
		if out := add(one[i]); out != nil {
			t.Fatalf("vote %d of a quorum of 3 relayed %d", i+1, len(out))
		}
	}
	if out := add(one[1]); out != nil {
		t.Fatal("a copy relayed")
	}
	if out := add(one[2]); len(out) != 3 || out[0] != one[0].msg.Vote || out[2] != one[2].msg.Vote {
		t.Fatalf("the quorum relayed %d votes, want the 3 in order", len(out))
	}
	if out := add(one[3]); out != nil {
		t.Fatal("a vote after a quorum for one block relayed")
	}

	split := gatherVotes(t, chain.Precommit, chain.LaneData, 7, 0, 4)
	split = append(block(split[:2], a), block(split[2:], b)...)
	add(split[0])
	add(split[1])
	if out := add(split[2]); len(out) != 3 {
		t.Fatalf("a split quorum relayed %d, want 3", len(out))
	}
	if out := add(split[3]); len(out) != 1 || out[0] != split[3].msg.Vote {
		t.Fatalf("a vote after a split quorum relayed %d, want it alone", len(out))
	}
}
