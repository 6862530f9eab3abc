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
//     in force, its execution to the state root it names; then the batch
//     is written with one store write (store.CommitBlocks), one fsync.
//
// A block that fails stops the batch there: the blocks before it are
// committed, none after it. Progress (target, rate, ETA) is in Status and
// the log (sync_progress.go). Then the node rejoins consensus at the new
// height.

const (
	protoSyncStatus = "sync/status"
	protoSyncBlocks = "sync/blocks"
	// maxSyncBatch is the most blocks one response carries; the server also
	// stops once the response passes syncBatchBytes.
	maxSyncBatch   = 256
	syncBatchBytes = 16 << 20
	syncInterval   = time.Second
	syncFirstPoll  = 100 * time.Millisecond
)

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
		var raws [][]byte
		size := 0
		for h := q.From; h <= n.Height(q.Lane) && len(raws) < int(min(q.Max, maxSyncBatch)) && size < syncBatchBytes; h++ {
			// Assembled from the stored bytes without decoding the
			// entries, which are still checked against the entries
			// root: damage is refused, not served.
			raw, err := n.store.EncodedBlock(q.Lane, h)
			if err != nil {
				return nil, err
			}
			size += len(raw)
			raws = append(raws, raw)
		}
		return encodeSyncBlocks(raws), nil
	})
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
	out = chain.AppendCBORHead(out, cborMap, 1)
	out = chain.AppendCBORHead(out, cborUint, 1)
	out = chain.AppendCBORHead(out, cborArray, uint64(len(raws)))
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

// pollPeers asks every peer for its heads at once and returns those that
// answered, in random order.
func (n *Node) pollPeers() []peerHead {
	peers := n.host.Peers()
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
	rand.Shuffle(len(heads), func(i, j int) { heads[i], heads[j] = heads[j], heads[i] })
	return heads
}

// syncLoop polls peers and fetches what this node lacks. A lane is synced
// when a peer is at least two blocks ahead, or one block ahead for two
// polls in a row (consensus catches up a node one block behind by itself
// while the network is busy, but not while it is idle).
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
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		peers := n.pollPeers()
		answered = answered || len(peers) > 0
		if answered {
			t.Reset(syncInterval)
		} else {
			t.Reset(syncFirstPoll)
		}
		var target syncStatusResp
		for _, p := range peers {
			target.Data = max(target.Data, p.heads.Data)
			target.Tx = max(target.Tx, p.heads.Tx)
		}
		need := false
		for _, lane := range chain.Lanes {
			peerH := target.height(lane)
			mine := n.Height(lane)
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
		if !need {
			n.syncing.Store(false)
			n.progress.stop(n)
			continue
		}
		n.syncing.Store(true)
		if err := n.syncFrom(peers, target); err != nil && n.ctx.Err() == nil {
			n.log.Warn("block sync failed; trying again", "err", err)
		}
		behindOnce = map[chain.Lane]bool{}
	}
}

// errNoCert is a fetched block without its commit certificate.
var errNoCert = fmt.Errorf("without its certificate: %w", verify.ErrCertificate)
