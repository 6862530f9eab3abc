package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/consensus"
	"github.com/waterchain/waterchain/p2p"
)

// Compact proposals (issue 16, "send each reading once").
//
// A reading reaches every validator's mempool by gossip; a full proposal
// would carry it across the network a second time. A data-lane proposal
// therefore goes out as a compactProposal: the header, the proposal's
// round, POL round and signature, and the hashes of its readings in block
// order. A receiver rebuilds the block from its mempool (and the readings
// of blocks it built or rebuilt, entryCache), fetches the readings it
// lacks from peers on protoEntries, checks that the rebuilt readings hash
// to the header's entries root, and only then steps the full proposal into
// its engine, as if it had come whole. Nothing signed changes: the block,
// its hash and the proposal signature are those of the full proposal, and
// blocks stored and served by sync stay full.
//
// A receiver that cannot rebuild the block in the round's propose timeout
// drops it: the engine times out as if the proposal never arrived, and a
// later Rebroadcast or round brings it again. Tx-lane proposals stay full:
// they are few and small.
//
// Where the checks run, cheapest first: the gossip door decodes, checks
// the fields (compactProposal.ValidateBasic) and, when every reading is at
// hand, rebuilds and compares the entries root there, so a hash list that
// does not match its header is rejected (the sender penalized) and not
// forwarded. When readings are missing, a fresh proposal's signature is
// checked before anything is fetched, so a forged proposal costs no
// request. Fetched readings must hash to a hash asked for; their
// signatures are checked with the block's (startValidation), as before.

// protoEntries serves readings by hash to peers rebuilding a compact
// proposal.
const protoEntries = "consensus/entries/1"

// maxEntriesPerRequest bounds the hashes of one entries request: 32 bytes
// each, well under p2p.DefaultMaxRequestSize.
const maxEntriesPerRequest = 16_000

// entryCacheMax bounds the readings of recent blocks kept to serve peers
// (two generations of half of it): a few blocks of maxReadingsPerBlock.
const entryCacheMax = 4 * maxReadingsPerBlock

// Errors of rebuilding a compact proposal.
var (
	// errEntriesRoot: the named readings do not hash to the header's
	// entries root. The proposal is invalid whoever rebuilds it.
	errEntriesRoot = errors.New("compact proposal: readings do not match the header's entries root")
	// errEntriesMissing: no peer sent some named readings in time.
	errEntriesMissing = errors.New("compact proposal: readings missing")
	// errBadEntries: a peer answered with readings not asked for or
	// malformed.
	errBadEntries = errors.New("peer answered with readings not asked for")
)

// compactProposal is a data-lane proposal on the wire with its readings
// named by hash, in block order. See the top of this file.
type compactProposal struct {
	Round    uint32          `cbor:"1,keyasint"`
	POLRound int32           `cbor:"2,keyasint"`
	Header   chain.Header    `cbor:"3,keyasint"`
	Entries  []chain.Hash    `cbor:"4,keyasint,omitempty"`
	Sig      chain.Signature `cbor:"5,keyasint"`
}

// compactOf is p in compact form. p must be a data-lane proposal; hashes
// are its readings' hashes when known (nil: computed here).
func compactOf(p *chain.Proposal, hashes []chain.Hash) *compactProposal {
	if len(hashes) != len(p.Block.Readings) {
		hashes = readingHashes(p.Block.Readings)
	}
	return &compactProposal{Round: p.Round, POLRound: p.POLRound, Header: p.Block.Header, Entries: hashes, Sig: p.Sig}
}

// ref is the signed part of the proposal c stands for, as
// chain.Proposal.Ref makes it.
func (c *compactProposal) ref() chain.ProposalRef {
	return chain.ProposalRef{
		Lane: c.Header.Lane, Height: c.Header.Height, Round: c.Round, POLRound: c.POLRound,
		BlockHash: c.Header.Hash(), Proposer: c.Header.Proposer, Sig: c.Sig,
	}
}

// ValidateBasic checks c's fields without state or signatures.
func (c *compactProposal) ValidateBasic() error {
	if err := c.Header.ValidateBasic(); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if c.Header.Lane != chain.LaneData {
		return fmt.Errorf("lane %s: only data-lane proposals are compact", c.Header.Lane)
	}
	if n := len(c.Entries); n > chain.MaxBlockEntries || uint32(n) != c.Header.NumEntries {
		return fmt.Errorf("entries: %d hashes, header has %d entries (at most %d)", n, c.Header.NumEntries, chain.MaxBlockEntries)
	}
	ref := c.ref()
	return ref.ValidateBasic()
}

