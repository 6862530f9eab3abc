package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/consensus"
	"github.com/waterchain/waterchain/node/mempool"
	"github.com/waterchain/waterchain/p2p"
)

// Gossip topics (namespaced by the p2p host with the network id).
const (
	topicReadings      = "readings"
	topicTxs           = "txs"
	topicConsensusData = "consensus/data"
	topicConsensusTx   = "consensus/tx"
	topicEvidence      = "evidence"
)

// consensusSeenMax bounds the keys of consensus messages the engines hold
// that the door remembers (consensusSeen): a height of n validators holds
// about 2n votes per round and lane, so this covers many heights at n = 100.
const consensusSeenMax = 1 << 14

// maxGossipReadings bounds the readings of one gossip message.
const maxGossipReadings = 2_000

type gossipTopics struct {
	readings, txs, evidence *p2p.Topic
	consensus               map[chain.Lane]*p2p.Topic
	// votes carries this node's votes straight to its peers; see votes.go.
	votes *p2p.Direct
	// readings carries the readings of this node's door straight to its
	// peers in large validator sets; see readings_direct.go.
	directReadings *p2p.Direct
}

// wireConsensus is a consensus message on the wire: exactly one of
// Proposal, Vote and Compact (a data-lane proposal naming its readings by
// hash; see compact.go). Sent is the sender's publish counter: gossip drops a
// message whose bytes it has seen in the last two minutes, so without it a
// rebroadcast of a lost vote would be dropped as a duplicate. It is not
// signed and means nothing else.
type wireConsensus struct {
	Proposal *chain.Proposal  `cbor:"1,keyasint,omitempty"`
	Vote     *chain.Vote      `cbor:"2,keyasint,omitempty"`
	Sent     uint64           `cbor:"3,keyasint,omitempty"`
	Compact  *compactProposal `cbor:"4,keyasint,omitempty"`
	// Votes are the votes of a phase a round's proposer relays
	// (voterelay.go); sent directly only.
	Votes []*chain.Vote `cbor:"5,keyasint,omitempty"`
}

// wireReadings is a batch of readings on the wire. Sent, as in
// wireConsensus, makes a batch gossiped again differ from the first time.
type wireReadings struct {
	Readings []*chain.Reading `cbor:"1,keyasint"`
	Sent     uint64           `cbor:"2,keyasint,omitempty"`
}

// Readings waiting in the mempool for regossipAfter are gossiped once more
// (checked every regossipEvery). Gossip drops messages under load, and a
// reading lost on the way to the proposer is not just late: once the
// device's next reading is included (after seqGapWait), it is recorded as
// missed and refused for good as a replay. regossipAfter is below
// seqGapWait so that the second copy still arrives in time.
//
// At most regossipBudget readings go out again per round, oldest first: an
// overloaded node has every reading waiting that long, and gossiping them
// all twice would take the CPU the blocks need.
//
// Not every node that holds a stale reading sends it again: the node whose
// door admitted it does, and of the others about regossipHolders
// (regossips). When every node did, each reading waiting past
// regossipAfter crossed the network n·(n−1) times, and at 16 validators
// (blocks seconds apart, so every reading goes stale) that was most of a
// node's CPU, which made blocks later still.
const (
	regossipAfter   = time.Second
	regossipEvery   = 500 * time.Millisecond
	regossipBudget  = 250
	regossipHolders = 2
)

// regossipStale gossips again the readings that have waited regossipAfter,
// each once, of those this node is to send (regossipPick). Called on the
// loop.
func (n *Node) regossipStale() {
	stale := n.readings.Stale(time.Now().Add(-regossipAfter), regossipBudget)
	if len(stale) == 0 {
		return
	}
	rs := regossipPick(stale, n.readings.Own, n.key.Public(), len(n.host.Peers())+1)
	for start := 0; start < len(rs); start += maxGossipReadings {
		end := min(start+maxGossipReadings, len(rs))
		n.publish(n.topics.readings, encodeWireReadings(rs[start:end], n.sent.Add(1)))
	}
	if len(rs) > 0 {
		n.metrics.readingsRegossiped.Add(float64(len(rs)))
	}
}

// regossipPick keeps, in place, the stale readings that the node with key
// self, one of nodes, gossips again: those its door admitted (own) and
// those regossips picks it for.
func regossipPick(stale []*chain.Reading, own func(chain.Hash) bool, self chain.PubKey, nodes int) []*chain.Reading {
	out := stale[:0]
	for _, r := range stale {
		h := r.Hash()
		if own(h) || regossips(h, self, nodes) {
			out = append(out, r)
		}
	}
	return out
}

