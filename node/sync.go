package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/verify"
	"github.com/waterchain/waterchain/node/images"
)

// Block sync: a node that is behind (a restarted validator, a new auditor)
// asks every peer for its heads and fetches the finalized blocks it lacks,
// with their certificates, at the speed of the machine rather than of a
// round trip or an fsync per block:
//
//   - fetch ahead (sync_fetch.go): ranges of each lane are requested from
//     every peer that holds them, several requests in flight at once (a
//     bounded window), and put back in height order as they arrive;
//   - check in batches (sync_apply.go): hundreds of blocks at a time are
//     put in an order in which every anchor comes first, and the shape,
//     entry signatures and certificate signatures of all of them are
//     checked in one batch verification on every core, off the loop;
//   - apply on the loop: each block's header by the one verifier
//     (chain/verify), its certificate's signers against the validator set
//     in force, its execution to the state root it names. The batch is
//     written in chunks, each one store.CommitBlocks (one badger
//     transaction, one fsync) on a writer goroutine, so that the loop
//     executes the next chunk while one is written (sync_apply.go).
//
// A block that fails stops the batch there: the blocks before it are
// committed, none after it. Progress (target, rate, ETA) is in Status and
// the log (sync_progress.go). Then the node rejoins consensus at the new
// height.

const (
	protoSyncStatus = "sync/status"
	protoSyncBlocks = "sync/blocks"
	// maxSyncBatch is the most blocks one response carries; the server also
	// stops before the response would pass syncAnswerMax.
	maxSyncBatch  = 256
	syncInterval  = time.Second
	syncFirstPoll = 100 * time.Millisecond
	// syncAnswerHeads is the most bytes an answer's CBOR heads take
	// beside its blocks (encodeSyncBlocks): the map's, its key's and the
	// array's.
	syncAnswerHeads = 1 + 1 + 9
)

// syncAnswerMax bounds the bytes of one answer to a blocks request: what
// chain.Decode takes. The server stopped only once an answer had passed
// its 16 MiB, and an answer of blocks full of readings (about 85 of 1,000
// readings) then ended past chain.MaxMessageSize: the node catching up
// refused it, asked again for the same heights and never got further
// (BenchmarkSyncFullBlocks waited 10 minutes for its auditor). A variable
// for tests. A block of chain.MaxBlockEntries of the largest readings
// is about 12 MB, so one block always fits; the server sends at least
// one whatever its size.
var syncAnswerMax = chain.MaxMessageSize

type syncStatusResp struct {
	Data uint64 `cbor:"1,keyasint"`
	Tx   uint64 `cbor:"2,keyasint"`
}

func (s syncStatusResp) height(lane chain.Lane) uint64 {
	if lane == chain.LaneTx {
		return s.Tx
	}
	return s.Data
}

type syncBlocksReq struct {
	Lane chain.Lane `cbor:"1,keyasint"`
	From uint64     `cbor:"2,keyasint"`
	Max  uint32     `cbor:"3,keyasint"`
}

type syncBlocksResp struct {
	Blocks []*chain.Block `cbor:"1,keyasint"`
}

// syncBatch is a batch of fetched blocks for the loop to apply, in an
// order in which every anchor comes before the blocks naming it, with
// their entry and certificate signatures verified.
type syncBatch struct {
	blocks []*chain.Block
	hashes map[*chain.Block][]chain.Hash // of the blocks' readings (checkSync)
	done   chan error
}

func (n *Node) registerSync() error {
	if err := n.host.Handle(protoSyncStatus, func(ctx context.Context, from chain.PubKey, req []byte) ([]byte, error) {
		return chain.MustEncode(&syncStatusResp{Data: n.Height(chain.LaneData), Tx: n.Height(chain.LaneTx)}), nil
	}); err != nil {
		return err
	}
	if err := n.host.Handle(images.Protocol, n.images.ServeRequest); err != nil {
		return err
	}
	return n.host.Handle(protoSyncBlocks, func(ctx context.Context, from chain.PubKey, req []byte) ([]byte, error) {
		var q syncBlocksReq
		if err := chain.Decode(req, &q); err != nil || !q.Lane.Valid() || q.From == 0 {
			return nil, fmt.Errorf("bad sync request")
		}
		return n.syncBlocksAnswer(q)
	})
}