// proposal is the full proposal c stands for, with readings rs (in c's
// order).
func (c *compactProposal) proposal(rs []*chain.Reading) *chain.Proposal {
	return &chain.Proposal{
		Lane: c.Header.Lane, Height: c.Header.Height, Round: c.Round, POLRound: c.POLRound,
		Block: &chain.Block{Header: c.Header, Readings: rs}, Sig: c.Sig,
	}
}

// checkRoot reports whether readings rs are the ones c's header commits
// to. Every rs[i] was found by its hash c.Entries[i], so no reading is
// checked one by one: the root alone decides. It is computed from the
// readings' encodings, since an RFC 6962 leaf hash (chain.LeafHash) is not
// the reading's hash.
func (c *compactProposal) checkRoot(rs []*chain.Reading) error {
	b := chain.Block{Header: c.Header, Readings: rs}
	if root := b.ComputeEntriesRoot(); root != c.Header.EntriesRoot {
		return fmt.Errorf("%w: header %s says %s, readings hash to %s", errEntriesRoot, c.Header.Hash().Short(), c.Header.EntriesRoot.Short(), root.Short())
	}
	return nil
}

// encodeConsensus is m on the wire: a data-lane proposal in compact form
// when p2p.compact_proposals is on, with its readings kept to serve the
// peers that miss them. Called on the loop.
func (n *Node) encodeConsensus(lane chain.Lane, m consensus.Message) []byte {
	w := &wireConsensus{Proposal: m.Proposal, Vote: m.Vote, Sent: n.sent.Add(1)}
	if p := m.Proposal; p != nil && lane == chain.LaneData && n.cfg.P2P.CompactProposals {
		// Peers hold the readings from gossip: name them by hash, and keep
		// them to serve the peers that do not (compact.go).
		var hashes []chain.Hash
		if d := n.drivers[lane]; d != nil {
			if ex := d.executed[p.Block.Hash()]; ex != nil && ex.block == p.Block {
				hashes = ex.entryHashes // built here: hashed already
			}
		}
		c := compactOf(p, hashes)
		n.compact.entries.add(p.Block.Readings, c.Entries)
		w.Proposal, w.Compact = nil, c
	}
	data := encodeWireVotes(*w) // a vote by hand; a proposal by chain.MustEncode
	if w.Compact != nil {
		n.compact.metrics.sentBytes.WithLabelValues("compact").Add(float64(len(data)))
	} else if m.Proposal != nil {
		n.compact.metrics.sentBytes.WithLabelValues("full").Add(float64(len(data)))
	}
	return data
}

// entryCache holds the readings of blocks this node proposed or rebuilt
// recently, by hash, so it can serve them to peers after they left its
// mempool (a restarted proposer, a block committed meanwhile). Two
// generations, as sigCache.
type entryCache struct {
	max int

	mu       sync.Mutex // guards cur and old
	cur, old map[chain.Hash]*chain.Reading
}

func newEntryCache(max int) *entryCache {
	return &entryCache{max: max, cur: make(map[chain.Hash]*chain.Reading), old: make(map[chain.Hash]*chain.Reading)}
}

// add remembers rs, whose hashes are hashes.
func (c *entryCache) add(rs []*chain.Reading, hashes []chain.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range rs {
		if len(c.cur) >= c.max/2 {
			c.old, c.cur = c.cur, make(map[chain.Hash]*chain.Reading, c.max/2)
		}
		c.cur[hashes[i]] = r
	}
}

func (c *entryCache) get(h chain.Hash) (*chain.Reading, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.cur[h]; ok {
		return r, true
	}
	r, ok := c.old[h]
	return r, ok
}

// compactMetrics count what rebuilding compact proposals took.
type compactMetrics struct {
	proposals *prometheus.CounterVec // by result
	entries   *prometheus.CounterVec // by source: local, fetched
	sentBytes *prometheus.CounterVec // by form: compact, full
}