// regossips reports whether the node with key self, one of nodes, is among
// the about regossipHolders nodes that gossip again a reading with hash h
// they did not admit. The choice is a hash of both, so that it spreads
// over the nodes, differs per reading, and is the same on every call; with
// at most regossipHolders nodes, every one is chosen.
func regossips(h chain.Hash, self chain.PubKey, nodes int) bool {
	if nodes <= regossipHolders {
		return true
	}
	var b [len(chain.Hash{}) + len(chain.PubKey{})]byte
	copy(b[:], h[:])
	copy(b[len(h):], self[:])
	mixed := chain.HashBytes(b[:])
	x := binary.BigEndian.Uint64(mixed[:8])
	return x%uint64(nodes) < regossipHolders
}

// startP2P starts the libp2p host and joins the topics.
func (n *Node) startP2P() error {
	host, err := p2p.New(n.ctx, p2p.Config{
		PrivateKey:    n.key.Ed25519(),
		ListenAddrs:   n.cfg.P2P.Listen,
		ExternalAddrs: n.cfg.P2P.ExternalAddresses,
		Bootstrap:     n.cfg.P2P.Bootstrap,
		AllowedKeys:   n.gen.PeerKeys(),
		NetworkID:     n.chainID + "/" + n.genHash.String(),
		MDNS:          n.cfg.P2P.MDNS,
		MeshDegree:    n.cfg.P2P.MeshDegree,
		Logger:        n.log,
		Registerer:    n.registry,
	})
	if err != nil {
		return fmt.Errorf("p2p: %w", err)
	}
	n.host = host
	if err := host.Handle(protoEntries, n.serveEntries); err != nil {
		return err
	}
	n.topics.consensus = make(map[chain.Lane]*p2p.Topic)
	join := func(name string, v p2p.Validator, opts ...p2p.TopicOption) (*p2p.Topic, error) {
		t, err := host.Join(name, v, opts...)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	if n.topics.readings, err = join(topicReadings, n.validateGossipReadings); err != nil {
		return err
	}
	if n.topics.txs, err = join(topicTxs, n.validateGossipTx); err != nil {
		return err
	}
	if n.topics.evidence, err = join(topicEvidence, n.validateGossipEvidence, p2p.Unpaced()); err != nil {
		return err
	}
	for lane, name := range map[chain.Lane]string{chain.LaneData: topicConsensusData, chain.LaneTx: topicConsensusTx} {
		lane := lane
		t, err := join(name, func(from chain.PubKey, data []byte) (p2p.Result, any) {
			return n.validateGossipConsensus(lane, from, data)
		}, p2p.Unpaced())
		if err != nil {
			return err
		}
		n.topics.consensus[lane] = t
	}
	if err := n.registerSync(); err != nil {
		return err
	}
	if err := n.startVotes(); err != nil {
		return err
	}
	if err := n.startDirectReadings(); err != nil {
		return err
	}
	n.gossipOut = newGossipBatcher(gossipLinger, gossipEnough, n.sendReadings)
	n.wg.Add(5)
	go n.readTopic(n.topics.readings, n.onGossipReadings)
	go n.readTopic(n.topics.txs, n.onGossipTx)
	go n.readTopic(n.topics.evidence, n.onGossipEvidence)
	go n.readTopic(n.topics.consensus[chain.LaneData], n.onGossipConsensus)
	go n.readTopic(n.topics.consensus[chain.LaneTx], n.onGossipConsensus)
	return nil
}

func (n *Node) readTopic(t *p2p.Topic, handle func(p2p.Message)) {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case m, ok := <-t.Messages():
			if !ok {
				return
			}
			handle(m)
		}
	}
}

// validateGossipReadings is the gossip door of readings: malformed batches
// and bad signatures are provably invalid (Reject: the sender is scored
// down); readings this node's state refuses (replayed, unknown device) may
// be valid for a peer in another state (Ignore).
func (n *Node) validateGossipReadings(_ chain.PubKey, data []byte) (p2p.Result, any) {
	res, hr := n.readingsDoor(data)
	if res != p2p.Accept {
		return res, nil
	}
	for _, err := range verifyReadings(n.sigs, n.chainID, hr.readings, hr.hashes) {
		if err != nil {
			n.metrics.gossipRejected.WithLabelValues(topicReadings).Inc()
			return p2p.Reject, nil
		}
	}
	return p2p.Accept, hr
}