// syncBlocksAnswer is the answer to a blocks request: the blocks of q's
// lane from q.From on, at most q.Max and maxSyncBatch of them, as many as
// fit syncAnswerMax (at least one).
func (n *Node) syncBlocksAnswer(q syncBlocksReq) ([]byte, error) {
	var raws [][]byte
	size := syncAnswerHeads
	for h := q.From; h <= n.Height(q.Lane) && len(raws) < int(min(q.Max, maxSyncBatch)); h++ {
		// Assembled from the stored bytes without decoding the entries,
		// which are still checked against the entries root: damage is
		// refused, not served.
		raw, err := n.store.EncodedBlock(q.Lane, h)
		if err != nil {
			return nil, err
		}
		if len(raws) > 0 && size+len(raw) > syncAnswerMax {
			break
		}
		size += len(raw)
		raws = append(raws, raw)
	}
	n.metrics.syncServed.WithLabelValues(q.Lane.String()).Add(float64(len(raws)))
	return encodeSyncBlocks(raws), nil
}

// encodeSyncBlocks is the canonical encoding of a syncBlocksResp carrying
// the blocks encoded in raws, without decoding them: a map of one key, 1,
// to an array of the blocks.
func encodeSyncBlocks(raws [][]byte) []byte {
	if len(raws) == 0 {
		return chain.MustEncode(&syncBlocksResp{})
	}
	size := 11 // the map and array heads
	for _, r := range raws {
		size += len(r)
	}
	out := make([]byte, 0, size)
	out = chain.AppendCBORHead(out, chain.CBORMap, 1)
	out = chain.AppendCBORHead(out, chain.CBORUint, 1)
	out = chain.AppendCBORHead(out, chain.CBORArray, uint64(len(raws)))
	for _, r := range raws {
		out = append(out, r...)
	}
	return out
}

// peerHead is a peer and the heads it reported.
type peerHead struct {
	peer  chain.PubKey
	heads syncStatusResp
}

// syncPollPeers is how many random peers a node that is caught up asks for
// their heads each syncInterval. Asking every peer cost each node n−1 new
// streams a second and each peer as many answers, n(n−1) in all: 8% of 16
// idle validators' CPU. A node behind finds out from any peer that has
// the blocks, and when every peer but it has them (a restarted validator)
// any one will do; a peer that is the only one ahead is asked within a few
// polls at random, and at the next poll once a consensus message shows it
// ahead (syncHints).
const syncPollPeers = 3

// syncHints holds the peers that a consensus message showed to be ahead of
// this node (a vote or proposal two or more heights above its own), for
// the next poll to ask besides its random ones. The doors write it from
// their goroutines and syncLoop takes it; mu guards peers.
type syncHints struct {
	mu    sync.Mutex
	peers map[chain.PubKey]struct{}
}

// syncHintsMax bounds the peers held between two polls.
const syncHintsMax = 64

// noteHeight records, for the next poll, that peer sent a consensus
// message of height msgHeight, if that shows it ahead of this node, whose
// height on the message's lane is tip. The consensus doors judge every
// message's height against the loop's (tipHeight), not the store's: the
// store lags it by the blocks the commit writer holds.
func (n *Node) noteHeight(peer chain.PubKey, tip, msgHeight uint64) {
	// A node working on height h has committed h−1; one at our height + 1
	// is where we are.
	if msgHeight < tip+2 {
		return
	}
	h := &n.syncHints
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.peers == nil {
		h.peers = make(map[chain.PubKey]struct{})
	}
	if len(h.peers) < syncHintsMax {
		h.peers[peer] = struct{}{}
	}
}

// take returns the peers noted since the last take and forgets them.
func (h *syncHints) take() map[chain.PubKey]struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.peers
	h.peers = nil
	return out
}

// pollTargets picks the peers to ask for their heads: all of peers when
// all is set, else those in hinted and k others at random (shuffle is
// rand.Shuffle's signature, so that tests can seed it). The order of the
// result is random.
func pollTargets(peers []chain.PubKey, hinted map[chain.PubKey]struct{}, k int, all bool,
	shuffle func(n int, swap func(i, j int))) []chain.PubKey {
	out := append([]chain.PubKey(nil), peers...)
	shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	if all || len(out) <= k {
		return out
	}
	// Hinted peers first, then the first k of the shuffled rest.
	picked := out[:0:0]
	rest := make([]chain.PubKey, 0, len(out))
	for _, p := range out {
		if _, ok := hinted[p]; ok {
			picked = append(picked, p)
		} else {
			rest = append(rest, p)
		}
	}
	return append(picked, rest[:min(k, len(rest))]...)
}