func newCompactMetrics(reg prometheus.Registerer) *compactMetrics {
	m := &compactMetrics{
		proposals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_compact_proposals_total",
			Help: "Compact data-lane proposals received, by result: rebuilt (from the mempool alone), fetched (after fetching readings), missing (not rebuilt in time), invalid (readings not matching the header).",
		}, []string{"result"}),
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_compact_entries_total",
			Help: "Readings of compact proposals rebuilt, by source: local (mempool or recent blocks) or fetched (from a peer).",
		}, []string{"source"}),
		sentBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_proposal_bytes_total",
			Help: "Bytes of consensus proposals this node published, by form (compact, full).",
		}, []string{"form"}),
	}
	reg.MustRegister(m.proposals, m.entries, m.sentBytes)
	return m
}

// compactState is the node's state for compact proposals, safe for
// concurrent use.
type compactState struct {
	entries *entryCache
	metrics *compactMetrics

	mu       sync.Mutex // guards fetching and rebuilt
	fetching map[chain.Hash]bool
	// rebuilt holds the entry hashes of blocks rebuilt from compact
	// proposals, until their validation takes them (takeRebuilt). Keyed
	// by the very block value handed to the engine, which gives it back
	// in Ready.Validate.
	rebuilt map[*chain.Block][]chain.Hash
}

// maxRebuilt bounds compactState.rebuilt: copies of a proposal the engine
// refused as duplicates are never taken, and are forgotten when it fills.
const maxRebuilt = 64

func newCompactState(reg prometheus.Registerer) *compactState {
	return &compactState{
		entries: newEntryCache(entryCacheMax), metrics: newCompactMetrics(reg),
		fetching: make(map[chain.Hash]bool), rebuilt: make(map[*chain.Block][]chain.Hash),
	}
}

// noteRebuilt records that b was rebuilt from a compact proposal whose
// entry hashes are hashes: its shape is checked (see checkStateless).
func (cs *compactState) noteRebuilt(b *chain.Block, hashes []chain.Hash) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.rebuilt) >= maxRebuilt {
		clear(cs.rebuilt)
	}
	cs.rebuilt[b] = hashes
}

// takeRebuilt returns and forgets the entry hashes of b if it was rebuilt
// from a compact proposal.
func (cs *compactState) takeRebuilt(b *chain.Block) ([]chain.Hash, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	hashes, ok := cs.rebuilt[b]
	delete(cs.rebuilt, b)
	return hashes, ok
}

// rebuiltProposal is the full proposal c stands for with readings rs,
// recorded as rebuilt.
func (cs *compactState) rebuiltProposal(c *compactProposal, rs []*chain.Reading) *chain.Proposal {
	p := c.proposal(rs)
	cs.noteRebuilt(p.Block, c.Entries)
	return p
}

// lookupEntries finds the readings named by hashes in the mempool and the
// recent blocks. rs[i] is nil for each hash missing, and missing lists
// their indexes.
func (n *Node) lookupEntries(hashes []chain.Hash) (rs []*chain.Reading, missing []int) {
	rs = make([]*chain.Reading, len(hashes))
	for i, h := range hashes {
		r, ok := n.readings.Get(h)
		if !ok {
			r, ok = n.compact.entries.get(h)
		}
		if ok {
			rs[i] = r
		} else {
			missing = append(missing, i)
		}
	}
	return rs, missing
}

// pendingCompact is a compact proposal accepted at the gossip door whose
// readings are not all at hand: onGossipConsensus fetches them.
type pendingCompact struct {
	lane    chain.Lane
	c       *compactProposal
	key     chain.Hash
	rs      []*chain.Reading
	missing []int
	from    chain.PubKey
}