// readingsDoor checks a message of readings from a peer, all but the
// signatures: Reject for a malformed one, Ignore when every reading waits
// here already, else the readings not held, with their hashes.
func (n *Node) readingsDoor(data []byte) (p2p.Result, hashedReadings) {
	// The common form decodes and hashes without reflection; anything
	// else goes through chain.Decode, which accepts or refuses it.
	w, hashes, fast := decodeWireReadings(data)
	if !fast {
		if err := chain.Decode(data, &w); err != nil || len(w.Readings) == 0 || len(w.Readings) > maxGossipReadings {
			n.metrics.gossipRejected.WithLabelValues(topicReadings).Inc()
			return p2p.Reject, hashedReadings{}
		}
	}
	for _, r := range w.Readings {
		if r == nil || r.ValidateBasic() != nil {
			n.metrics.gossipRejected.WithLabelValues(topicReadings).Inc()
			return p2p.Reject, hashedReadings{}
		}
	}
	if !fast {
		hashes = readingHashes(w.Readings)
	}
	rs, hashes := n.unheldReadings(w.Readings, hashes)
	if len(rs) == 0 {
		// Every reading is waiting here already: a copy (a peer's
		// regossip, or a mesh forward of what the author sent this
		// node itself). Ignored, it is neither checked again nor
		// forwarded; see unheldReadings.
		return p2p.Ignore, hashedReadings{}
	}
	return p2p.Accept, hashedReadings{readings: rs, hashes: hashes}
}

// unheldReadings returns the readings of a gossip message (and their
// hashes) that are not waiting in the mempool, cheapest check first: a
// held reading was signature-checked and checked against the state when it
// came, and checking it again (the state check alone is tens of µs) only
// to be refused as a duplicate was, at 16 validators, a large part of a
// node's CPU: readings come again in peers' regossip (regossipStale) and
// in the mesh's forwards. A message whose readings are all held is
// Ignored, so it is not forwarded either: its author sent it to every
// peer it is connected to, and this node forwarded it when it first came.
func (n *Node) unheldReadings(rs []*chain.Reading, hashes []chain.Hash) ([]*chain.Reading, []chain.Hash) {
	k := 0
	for k < len(rs) && !n.readings.Has(hashes[k]) {
		k++
	}
	if k == len(rs) {
		return rs, hashes // none held: the common case, no copy
	}
	outR := append(make([]*chain.Reading, 0, len(rs)-1), rs[:k]...)
	outH := append(make([]chain.Hash, 0, len(rs)-1), hashes[:k]...)
	for i := k + 1; i < len(rs); i++ {
		if !n.readings.Has(hashes[i]) {
			outR = append(outR, rs[i])
			outH = append(outH, hashes[i])
		}
	}
	return outR, outH
}

// hashedReadings are gossiped readings with their hashes, computed once
// at the gossip door (encoding and hashing each reading is a part of its
// cost that shows in profiles).
type hashedReadings struct {
	readings []*chain.Reading
	hashes   []chain.Hash
}

func (n *Node) onGossipReadings(m p2p.Message) {
	hr, _ := m.Value.(hashedReadings)
	n.admitReadings(hr)
}

// admitReadings puts signature-checked readings from peers into the
// mempool, those this node's state accepts now.
func (n *Node) admitReadings(hr hashedReadings) {
	c, err := n.readingChecker()
	if err != nil {
		n.log.Warn("cannot check gossiped readings", "err", err)
		return
	}
	added := 0
	for i, r := range hr.readings {
		if err := n.admitReading(c, r, hr.hashes[i]); err == nil {
			added++
		}
	}
	if added > 0 {
		n.kick()
	}
}

func (n *Node) validateGossipTx(_ chain.PubKey, data []byte) (p2p.Result, any) {
	tx, err := chain.DecodeTx(data)
	if err != nil {
		n.metrics.gossipRejected.WithLabelValues(topicTxs).Inc()
		return p2p.Reject, nil
	}
	if errs := verifyTxs(n.sigs, n.chainID, []*chain.Tx{tx}); errs[0] != nil {
		n.metrics.gossipRejected.WithLabelValues(topicTxs).Inc()
		return p2p.Reject, nil
	}
	return p2p.Accept, tx
}