// pollPeers asks peers for their heads at once (every peer when all is
// set, else as pollTargets picks) and returns those that answered, in
// random order.
func (n *Node) pollPeers(all bool) []peerHead {
	peers := pollTargets(n.host.Peers(), n.syncHints.take(), syncPollPeers, all, rand.Shuffle)
	out := make([]*peerHead, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
			defer cancel()
			raw, err := n.host.Request(ctx, p, protoSyncStatus, []byte{0xa0})
			if err != nil {
				return
			}
			var st syncStatusResp
			if chain.Decode(raw, &st) != nil {
				return
			}
			out[i] = &peerHead{peer: p, heads: st}
		}()
	}
	wg.Wait()
	var heads []peerHead
	for _, h := range out {
		if h != nil {
			heads = append(heads, *h)
		}
	}
	return heads
}

// syncTarget is the highest head of each lane among peers.
func syncTarget(peers []peerHead) syncStatusResp {
	var target syncStatusResp
	for _, p := range peers {
		target.Data = max(target.Data, p.heads.Data)
		target.Tx = max(target.Tx, p.heads.Tx)
	}
	return target
}

// syncLoop polls peers and fetches what this node lacks. A lane is synced
// when a peer is at least two blocks ahead, or one block ahead for two
// polls in a row (consensus catches up a node one block behind by itself
// while the network is busy, but not while it is idle).
//
// Until some poll has found this node level with its peers, and after a
// sync, every peer is asked; otherwise syncPollPeers at random and the
// peers syncHints names. A sample that shows the node behind is followed
// at once by a poll of every peer, so that the fetch draws on every peer
// that holds the blocks.
func (n *Node) syncLoop() {
	defer n.wg.Done()
	// The first poll is at once, then every syncInterval; while no peer
	// has answered yet (a node just started, still connecting), every
	// syncFirstPoll, so that a restarted node starts catching up as soon
	// as it can.
	t := time.NewTimer(0)
	defer t.Stop()
	behindOnce := map[chain.Lane]bool{}
	answered := false
	level := false // some poll of every peer found this node not behind
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		all := !level
		peers := n.pollPeers(all)
		answered = answered || len(peers) > 0
		if answered {
			t.Reset(syncInterval)
		} else {
			t.Reset(syncFirstPoll)
		}
		target := syncTarget(peers)
		need := n.behind(target, behindOnce)
		if !need {
			level = level || (all && len(peers) > 0)
			n.syncing.Store(false)
			n.progress.stop(n)
			continue
		}
		if !all {
			// A sample found a peer ahead: fetch from every peer that
			// holds the blocks, not only from those sampled.
			if more := n.pollPeers(true); len(more) > 0 {
				peers = more
				target = syncTarget(peers)
			}
		}
		level = false
		n.syncing.Store(true)
		if err := n.syncFrom(peers, target); err != nil && n.ctx.Err() == nil {
			n.log.Warn("block sync failed; trying again", "err", err)
		}
		behindOnce = map[chain.Lane]bool{}
	}
}

// behind reports whether the heads target that a poll found call for a
// sync: on some lane a peer is at least two blocks ahead of this node, or
// one block ahead at this poll and the one before (behindOnce, updated).
// This node's height is the loop's (tipHeight), not the store's: the store
// lags it by the blocks the commit writer holds (commitwriter.go), and a
// peer whose writes are ahead of ours is not ahead of us. Comparing the
// stores made validators fetch blocks they held, a second's sync each with
// late rounds on the process bench.
func (n *Node) behind(target syncStatusResp, behindOnce map[chain.Lane]bool) bool {
	need := false
	for _, lane := range chain.Lanes {
		peerH := target.height(lane)
		mine := n.tipHeight(lane)
		switch {
		case peerH >= mine+2:
			need = true
		case peerH == mine+1:
			if behindOnce[lane] {
				need = true
			}
			behindOnce[lane] = true
		default:
			behindOnce[lane] = false
		}
	}
	return need
}

// errNoCert is a fetched block without its commit certificate.
var errNoCert = fmt.Errorf("without its certificate: %w", verify.ErrCertificate)
