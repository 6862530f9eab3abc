package node

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// In a large validator set, votes for a block go through the round's
// proposer.
//
// Sent straight to every peer, a phase's votes make n(n−1) deliveries, each
// with its own system calls, encryption, framing, decoding and wakeups:
// at 16 validators on two cores a height cost each node about 6 ms of CPU
// with almost no readings, a third of it system calls and the streams'
// loops, a fifth signature checks. With at least p2p.relay_votes_from
// validators (config.DefaultRelayVotesFrom, chosen by measurement), a
// validator sends its vote for the
// round's proposed block only to that round's proposer; the proposer
// checks the votes as they come (a phase at a time, votegather.go) and,
// once it holds a quorum of the phase, sends them to every peer in one
// message. That is 2(n−1) deliveries a phase, and every node checks only
// a quorum's signatures, in one batch. The phase's later votes are sent on
// only if that quorum was not for one block (nodes may need them then).
//
// The votes are the same signed votes: each node checks every signature and
// its engine counts them as before, so safety does not rest on the
// proposer. Liveness costs a hop a phase, and a proposer that stops
// relaying holds its round up until the votes are sent again: a vote sent
// to the proposer goes to every peer too if its round has not moved on
// relayFallbackAfter later, as does any second send of a vote (the
// engine's Rebroadcast), every vote for nil (a proposer that did not
// propose may be down) and every vote while a validator is not connected
// to the whole set.

// maxRelayPhases bounds the phases a voteRelay keeps; past it the phases
// of committed heights are dropped.
const maxRelayPhases = 64

// voteRelay gathers, at a round's proposer, the verified votes of the
// phases it relays.
type voteRelay struct {
	mu     sync.Mutex
	phases map[votePhase]*relayPhase
	// withhold makes this node a proposer that never relays (tests of
	// the fallback).
	withhold atomic.Bool
}

type relayPhase struct {
	votes []*chain.Vote
	keys  map[chain.Hash]struct{}
	sent  bool
	// settled: what was sent held a quorum for one block, so every node
	// that got it can act on the phase and later votes are not sent on.
	settled bool
}

func newVoteRelay() *voteRelay { return &voteRelay{phases: make(map[votePhase]*relayPhase)} }

// add takes a verified vote (key its consensusKey) of a phase this node
// relays, whose set has quorum, and returns the votes to send to every
// peer now: none while the phase has fewer than quorum, then all it holds;
// after that each new one if those did not hold a quorum for one block
// (votes split between blocks of an equivocating proposer), none if they
// did. tip gives the lanes' committed heights, for pruning.
func (r *voteRelay) add(v *chain.Vote, key chain.Hash, quorum int, tip func(chain.Lane) uint64) []*chain.Vote {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := votePhase{lane: v.Lane, height: v.Height, round: v.Round, typ: v.Type}
	ph := r.phases[p]
	if ph == nil {
		if len(r.phases) >= maxRelayPhases {
			for q := range r.phases {
				if q.height <= tip(q.lane) {
					delete(r.phases, q)
				}
			}
			if len(r.phases) >= maxRelayPhases {
				clear(r.phases)
			}
		}
		ph = &relayPhase{keys: make(map[chain.Hash]struct{})}
		r.phases[p] = ph
	}
	if _, dup := ph.keys[key]; dup {
		return nil
	}
	ph.keys[key] = struct{}{}
	if ph.sent {
		if ph.settled {
			return nil
		}
		return []*chain.Vote{v}
	}
	ph.votes = append(ph.votes, v)
	if len(ph.votes) < quorum {
		return nil
	}
	ph.sent = true
	for _, c := range countBlocks(ph.votes) {
		ph.settled = ph.settled || c >= quorum
	}
	out := ph.votes
	ph.votes = nil
	return out
}

// countBlocks counts votes by the block they are for.
func countBlocks(votes []*chain.Vote) map[chain.Hash]int {
	counts := make(map[chain.Hash]int, 1)
	for _, v := range votes {
		counts[v.BlockHash]++
	}
	return counts
}

// relayed is what the loop remembers of its own votes sent to a proposer:
// a second send of one (relayFallback, Rebroadcast) goes to every peer.
type relayed map[votePhase]struct{}

