package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/verify"
	"github.com/waterchain/waterchain/node/images"
)

// Block sync: a node that is behind (a restarted validator, a new auditor)
// asks its peers for their heads and fetches the finalized blocks it lacks,
// with their certificates, in batches. Blocks are checked as they arrive —
// entry signatures off the loop; hash link, anchor, validator set,
// certificate and state root on the loop — and committed in an order in
// which every anchor is already final. Then the node rejoins consensus at
// the new height.

const (
	protoSyncStatus = "sync/status"
	protoSyncBlocks = "sync/blocks"
	// maxSyncBatch is the most blocks one response carries; the server also
	// stops once the response passes syncBatchBytes.
	maxSyncBatch   = 64
	syncBatchBytes = 16 << 20
	syncInterval   = time.Second
)

type syncStatusResp struct {
	Data uint64 `cbor:"1,keyasint"`
	Tx   uint64 `cbor:"2,keyasint"`
}

type syncBlocksReq struct {
	Lane chain.Lane `cbor:"1,keyasint"`
	From uint64     `cbor:"2,keyasint"`
	Max  uint32     `cbor:"3,keyasint"`
}

type syncBlocksResp struct {
	Blocks []*chain.Block `cbor:"1,keyasint"`
}

// syncBatch is a batch of fetched blocks for the loop to apply.
type syncBatch struct {
	blocks []*chain.Block
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
		resp := syncBlocksResp{}
		size := 0
		for h := q.From; h <= n.Height(q.Lane) && len(resp.Blocks) < int(min(q.Max, maxSyncBatch)) && size < syncBatchBytes; h++ {
			b, err := n.store.Block(q.Lane, h)
			if err != nil {
				return nil, err
			}
			size += 200 + b.NumEntries()*160
			resp.Blocks = append(resp.Blocks, b)
		}
		return chain.MustEncode(&resp), nil
	})
}

// syncLoop polls peers and fetches what this node lacks. A lane is synced
// when a peer is at least two blocks ahead, or one block ahead for two
// polls in a row (consensus catches up a node one block behind by itself
// while the network is busy, but not while it is idle).
func (n *Node) syncLoop() {
	defer n.wg.Done()
	t := time.NewTicker(syncInterval)
	defer t.Stop()
	behindOnce := map[chain.Lane]bool{}
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		peers := n.host.Peers()
		rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
		var best chain.PubKey
		var bestStatus syncStatusResp
		for _, p := range peers {
			ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
			raw, err := n.host.Request(ctx, p, protoSyncStatus, []byte{0xa0})
			cancel()
			if err != nil {
				continue
			}
			var st syncStatusResp
			if chain.Decode(raw, &st) != nil {
				continue
			}
			if st.Data+st.Tx > bestStatus.Data+bestStatus.Tx {
				best, bestStatus = p, st
			}
		}
		need := false
		for _, lane := range chain.Lanes {
			peerH := bestStatus.Data
			if lane == chain.LaneTx {
				peerH = bestStatus.Tx
			}
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
			continue
		}
		n.syncing.Store(true)
		if err := n.syncFrom(best, bestStatus); err != nil && n.ctx.Err() == nil {
			n.log.Warn("block sync from peer failed", "peer", best.Short(), "err", err)
		}
		behindOnce = map[chain.Lane]bool{}
	}
}

// syncFrom fetches both lanes from peer up to its heads, batch by batch.
func (n *Node) syncFrom(peer chain.PubKey, target syncStatusResp) error {
	for n.ctx.Err() == nil {
		var batch []*chain.Block
		for _, lane := range chain.Lanes {
			want := target.Data
			if lane == chain.LaneTx {
				want = target.Tx
			}
			from := n.Height(lane) + 1
			if from > want {
				continue
			}
			blocks, err := n.fetchBlocks(peer, lane, from)
			if err != nil {
				return err
			}
			batch = append(batch, blocks...)
		}
		if len(batch) == 0 {
			return nil
		}
		// Entry signatures are checked here, off the loop, and cached.
		for _, b := range batch {
			if err := n.checkFetched(b); err != nil {
				return err
			}
		}
		done := make(chan error, 1)
		select {
		case n.syncCh <- syncBatch{blocks: batch, done: done}:
		case <-n.ctx.Done():
			return n.ctx.Err()
		}
		select {
		case err := <-done:
			if err != nil {
				return err
			}
		case <-n.ctx.Done():
			return n.ctx.Err()
		}
	}
	return n.ctx.Err()
}

