package node

import (
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/consensus"
	"github.com/waterchain/waterchain/p2p"
)

// Votes travel straight to the peers (p2p.Direct), not by gossip.
//
// Gossiped, each vote reached every node 1+D times (the author's flood
// publish, then every receiver forwarding it to its mesh of D = 6): at n
// validators a height's 2n votes per lane made about 2n·(n−1)·(1+D)
// deliveries, each decrypted, decoded and hashed, and gossipsub's own
// bookkeeping (seen cache, scores, IHAVE gossip) on every one. Validators
// bootstrap from each other, so each is connected to each: sent once to
// every peer, a vote costs n−1 deliveries and nothing is forwarded.
//
// A node not connected to every validator of the height would miss the
// votes of those it is not connected to, so while any is missing the votes
// also go by gossip, as before (broadcastConsensus). With
// p2p.direct_proposals on, proposals go the same way (proposals.go).
//
// A vote that arrives directly is checked cheap to expensive: decode,
// ValidateBasic, whether the engine already holds it (consensusSeen),
// whether its height is past; then its signature, in a batch with the other
// votes that arrived meanwhile from any peer (readVotes), since one
// ed25519 batch check of k signatures costs much less than k single ones.
const protoVotes = "consensus/votes/1"

// maxVoteBatch bounds the votes checked in one batch.
const maxVoteBatch = 256

// startVotes serves the direct vote protocol, and the direct proposal
// protocol (proposals.go); called by startP2P.
func (n *Node) startVotes() error {
	d, err := n.host.OpenDirect(protoVotes, n.validateDirectVote)
	if err != nil {
		return err
	}
	n.topics.votes = d
	n.wg.Add(1)
	go n.readVotes()
	return n.startProposals()
}

// validateDirectVote is the door of votes sent directly, one or a
// proposer's relay of many (voterelay.go), without the signature check
// (readVotes does it in batches). Anything but well-formed votes is
// provably invalid: the stream it came on is reset. A single vote passes
// as a laneMessage, a relay's as a []laneMessage of those not ignored.
func (n *Node) validateDirectVote(from chain.PubKey, data []byte) (p2p.Result, any) {
	w, keys, err := decodeConsensus(data)
	if err != nil || w.Proposal != nil || w.Compact != nil ||
		(w.Vote == nil) == (len(w.Votes) == 0) || len(w.Votes) > maxVoteBatch || keys == nil {
		n.metrics.gossipRejected.WithLabelValues("consensus").Inc()
		return p2p.Reject, nil
	}
	if w.Vote != nil {
		res, lm := n.doorVote(from, w.Vote, keys[0])
		if res != p2p.Accept {
			return res, nil
		}
		return res, lm
	}
	out := make([]laneMessage, 0, len(w.Votes))
	for i, v := range w.Votes {
		switch res, lm := n.doorVote(from, v, keys[i]); res {
		case p2p.Reject:
			return res, nil
		case p2p.Accept:
			out = append(out, lm)
		}
	}
	if len(out) == 0 {
		return p2p.Ignore, nil
	}
	return p2p.Accept, out
}

// doorVote checks one vote that came directly, all but its signature. key
// is its consensusKey.
func (n *Node) doorVote(from chain.PubKey, v *chain.Vote, key chain.Hash) (p2p.Result, laneMessage) {
	if v == nil || v.ValidateBasic() != nil {
		n.metrics.gossipRejected.WithLabelValues("consensus").Inc()
		return p2p.Reject, laneMessage{}
	}
	tip := n.tipHeight(v.Lane)
	n.noteHeight(from, tip, v.Height)
	msg := consensus.Message{Vote: v}
	if n.consensusSeen.Has(key) || v.Height < tip {
		return p2p.Ignore, laneMessage{}
	}
	return p2p.Accept, laneMessage{lane: v.Lane, msg: msg, key: key}
}