// relaysVotesOf reports whether votes of set go through proposers.
func (n *Node) relaysVotesOf(set *chain.ValidatorSet) bool {
	return setOfAtLeast(set, n.cfg.P2P.RelayVotesFrom)
}

// relaysFor reports whether this node relays the votes of lane at height
// and round: it is the round's proposer in a set that relays, at the
// height its engine runs. It returns the set's quorum.
func (n *Node) relaysFor(lane chain.Lane, height uint64, round uint32) (quorum int, ok bool) {
	at := n.engineSet[lane].Load()
	if at == nil || at.height != height || !n.relaysVotesOf(at.vs) {
		return 0, false
	}
	if at.vs.Proposer(height, round) != n.key.Public() {
		return 0, false
	}
	return at.vs.Quorum(), true
}

// relayVotes hands the verified votes of ready (from readVotes) that this
// node relays to its voteRelay, and sends what that returns.
func (n *Node) relayVotes(ready []laneMessage, errs []error) {
	var out []*chain.Vote
	for i, lm := range ready {
		v := lm.msg.Vote
		if errs[i] != nil || v.BlockHash.IsZero() {
			continue
		}
		if q, ok := n.relaysFor(v.Lane, v.Height, v.Round); ok {
			out = append(out, n.relay.add(v, lm.key, q, n.tipHeight)...)
		}
	}
	n.sendVotes(out)
}

// sendVotes sends votes to every peer in one message.
func (n *Node) sendVotes(votes []*chain.Vote) {
	if len(votes) == 0 || n.relay.withhold.Load() {
		return
	}
	n.metrics.votesRelayed.Add(float64(len(votes)))
	n.topics.votes.SendAll(encodeWireVotes(wireConsensus{Votes: votes}))
}

// relayFallbackAfter is how long a validator's vote sent to a round's
// proposer may go unanswered: if its lane is still at the vote's height
// and round then, the vote goes to every peer. A proposer that proposed
// but does not relay (down since, or withholding) then costs its round
// about this much a phase, not rebroadcastEvery.
const relayFallbackAfter = 500 * time.Millisecond

// relayFallback sends v, this node's vote sent to its round's proposer
// relayFallbackAfter ago, to every peer if its lane has not moved past its
// round meanwhile. Called on the loop.
func (n *Node) relayFallback(v *chain.Vote) {
	d := n.drivers[v.Lane]
	if d == nil || !d.running || d.next != v.Height || d.eng.Round() != v.Round {
		return
	}
	n.log.Debug("vote not relayed in time; sent to every peer", "vote", v.String())
	n.metrics.votesUnrelayed.Inc()
	n.topics.votes.SendAll(encodeWireVotes(wireConsensus{Vote: v}))
}

// relayOwnVote sends this node's vote v (d's engine just signed it) through
// the round's proposer if the set is large enough, v is for a block, this
// is its first send and every validator is connected; it reports whether it
// did (the caller sends it to every peer otherwise).
func (n *Node) relayOwnVote(d *driver, v *chain.Vote, key chain.Hash) bool {
	vs := d.eng.ValidatorSet()
	if vs == nil || !n.relaysVotesOf(vs) || v.BlockHash.IsZero() || v.Height != d.eng.Height() {
		return false
	}
	p := votePhase{lane: v.Lane, height: v.Height, round: v.Round, typ: v.Type}
	if _, again := d.relayed[p]; again {
		return false
	}
	if !n.allConnected(vs) {
		return false
	}
	if len(d.relayed) >= maxRelayPhases {
		for q := range d.relayed {
			if q.height < d.next {
				delete(d.relayed, q)
			}
		}
		if len(d.relayed) >= maxRelayPhases {
			clear(d.relayed) // rounds without end at one height
		}
	}
	d.relayed[p] = struct{}{}
	proposer := vs.Proposer(v.Height, v.Round)
	if proposer == n.key.Public() {
		n.sendVotes(n.relay.add(v, key, vs.Quorum(), n.tipHeight))
		return true
	}
	if n.topics.votes.Send(proposer, encodeWireVotes(wireConsensus{Vote: v})) != nil {
		return false
	}
	time.AfterFunc(relayFallbackAfter, func() {
		select {
		case n.relayCh <- v:
		case <-n.ctx.Done():
		}
	})
	return true
}
