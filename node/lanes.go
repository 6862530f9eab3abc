package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/chain/verify"
)

// Limits of what one block carries; the block size limit of chain is far
// above these. A data block is capped lower by what the validators check
// in time (blockSizer).
const (
	maxReadingsPerBlock = 20_000
	maxTxsPerBlock      = 2_000
	// seqGapWait is how long a reading that skips sequence numbers waits
	// for its predecessors before the gap is taken as missed readings.
	seqGapWait = 2 * time.Second
	// maxClockDrift is how far in the future a proposed block's time may
	// be, by this node's clock.
	maxClockDrift = 2 * time.Second
)

// Errors of block validation that are not the block's fault: the node
// lacks what it needs to judge it yet.
var errNotReady = errors.New("not ready")

// errAnchorAhead (with errNotReady) is a proposal whose anchor this node
// has not committed yet.
var errAnchorAhead = errors.New("anchor not committed here yet")

// executed is a block this node has executed: the state changes to store
// with it.
type executed struct {
	block   *chain.Block
	changes []state.Change
	// entryHashes are a data block's reading hashes, when this node built
	// it: its compact proposal names them (compact.go).
	entryHashes []chain.Hash
}

// anchorFor names the other lane's latest finalized block (or genesis).
func (n *Node) anchorFor(lane chain.Lane) chain.Anchor {
	if h, ok := n.tip(lane.Other()); ok {
		return chain.Anchor{Height: h.Height, Hash: h.Hash()}
	}
	return chain.Anchor{Height: 0, Hash: n.genHash}
}

// parentOf returns the header a new block of lane links to (nil for height
// 1) and its hash (the genesis hash for height 1).
func (n *Node) parentOf(lane chain.Lane) (*chain.Header, chain.Hash) {
	if h, ok := n.tip(lane); ok {
		return &h, h.Hash()
	}
	return nil, n.genHash
}

// buildBlock makes this node's proposal for the next height of lane from
// the mempool. Called on the loop.
func (n *Node) buildBlock(lane chain.Lane, height uint64) (*executed, error) {
	parent, prevHash := n.parentOf(lane)
	if got := n.tipHeight(lane) + 1; got != height {
		return nil, fmt.Errorf("%w: asked to propose %s/%d, next height is %d", errNotReady, lane, height, got)
	}
	vs, err := n.validatorSet(lane, height)
	if err != nil {
		return nil, err
	}
	t := chain.TimeOf(n.now())
	if parent != nil && t <= parent.Time {
		t = parent.Time + 1
	}
	h := chain.Header{
		ChainID: n.chainID, Lane: lane, Height: height, Time: t, PrevHash: prevHash,
		Anchor: n.anchorFor(lane), ValidatorsHash: vs.Hash(), Proposer: n.key.Public(),
	}
	b := &chain.Block{Header: h}
	var changes []state.Change
	var root chain.Hash
	sr := n.state
	if lane == chain.LaneData {
		bld, err := state.NewDataBuilder(sr, &b.Header)
		if err != nil {
			return nil, err
		}
		var bad []chain.Hash
		// A reading whose seq skips ahead of its device's last may only be
		// early: its predecessor can still be on its way through gossip
		// from another node. Including it would make the predecessor a
		// replay, so it waits up to seqGapWait before the gap is accepted
		// as missed readings — unless this node's door refused the
		// predecessor and it was not sent again (e.PastRefused).
		last := map[chain.PubKey]uint64{}
		now := time.Now()
		var held []chain.Hash
		// The block takes up to limit readings; the scan goes further, past
		// readings held for their predecessors, which would otherwise
		// starve the block while they wait.
		limit, taken := n.sizer.limit(n.gen.Params.TimeoutPropose.Std()), 0
		queued := len(n.writer.readings) > 0
		for _, e := range n.readings.PeekEntries(maxReadingsPerBlock) {
			if taken >= limit {
				break
			}
			r := e.Reading
			if queued && n.queuedReading(r.Device, r.Seq) {
				continue // final, in a block not written yet
			}
			prev, ok := last[r.Device]
			if !ok {
				if d, err := state.GetDevice(sr, r.Device); err == nil {
					prev = d.Data.LastSeq
				}
			}
			if r.Seq > prev+1 && !e.PastRefused && now.Sub(e.Added) < seqGapWait {
				last[r.Device] = prev
				held = append(held, r.Hash())
				continue
			}
			if err := bld.Add(r); err != nil {
				// A reading from the future may fit a later block; any
				// other failure never goes away.
				if !(errors.Is(err, state.ErrTimeOutsideWindow) && r.Time > b.Header.Time) {
					bad = append(bad, r.Hash())
					n.log.Debug("reading dropped from the mempool", "device", r.Device.Short(), "seq", r.Seq, "err", err)
				}
				last[r.Device] = prev
				continue
			}
			last[r.Device] = max(prev, r.Seq) // a late reading fills a gap below
			taken++
		}
		n.readings.Remove(bad)
		n.readings.MarkHeld(held) // this build's: earlier marks go
		if len(held) > 0 {
			n.log.Debug("readings held for their predecessors", "height", height, "held", len(held))
		}
		b.Readings = bld.Readings()
		if changes, root, err = bld.Finish(); err != nil {
			return nil, err
		}
	} else {
		if n.tipHeight(chain.LaneData) < h.Anchor.Height {
			return nil, fmt.Errorf("%w: data chain behind the anchor", errNotReady)
		}
		bld, err := state.NewTxBuilder(sr, n.chainReader(), n.stateGen, &b.Header)
		if err != nil {
			return nil, err
		}
		var dead []chain.Hash
		for _, tx := range n.txs.Peek(maxTxsPerBlock) {
			if err := bld.Add(tx); err != nil {
				// A nonce ahead of the sender's may apply once the gap is
				// filled; any other failure (funds, permissions, a
				// duplicate evidence) will not go away by waiting.
				if !errors.Is(err, state.ErrBadNonce) {
					dead = append(dead, tx.Hash())
				}
				n.log.Debug("tx left out of block", "tx", tx.Hash().Short(), "err", err)
			}
		}
		n.txs.Remove(dead)
		b.Txs = bld.Txs()
		if changes, root, err = bld.Finish(); err != nil {
			return nil, err
		}
	}
	b.Header.NumEntries = uint32(b.NumEntries())
	// Each entry is encoded once, for the entries root and, on the data
	// lane, for the hashes its compact proposal names.
	leaves := b.Leaves()
	b.Header.EntriesRoot = chain.MerkleRoot(leaves)
	b.Header.StateRoot = root
	ex := &executed{block: b, changes: changes}
	if lane == chain.LaneData {
		ex.entryHashes = make([]chain.Hash, len(leaves))
		for i, l := range leaves {
			ex.entryHashes[i] = chain.HashBytes(l)
		}
	}
	return ex, nil
}