// readVotes takes the votes that passed validateDirectVote, gathers them
// a phase at a time (votegather.go), checks the signatures of each
// gathering in one batch, and hands the valid ones to the loop. A bad
// signature is dropped and counted like a rejected gossip message.
func (n *Node) readVotes() {
	defer n.wg.Done()
	in := n.topics.votes.Messages()
	bv := chain.NewBatchVerifier(maxVoteBatch)
	g := newVoteGather(n.votesNeeded, n.tipHeight, voteGatherHold)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	batch := make([]laneMessage, 0, maxVoteBatch)
	for {
		batch = batch[:0]
		var expired <-chan time.Time
		if at, ok := g.deadline(); ok {
			timer.Reset(time.Until(at))
			expired = timer.C
		}
		var ready []laneMessage
		select {
		case <-n.ctx.Done():
			return
		case <-expired:
			ready = g.expire(time.Now())
		case m := <-in:
			batch = drainMessages(in, appendVotes(batch, m.Value), appendVotes,
				func(b []laneMessage) bool { return len(b) >= maxVoteBatch })
			ready = g.add(time.Now(), freshVotes(batch, n.consensusSeen))
		}
		if len(ready) == 0 {
			continue
		}
		// The engine may have taken some of those held meanwhile (by gossip).
		if ready = freshVotes(ready, n.consensusSeen); len(ready) == 0 {
			continue
		}
		errs := verifyVotes(bv, n.chainID, ready)
		n.relayVotes(ready, errs)
		for i, lm := range ready {
			if errs[i] != nil {
				n.metrics.gossipRejected.WithLabelValues("consensus").Inc()
				n.log.Warn("vote with a bad signature sent directly; dropped", "vote", lm.msg.Vote.String(), "err", errs[i])
				continue
			}
			select {
			case n.msgCh <- lm:
			case <-n.ctx.Done():
				return
			}
		}
	}
}

// drainMessages appends to b, with add, the messages already waiting on
// in, until full(b) or none waits.
func drainMessages[B any](in <-chan p2p.Message, b B, add func(B, any) B, full func(B) bool) B {
	for !full(b) {
		select {
		case m := <-in:
			b = add(b, m.Value)
		default:
			return b
		}
	}
	return b
}

// appendVotes appends what validateDirectVote passed (one vote or a
// relay's) to batch.
func appendVotes(batch []laneMessage, v any) []laneMessage {
	if vs, ok := v.([]laneMessage); ok {
		return append(batch, vs...)
	}
	return append(batch, v.(laneMessage))
}

// votesNeeded is how many other validators' votes of a phase of lane the
// engine needs, at the height it last started (0 before the first): a
// quorum, less this node's own vote if it is a validator.
func (n *Node) votesNeeded(lane chain.Lane) int {
	at := n.engineSet[lane].Load()
	if at == nil {
		return 0
	}
	need := at.vs.Quorum()
	if at.vs.Has(n.key.Public()) {
		need--
	}
	return need
}

// freshVotes drops from batch, in place, the votes the engine took since
// they passed the door and the second and later copies of a vote (peers
// relay the votes they hold when a height stalls, so copies come in bursts).
func freshVotes(batch []laneMessage, seen *sigCache) []laneMessage {
	out := batch[:0]
	keys := make(map[chain.Hash]struct{}, len(batch))
	for _, lm := range batch {
		if _, dup := keys[lm.key]; dup || seen.Has(lm.key) {
			continue
		}
		keys[lm.key] = struct{}{}
		out = append(out, lm)
	}
	return out
}

// verifyVotes checks the signatures of the votes in batch with bv, one
// error (or nil) per vote, as chain.Vote.VerifySignature would.
func verifyVotes(bv *chain.BatchVerifier, chainID string, batch []laneMessage) []error {
	for _, lm := range batch {
		v := lm.msg.Vote
		bv.Add(v.Validator, chain.DomainVote, chainID, v.SigningBytes(), v.Sig)
	}
	errs, _ := bv.Verify()
	return errs
}

// setOfAtLeast reports whether set has at least from validators, for the
// p2p options that apply from a set's size on (p2p.relay_votes_from,
// direct_readings_from, direct_proposals_from); from 0 is never.
func setOfAtLeast(set *chain.ValidatorSet, from int) bool {
	return from > 0 && set != nil && set.Size() >= from
}

// allConnected reports whether this node is connected to every validator
// of set but itself, so that votes sent directly reach all of them.
func (n *Node) allConnected(set *chain.ValidatorSet) bool {
	self := n.key.Public()
	for i := range set.Size() {
		if k := set.Key(i); k != self && !n.host.Connected(k) {
			return false
		}
	}
	return true
}