// validateGossipCompact is the gossip door of a compact proposal (see
// validateGossipConsensus for the shared checks). It returns a laneMessage
// with the rebuilt proposal when every reading is at hand, else a
// pendingCompact.
func (n *Node) validateGossipCompact(lane chain.Lane, from chain.PubKey, c *compactProposal) (p2p.Result, any) {
	if c.Header.Lane != lane || c.ValidateBasic() != nil {
		n.metrics.gossipRejected.WithLabelValues("consensus").Inc()
		return p2p.Reject, nil
	}
	ref := c.ref()
	key := chain.HashBytes(chain.MustEncode(&ref))
	// Heights are the loop's, as at every consensus door (noteHeight).
	tip := n.tipHeight(lane)
	if n.consensusSeen.Has(key) || c.Header.Height <= tip {
		return p2p.Ignore, nil
	}
	rs, missing := n.lookupEntries(c.Entries)
	n.compact.metrics.entries.WithLabelValues("local").Add(float64(len(rs) - len(missing)))
	if len(missing) == 0 {
		if err := c.checkRoot(rs); err != nil {
			n.log.Info("compact proposal refused", "lane", lane, "height", c.Header.Height, "round", c.Round, "err", err)
			n.compact.metrics.proposals.WithLabelValues("invalid").Inc()
			n.metrics.gossipRejected.WithLabelValues("consensus").Inc()
			return p2p.Reject, nil
		}
		n.compact.metrics.proposals.WithLabelValues("rebuilt").Inc()
		n.compact.entries.add(rs, c.Entries)
		return p2p.Accept, laneMessage{lane: lane, msg: consensus.Message{Proposal: n.compact.rebuiltProposal(c, rs)}, key: key}
	}
	// A proposal far ahead names readings this node cannot have yet; the
	// engine would only buffer it. Rebroadcast brings it again.
	if c.Header.Height > tip+2 {
		return p2p.Ignore, nil
	}
	// Nothing is fetched for a proposal its signer did not sign. A fresh
	// proposal is signed by its block's proposer (the engine checks that
	// this is the round's): a bad signature is invalid in every state. A
	// re-proposal is signed by the round's proposer, read here off the
	// loop from the committed chain; a mismatch may be this node's lag,
	// so it is ignored, not rejected.
	if c.POLRound < 0 {
		if ref.VerifySignature(n.chainID) != nil {
			n.metrics.gossipRejected.WithLabelValues("consensus").Inc()
			return p2p.Reject, nil
		}
	} else {
		vs, err := n.validatorSet(lane, c.Header.Height)
		if err != nil {
			return p2p.Ignore, nil
		}
		signed := ref
		signed.Proposer = vs.Proposer(c.Header.Height, c.Round)
		if signed.VerifySignature(n.chainID) != nil {
			return p2p.Ignore, nil
		}
	}
	return p2p.Accept, pendingCompact{lane: lane, c: c, key: key, rs: rs, missing: missing, from: from}
}

// completeCompact fetches the readings a compact proposal misses and
// hands the rebuilt proposal to the loop, or drops it when they do not
// come within the round's propose timeout. Runs on its own goroutine, one
// per proposal.
func (n *Node) completeCompact(pc pendingCompact) {
	defer n.wg.Done()
	cs := n.compact
	cs.mu.Lock()
	if cs.fetching[pc.key] {
		cs.mu.Unlock()
		return
	}
	cs.fetching[pc.key] = true
	cs.mu.Unlock()
	defer func() {
		cs.mu.Lock()
		delete(cs.fetching, pc.key)
		cs.mu.Unlock()
	}()

	c := pc.c
	log := n.log.With("lane", pc.lane, "height", c.Header.Height, "round", c.Round)
	timeout := consensus.TimeoutsFromParams(&n.gen.Params).Duration(consensus.TimeoutPropose, c.Round)
	ctx, cancel := context.WithTimeout(n.ctx, timeout)
	defer cancel()
	start := time.Now()
	hashes := make([]chain.Hash, len(pc.missing))
	for k, i := range pc.missing {
		hashes[k] = c.Entries[i]
	}
	got, err := n.fetchEntries(ctx, n.entryPeers(pc.from, c.Header.Proposer), hashes)
	if err != nil {
		log.Info("compact proposal not rebuilt; as if it did not arrive", "missing", len(hashes), "took", time.Since(start), "err", err)
		cs.metrics.proposals.WithLabelValues("missing").Inc()
		return
	}
	rs := pc.rs
	for k, i := range pc.missing {
		rs[i] = got[k]
	}
	cs.metrics.entries.WithLabelValues("fetched").Add(float64(len(hashes)))
	if err := c.checkRoot(rs); err != nil {
		log.Info("compact proposal refused", "err", err)
		cs.metrics.proposals.WithLabelValues("invalid").Inc()
		return
	}
	cs.metrics.proposals.WithLabelValues("fetched").Inc()
	cs.entries.add(rs, c.Entries)
	log.Debug("compact proposal rebuilt after fetching", "fetched", len(hashes), "of", len(rs), "took", time.Since(start))
	select {
	case n.msgCh <- laneMessage{lane: pc.lane, msg: consensus.Message{Proposal: cs.rebuiltProposal(c, rs)}, key: pc.key}:
	case <-n.ctx.Done():
	}
}