// checkHeader runs the checks of b's header against this node's chain
// (verifyHeader). Called on the loop.
func (n *Node) checkHeader(b *chain.Block) error {
	_, err := n.verifyHeader(&b.Header)
	return err
}

// verifyHeader runs the rules every node applies to a header against this
// node's chain (verify.Verifier.Header), then this node's clock: a block
// may not be ahead of it by more than maxClockDrift. It returns the set
// that must sign the block. A block beyond the next height, or anchored
// on a block of the other lane not committed here yet, is errNotReady.
// Called on the loop.
func (n *Node) verifyHeader(h *chain.Header) (*chain.ValidatorSet, error) {
	return n.verifyHeaderOn(committedChain{n}, h)
}

// verifyHeaderOn is verifyHeader against the chain r reads (block sync:
// the committed chain and the blocks of a batch verified before h).
func (n *Node) verifyHeaderOn(r verify.HeaderReader, h *chain.Header) (*chain.ValidatorSet, error) {
	vs, err := n.verifier().Header(r, h)
	switch {
	case errors.Is(err, verify.ErrAnchorAhead):
		return nil, fmt.Errorf("%w: %w: %w", errNotReady, errAnchorAhead, err)
	case errors.Is(err, verify.ErrAhead):
		return nil, fmt.Errorf("%w: %w", errNotReady, err)
	case err != nil:
		return nil, err
	}
	if limit := chain.TimeOf(n.now().Add(maxClockDrift)); h.Time > limit {
		return nil, fmt.Errorf("block time %s is ahead of this node's clock by more than %s", h.Time, maxClockDrift)
	}
	return vs, nil
}