func (n *Node) onGossipTx(m p2p.Message) {
	tx, _ := m.Value.(*chain.Tx)
	if tx == nil {
		return
	}
	if err := n.admitTx(tx); err == nil {
		n.kick()
	}
}

func (n *Node) validateGossipEvidence(_ chain.PubKey, data []byte) (p2p.Result, any) {
	var ev chain.Evidence
	if chain.Decode(data, &ev) != nil || ev.ValidateBasic() != nil || ev.VerifySignatures(n.chainID) != nil {
		n.metrics.gossipRejected.WithLabelValues(topicEvidence).Inc()
		return p2p.Reject, nil
	}
	return p2p.Accept, &ev
}

func (n *Node) onGossipEvidence(m p2p.Message) {
	if ev, ok := m.Value.(*chain.Evidence); ok {
		select {
		case n.evidenceCh <- ev:
		case <-n.ctx.Done():
		}
	}
}

// validateGossipConsensus checks a consensus message's shape, and a vote's
// signature (once: the engine trusts the door). Proposals are verified by
// the engine, which knows each round's proposer.
//
// A copy of a message the engine already holds (consensusSeen) is ignored
// before any check: Rebroadcast resends and relays every vote of a round
// with a new Sent counter, so gossip takes each copy for a new message; at
// n validators that is n² copies per rebroadcast, each once signature
// checked and forwarded to the mesh on every node. Ignored, a copy costs a
// decode and a hash here and is not forwarded: the node that needs it gets
// it from the relaying peer directly (own messages are flood-published),
// and every node relays what it holds in its own Rebroadcast.
func (n *Node) validateGossipConsensus(lane chain.Lane, from chain.PubKey, data []byte) (p2p.Result, any) {
	w, keys, err := decodeConsensus(data)
	if err != nil || countSet(w.Proposal != nil, w.Vote != nil, w.Compact != nil) != 1 {
		n.metrics.gossipRejected.WithLabelValues("consensus").Inc()
		return p2p.Reject, nil
	}
	if w.Compact != nil {
		return n.validateGossipCompact(lane, from, w.Compact)
	}
	msg := consensus.Message{Proposal: w.Proposal, Vote: w.Vote}
	var key chain.Hash
	keyed := true
	if w.Vote != nil {
		key = keys[0]
	} else {
		key, keyed = consensusKey(msg)
	}
	if keyed && n.consensusSeen.Has(key) {
		return p2p.Ignore, nil
	}
	if v := w.Vote; v != nil {
		if v.Lane != lane || v.ValidateBasic() != nil || v.VerifySignature(n.chainID) != nil {
			n.metrics.gossipRejected.WithLabelValues("consensus").Inc()
			return p2p.Reject, nil
		}
	} else if p := w.Proposal; p.Lane != lane || p.ValidateBasic() != nil {
		n.metrics.gossipRejected.WithLabelValues("consensus").Inc()
		return p2p.Reject, nil
	}
	// The peer that relayed a message of a later height holds it, and
	// most likely the blocks before it: the next status poll asks it.
	tip := n.tipHeight(lane)
	n.noteHeight(from, tip, msg.Height())
	// Far-behind messages are stale, not invalid.
	if msg.Height() < tip {
		return p2p.Ignore, nil
	}
	return p2p.Accept, laneMessage{lane: lane, msg: msg, key: key}
}

// consensusKey names a consensus message by what its author signed and the
// signature: the hash of a vote's canonical encoding, or of a proposal's
// ProposalRef (which commits to the block's header, and so to its entries
// root). Copies with other Sent counters have the same key. ok is false
// for a proposal without a block.
//
// A proposal's key does not cover its entries: a copy with the same key but
// other entries is not the held proposal, and dropping it loses nothing,
// since the engine holds the one whose entries match the header.
func consensusKey(m consensus.Message) (key chain.Hash, ok bool) {
	switch {
	case m.Vote != nil:
		var buf [chain.VoteEncodingCap]byte
		return chain.HashBytes(m.Vote.AppendEncoding(buf[:0])), true
	case m.Proposal != nil && m.Proposal.Block != nil:
		ref := m.Proposal.Ref()
		return chain.HashBytes(chain.MustEncode(&ref)), true
	}
	return chain.Hash{}, false
}