func (n *Node) fetchBlocks(peer chain.PubKey, lane chain.Lane, from uint64) ([]*chain.Block, error) {
	ctx, cancel := context.WithTimeout(n.ctx, 20*time.Second)
	defer cancel()
	raw, err := n.host.Request(ctx, peer, protoSyncBlocks, chain.MustEncode(&syncBlocksReq{Lane: lane, From: from, Max: maxSyncBatch}))
	if err != nil {
		return nil, err
	}
	var resp syncBlocksResp
	if err := chain.Decode(raw, &resp); err != nil {
		return nil, fmt.Errorf("sync response: %w", err)
	}
	for i, b := range resp.Blocks {
		if b == nil || b.Header.Lane != lane || b.Header.Height != from+uint64(i) {
			return nil, fmt.Errorf("sync response: block %d is not %s/%d", i, lane, from+uint64(i))
		}
	}
	return resp.Blocks, nil
}

// errSyncStuck is returned when no block of a sync batch can be applied:
// every lane waits for an anchor the batch does not bring.
var errSyncStuck = errors.New("sync: no block of the batch has its anchor final here")

// applySync commits fetched blocks on the loop, each once its anchor is
// final here, verifying each against the chain as it goes.
func (n *Node) applySync(blocks []*chain.Block) error {
	queues := map[chain.Lane][]*chain.Block{}
	for _, b := range blocks {
		if b.Header.Height > n.Height(b.Header.Lane) {
			queues[b.Header.Lane] = append(queues[b.Header.Lane], b)
		}
	}
	for len(queues[chain.LaneData])+len(queues[chain.LaneTx]) > 0 {
		progress := false
		for _, lane := range chain.Lanes {
			q := queues[lane]
			if len(q) == 0 {
				continue
			}
			b := q[0]
			if b.Header.Height <= n.Height(lane) {
				queues[lane] = q[1:]
				progress = true
				continue
			}
			if b.Header.Anchor.Height > n.Height(lane.Other()) {
				continue
			}
			if err := n.applySyncedBlock(b); err != nil {
				return err
			}
			queues[lane] = q[1:]
			progress = true
		}
		if !progress {
			return errSyncStuck
		}
	}
	return nil
}

// checkFetched runs the checks of a fetched block that need no chain: its
// shape, that it carries a certificate, and its entry signatures. Safe to
// call off the loop.
func (n *Node) checkFetched(b *chain.Block) error {
	if b.Cert == nil {
		return fmt.Errorf("peer sent block %s/%d %w", b.Header.Lane, b.Header.Height, errNoCert)
	}
	if err := n.checkStateless(b); err != nil {
		return fmt.Errorf("peer sent a bad block %s/%d: %w", b.Header.Lane, b.Header.Height, err)
	}
	return nil
}

// errNoCert is a fetched block without its commit certificate.
var errNoCert = fmt.Errorf("without its certificate: %w", verify.ErrCertificate)

func (n *Node) applySyncedBlock(b *chain.Block) error {
	lane, height, hash := b.Header.Lane, b.Header.Height, b.Hash()
	// The header by the rules every node applies, then the certificate
	// against the set the header names.
	vs, err := n.verifyHeader(&b.Header)
	if err != nil {
		return fmt.Errorf("synced block %s/%d: %w", lane, height, err)
	}
	if err := n.verifier().Certificate(vs, b); err != nil {
		return fmt.Errorf("synced block %s/%d: %w", lane, height, err)
	}
	ex, err := n.execute(b)
	if err != nil {
		// A block with a valid certificate that does not execute here
		// means this node's state differs from the network's.
		n.stop(fmt.Errorf("certified block %s/%d %s does not execute here: %w", lane, height, hash.Short(), err))
		return err
	}
	if err := n.commit(ex); err != nil {
		n.stop(err)
		return err
	}
	n.metrics.synced.WithLabelValues(lane.String()).Inc()
	d := n.drivers[lane]
	d.reset(height + 1)
	return nil
}
