package node

import (
	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/p2p"
)

// In sets of at least p2p.direct_proposals_from validators (default 10),
// or at any size with p2p.direct_proposals on, proposals travel straight
// to the peers (p2p.Direct), as votes do (votes.go), and by gossip only
// while this node is not connected to every validator of the height.
// Every node serves the protocol, so nodes may turn it on one at a time.
// At 16 validators as processes on two cores and 500 readings/s, direct
// proposals took the nodes' CPU from 24.3–26.6 to 22.6–23.5 CPU-seconds
// a 15 s step and the p99 from 194–232 to 142–176 ms; at 10 from
// 14.1–14.6 to 11.9–13.4; at 4 they changed nothing (docs/performance-log.md,
// 5 December).
//
// Gossiped, a proposal reached every node 1+D times (the proposer's flood
// publish, then each receiver forwarding it to its mesh): at n validators
// about (n−1)(1+D) deliveries per proposal, each decrypted, decoded and
// hashed before gossip's seen-cache dropped it, and the consensus topics
// kept gossipsub's per-message bookkeeping (seen cache, message cache,
// IHAVE gossip at every heartbeat) busy. Sent once to each connected peer,
// a proposal costs n−1 deliveries and nothing is forwarded.
//
// A proposal sent directly goes through the same door as a gossiped one
// (validateGossipConsensus: shape, compact rebuild, copies of what the
// engine holds dropped) and on to onGossipConsensus; only the lane, which
// gossip takes from the topic, travels in the message's first byte.
const protoProposals = "consensus/proposals/1"

// startProposals serves the direct proposal protocol; called by
// startVotes.
func (n *Node) startProposals() error {
	d, err := n.host.OpenDirect(protoProposals, n.validateDirectProposal)
	if err != nil {
		return err
	}
	n.proposals = d
	n.wg.Add(1)
	go n.readProposals()
	return nil
}

// validateDirectProposal is the door of proposals sent directly: the lane
// byte, then the gossip door of that lane's consensus topic. A vote sent on
// this protocol is refused: votes have their own (protoVotes).
func (n *Node) validateDirectProposal(from chain.PubKey, data []byte) (p2p.Result, any) {
	if len(data) < 2 || !chain.Lane(data[0]).Valid() {
		n.metrics.gossipRejected.WithLabelValues("consensus").Inc()
		return p2p.Reject, nil
	}
	res, val := n.validateGossipConsensus(chain.Lane(data[0]), from, data[1:])
	if lm, ok := val.(laneMessage); ok && lm.msg.Proposal == nil {
		n.metrics.gossipRejected.WithLabelValues("consensus").Inc()
		return p2p.Reject, nil
	}
	return res, val
}

// readProposals hands the proposals that passed the door to the loop, as
// the consensus topics' readers do.
func (n *Node) readProposals() {
	defer n.wg.Done()
	in := n.proposals.Messages()
	for {
		select {
		case <-n.ctx.Done():
			return
		case m := <-in:
			n.onGossipConsensus(m)
		}
	}
}

// sendProposal sends a proposal, encoded for its lane's consensus topic
// (data), to every connected peer, and reports whether it was queued for
// every one and they include every validator of the lane's height, so
// that gossip is not needed. Called on the loop, from broadcastConsensus.
func (n *Node) sendProposal(lane chain.Lane, data []byte) bool {
	d := n.drivers[lane]
	if n.proposals == nil || d == nil || !n.proposesDirect(d.eng.ValidatorSet()) {
		return false
	}
	framed := make([]byte, 1+len(data))
	framed[0] = byte(lane)
	copy(framed[1:], data)
	// A peer whose queue was full (or a proposal over the size limit) gets
	// it by gossip.
	if peers := len(n.host.Peers()); n.proposals.SendAll(framed) < peers {
		return false
	}
	return n.allConnected(d.eng.ValidatorSet())
}

// proposesDirect reports whether this node's proposals in set go straight
// to its peers: p2p.direct_proposals, or a set of at least
// p2p.direct_proposals_from validators.
func (n *Node) proposesDirect(set *chain.ValidatorSet) bool {
	return set != nil && (n.cfg.P2P.DirectProposals || setOfAtLeast(set, n.cfg.P2P.DirectProposalsFrom))
}