// entryPeers is the order in which to ask peers for readings: the peer
// that forwarded the proposal, its proposer, then every other peer.
func (n *Node) entryPeers(first ...chain.PubKey) []chain.PubKey {
	self := n.key.Public()
	seen := map[chain.PubKey]bool{self: true}
	var out []chain.PubKey
	for _, k := range append(first, n.host.Peers()...) {
		if !k.IsZero() && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// entriesRequest asks a peer for readings by hash.
type entriesRequest struct {
	Hashes []chain.Hash `cbor:"1,keyasint"`
}

// entriesResponse holds the readings of a request the peer has, in the
// request's order, without the ones it lacks.
type entriesResponse struct {
	Readings []*chain.Reading `cbor:"1,keyasint,omitempty"`
}

// fetchEntries asks peers, in order, for the readings hashes name until
// it has them all, and returns them in the order of hashes. A peer's
// answer is used only if every reading in it is well-formed and hashes to
// one asked for.
func (n *Node) fetchEntries(ctx context.Context, peers []chain.PubKey, hashes []chain.Hash) ([]*chain.Reading, error) {
	out := make([]*chain.Reading, len(hashes))
	want := make(map[chain.Hash]int, len(hashes))
	for i, h := range hashes {
		want[h] = i
	}
	var errs []error
	for _, peer := range peers {
		if len(want) == 0 {
			break
		}
		if ctx.Err() != nil {
			break
		}
		ask := make([]chain.Hash, 0, len(want))
		for _, h := range hashes {
			if _, ok := want[h]; ok {
				ask = append(ask, h)
			}
		}
		for start := 0; start < len(ask); start += maxEntriesPerRequest {
			chunk := ask[start:min(start+maxEntriesPerRequest, len(ask))]
			rs, err := n.requestEntries(ctx, peer, chunk)
			if err != nil {
				errs = append(errs, err)
				break
			}
			for _, r := range rs {
				h := r.Hash()
				i := want[h]
				out[i] = r
				delete(want, h)
			}
		}
	}
	if len(want) > 0 {
		return nil, fmt.Errorf("%w: %d of %d from %d peers: %w", errEntriesMissing, len(want), len(hashes), len(peers), errors.Join(append(errs, ctx.Err())...))
	}
	return out, nil
}

// requestEntries asks one peer for the readings hashes names and checks
// its answer: each reading well-formed, asked for, and sent once.
func (n *Node) requestEntries(ctx context.Context, peer chain.PubKey, hashes []chain.Hash) ([]*chain.Reading, error) {
	data, err := n.host.Request(ctx, peer, protoEntries, chain.MustEncode(&entriesRequest{Hashes: hashes}))
	if err != nil {
		return nil, err
	}
	var resp entriesResponse
	if err := chain.Decode(data, &resp); err != nil {
		return nil, fmt.Errorf("%w: from %s: %w", errBadEntries, peer.Short(), err)
	}
	if len(resp.Readings) > len(hashes) {
		return nil, fmt.Errorf("%w: %s sent %d readings for %d hashes", errBadEntries, peer.Short(), len(resp.Readings), len(hashes))
	}
	asked := make(map[chain.Hash]bool, len(hashes))
	for _, h := range hashes {
		asked[h] = true
	}
	for i, r := range resp.Readings {
		if r == nil || r.ValidateBasic() != nil {
			return nil, fmt.Errorf("%w: %s sent a malformed reading [%d]", errBadEntries, peer.Short(), i)
		}
		h := r.Hash()
		if !asked[h] {
			return nil, fmt.Errorf("%w: %s sent reading %s [%d], not asked for or twice", errBadEntries, peer.Short(), h.Short(), i)
		}
		delete(asked, h)
	}
	return resp.Readings, nil
}

// serveEntries answers an entries request from the mempool and the
// recent blocks.
func (n *Node) serveEntries(_ context.Context, _ chain.PubKey, req []byte) ([]byte, error) {
	var r entriesRequest
	if err := chain.Decode(req, &r); err != nil {
		return nil, fmt.Errorf("bad entries request: %w", err)
	}
	if len(r.Hashes) > maxEntriesPerRequest {
		return nil, fmt.Errorf("entries request of %d hashes exceeds %d", len(r.Hashes), maxEntriesPerRequest)
	}
	rs, _ := n.lookupEntries(r.Hashes)
	found := rs[:0]
	for _, x := range rs {
		if x != nil {
			found = append(found, x)
		}
	}
	return chain.MustEncode(&entriesResponse{Readings: found}), nil
}