// countSet is how many of flags are true.
func countSet(flags ...bool) int {
	k := 0
	for _, f := range flags {
		if f {
			k++
		}
	}
	return k
}

func (n *Node) onGossipConsensus(m p2p.Message) {
	if pc, ok := m.Value.(pendingCompact); ok {
		// Fetching readings takes a round trip or more: votes on this
		// topic must not wait for it.
		n.wg.Add(1)
		go n.completeCompact(pc)
		return
	}
	lm, ok := m.Value.(laneMessage)
	if !ok {
		return
	}
	select {
	case n.msgCh <- lm:
	case <-n.ctx.Done():
	}
}

// stepConsensus gives a gossiped message to its lane's engine, on the loop,
// and remembers the key of a message the engine now holds, so that the door
// drops its later copies (see validateGossipConsensus).
func (n *Node) stepConsensus(d *driver, m laneMessage) {
	if err := d.eng.Step(m.msg); err != nil {
		n.log.Debug("consensus message refused", "lane", m.lane, "msg", m.msg.String(), "err", err)
	}
	if !m.key.IsZero() && d.eng.Holds(m.msg) {
		n.consensusSeen.Add(m.key)
	}
}

// broadcastConsensus sends one of this node's consensus messages (its own,
// or others' it relays), on the loop. A vote goes straight to every
// connected peer (votes.go), and by gossip too only while this node is not
// connected to every validator of the lane's height; so does a proposal
// with p2p.direct_proposals on (proposals.go), else it goes by gossip. Peers relay messages back in their rebroadcasts; the
// doors drop the copies of what the engine holds.
func (n *Node) broadcastConsensus(lane chain.Lane, m consensus.Message) {
	d := n.drivers[lane]
	key, hasKey := consensusKey(m)
	if d != nil && hasKey && d.eng.Holds(m) {
		n.consensusSeen.Add(key)
	}
	if m.Vote != nil && n.topics.votes != nil {
		if d != nil && m.Vote.Validator == n.key.Public() && n.relayOwnVote(d, m.Vote, key) {
			return
		}
		n.topics.votes.SendAll(encodeWireVotes(wireConsensus{Vote: m.Vote}))
		if d != nil && d.eng.ValidatorSet() != nil && n.allConnected(d.eng.ValidatorSet()) {
			return
		}
	}
	data := n.encodeConsensus(lane, m)
	if m.Proposal != nil && n.sendProposal(lane, data) {
		return // sent directly to every validator (proposals.go)
	}
	n.publish(n.topics.consensus[lane], data)
}

func (n *Node) publishEvidence(ev *chain.Evidence) {
	n.publish(n.topics.evidence, chain.MustEncode(ev))
}

// gossipReadings gossips readings this node's door admitted, coalesced
// with others admitted within gossipLinger (see gossipBatcher).
func (n *Node) gossipReadings(rs []*chain.Reading) {
	if n.gossipOut == nil { // no p2p host (yet)
		return
	}
	n.gossipOut.add(rs)
}

// publish sends data without blocking the caller: gossip is paced by the
// host, and the loop must never wait for it.
func (n *Node) publish(t *p2p.Topic, data []byte) {
	if t == nil {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := t.Publish(n.ctx, data); err != nil && !errors.Is(err, context.Canceled) && n.ctx.Err() == nil {
			n.log.Warn("gossip publish failed", "topic", t.Name(), "err", err)
		}
	}()
}

// admitReading puts a signature-checked reading (h is its hash) into the
// mempool if this node's state accepts it now (checked by c, from
// n.readingChecker).
func (n *Node) admitReading(c *state.ReadingChecker, r *chain.Reading, h chain.Hash) error {
	if n.readings.Has(h) {
		return mempool.ErrDuplicate // before the state check, which costs far more
	}
	if err := c.Check(r); err != nil {
		return err
	}
	return n.readings.Add(h, r)
}

// readingChecker checks readings by the data lane's rules as a block on
// top of the current heads would.
func (n *Node) readingChecker() (*state.ReadingChecker, error) {
	return state.NewReadingChecker(n.state, n.Height(chain.LaneTx), chain.TimeOf(n.now()))
}

// admitTx puts a signature-checked transaction into the mempool if it can
// apply after the sender's waiting transactions.
func (n *Node) admitTx(tx *chain.Tx) error {
	if err := n.checkTxState(tx); err != nil {
		return err
	}
	return n.txs.Add(tx.Hash(), tx)
}