// checkStateless runs the checks of a block that need no chain: its shape
// (entries root included) and every entry signature. Safe to call off the
// loop.
//
// A block rebuilt from a compact proposal had its shape checked as it was
// rebuilt: the header and the hash count at the gossip door, each reading
// when it entered the mempool or came from a peer, the entries root
// against the named hashes (compact.go). Only its signatures are left, and
// its entry hashes are known: per reading, that saves encoding and hashing
// it twice.
func (n *Node) checkStateless(b *chain.Block) error {
	if hashes, ok := n.compact.takeRebuilt(b); ok {
		for i, err := range verifyReadings(n.sigs, n.chainID, b.Readings, hashes) {
			if err != nil {
				return fmt.Errorf("readings[%d]: %w", i, err)
			}
		}
		return nil
	}
	if err := b.ValidateBasic(); err != nil {
		return err
	}
	return n.verifyEntrySignatures(b)
}

// validateProposal checks a proposed block whose stateless checks passed
// against this node's chain and executes it. Called on the loop.
func (n *Node) validateProposal(b *chain.Block) (*executed, error) {
	if err := n.checkHeader(b); err != nil {
		return nil, err
	}
	return n.execute(b)
}

// execute runs a block's entries through the state machine and checks the
// state root it commits to. Entry signatures must have been verified.
// Called on the loop.
func (n *Node) execute(b *chain.Block) (*executed, error) {
	return n.executeOn(b, n.tipHeight(chain.LaneData), n.chainReader())
}

// executeOn is execute with the data chain at dataHeight read through src
// (the store and the data blocks not written yet: the commit writer's, or
// those of a sync batch).
func (n *Node) executeOn(b *chain.Block, dataHeight uint64, src state.ReadingSource) (*executed, error) {
	sr := n.state
	var changes []state.Change
	var err error
	if b.Header.Lane == chain.LaneData {
		changes, err = state.VerifyDataBlock(sr, b)
	} else {
		if dataHeight < b.Header.Anchor.Height {
			return nil, fmt.Errorf("%w: data chain at %d, tx block anchors %d", errNotReady, dataHeight, b.Header.Anchor.Height)
		}
		changes, err = state.VerifyTxBlock(sr, src, n.stateGen, b)
	}
	if err != nil {
		return nil, err
	}
	return &executed{block: b, changes: changes}, nil
}

// verifyEntrySignatures checks every entry signature of b (cached ones are
// skipped). Safe to call off the loop.
func (n *Node) verifyEntrySignatures(b *chain.Block) error {
	var errs []error
	if b.Header.Lane == chain.LaneData {
		errs = verifyReadings(n.sigs, n.chainID, b.Readings, nil)
		for i, err := range errs {
			if err != nil {
				return fmt.Errorf("readings[%d]: %w", i, err)
			}
		}
		return nil
	}
	errs = verifyTxs(n.sigs, n.chainID, b.Txs)
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("txs[%d]: %w", i, err)
		}
	}
	return nil
}

// commit makes a final block (with its certificate) and the state changes
// of its execution the loop's chain: the changes go into n.state and the
// block to the commit writer, which stores both in one atomic write; the
// loop then tells everyone (written). Called on the loop; it waits for a
// write only when maxWritesInFlight blocks are queued.
func (n *Node) commit(ex *executed) error {
	b := ex.block
	start := time.Now()
	for n.writer.queued() >= maxWritesInFlight {
		if err := n.ctx.Err(); err != nil {
			return err
		}
		n.written(<-n.writer.results)
	}
	var hashes []chain.Hash
	if len(b.Readings) > 0 {
		hashes = ex.entryHashes
		if len(hashes) != len(b.Readings) {
			hashes = readingHashes(b.Readings)
		}
	}
	n.state.Apply(ex.changes)
	if len(b.Txs) > 0 {
		// The door checks a sender's new transaction on the state with
		// its waiting ones applied: these are applied already. Until
		// the block is written, TxStatus finds them in the queue.
		txHashes := make([]chain.Hash, len(b.Txs))
		for i, tx := range b.Txs {
			txHashes[i] = tx.Hash()
		}
		n.txs.Remove(txHashes)
	}
	n.writer.write(store.BlockCommit{Block: b, Changes: toStoreChanges(ex.changes)}, hashes)
	took := time.Since(start)
	n.metrics.commitLoopSeconds.WithLabelValues(b.Header.Lane.String()).Observe(took.Seconds())
	if b.Header.Lane == chain.LaneData {
		n.sizer.observeCommit(len(b.Readings), took)
	}
	if n.log.Enabled(context.Background(), slog.LevelDebug) {
		n.log.Debug("block committed", "lane", b.Header.Lane, "height", b.Header.Height, "entries", b.NumEntries(), "queued", n.writer.queued(), "took", took)
	}
	n.announce(b, hashes)
	n.retryParked(b.Header.Lane.Other())
	return nil
}
