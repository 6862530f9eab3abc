package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// Fetching ahead. Ranges of each lane go to the peers that hold them,
// round robin, at most syncPeerWindow requests per peer and syncWindow in
// all; responses are put back in height order per lane, merged into an
// order in which every anchor comes first, and cut into batches for the
// check and apply stages, which run meanwhile.
//
// What a catching-up node holds is bounded whatever the history: the
// blocks fetched and not yet batched (syncMaxBuffered and
// syncMaxBufferedEntries a lane), the answers in flight (syncWindow, each
// about syncRangeBytes once the lane's first answer has sized its ranges)
// and the batches between the stages (one being built, one checked, one
// applied, one waiting between each).
const (
	syncPeerWindow = 4
	syncWindow     = 12
	// A batch is checked in one batch verification and committed in one
	// store write: up to syncBatchBlocks blocks or syncBatchEntries
	// entries.
	syncBatchBlocks = 2048
	// syncMaxBuffered bounds the blocks of one lane fetched (or asked
	// for) and not yet batched, waiting for the other lane's anchors or
	// for a gap.
	syncMaxBuffered    = 4 * syncBatchBlocks
	syncRequestTimeout = 20 * time.Second
)

// Variables so that tests may make them small.
var (
	syncBatchEntries = 16_000
	// syncMaxBufferedEntries bounds the entries of the blocks of one
	// lane fetched and not yet batched.
	syncMaxBufferedEntries = 4 * syncBatchEntries
	// syncRangeBytes is the size of answer ranges are cut for (by the
	// estimate syncBlockBytes).
	syncRangeBytes = 2 << 20
)

// Errors of block sync.
var (
	// errSyncStuck is returned when fetched blocks cannot be ordered:
	// every lane waits for an anchor no fetched block brings.
	errSyncStuck = errors.New("sync: no fetched block has its anchor final here")
	// errNoSyncPeer is returned when no peer that answered is left to
	// fetch a range from.
	errNoSyncPeer = errors.New("sync: no peer left to fetch from")
)

// fetchRange is heights from..to (inclusive) of lane.
type fetchRange struct {
	lane     chain.Lane
	from, to uint64
}

type fetchResult struct {
	r      fetchRange
	peer   chain.PubKey
	blocks []*chain.Block
	err    error
}

// syncFrom fetches both lanes up to target from peers, checking and
// applying batch after batch as they come.
func (n *Node) syncFrom(peers []peerHead, target syncStatusResp) error {
	ctx, cancel := context.WithCancel(n.ctx)
	defer cancel()
	n.progress.begin(n, target)

	// Stages after the fetch: check (off the loop), then apply (on the
	// loop), each a batch apart.
	toCheck := make(chan []*chain.Block, 1)
	toApply := make(chan checkedBatch, 1)
	stageErr := make(chan error, 2)
	go func() {
		defer close(toApply)
		for blocks := range toCheck {
			good, hashes, err := n.checkSync(blocks)
			select {
			case toApply <- checkedBatch{blocks: blocks[:good], hashes: hashes, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		for cb := range toApply {
			if err := n.applyOnLoop(ctx, cb.blocks, cb.hashes); err != nil {
				stageErr <- err
				cancel()
				return
			}
			if cb.err != nil {
				stageErr <- cb.err
				cancel()
				return
			}
		}
	}()

	err := n.fetchAll(ctx, peers, target, toCheck)
	close(toCheck)
	<-applied
	select {
	case serr := <-stageErr:
		return serr
	default:
	}
	return err
}

type checkedBatch struct {
	blocks []*chain.Block
	hashes map[*chain.Block][]chain.Hash // of the blocks' readings
	err    error
}

// applyOnLoop hands blocks to the loop and waits until they are applied.
func (n *Node) applyOnLoop(ctx context.Context, blocks []*chain.Block, hashes map[*chain.Block][]chain.Hash) error {
	if len(blocks) == 0 {
		return nil
	}
	done := make(chan error, 1)
	select {
	case n.syncCh <- syncBatch{blocks: blocks, hashes: hashes, done: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-n.ctx.Done():
		return n.ctx.Err()
	}
}

// fetchAll runs the fetch window until every block up to target has been
// batched into out, a peer-independent error, or ctx ends.
func (n *Node) fetchAll(ctx context.Context, peers []peerHead, target syncStatusResp, out chan<- []*chain.Block) error {
	// Each lane is cut into ranges as they are requested, of size[lane]
	// blocks: maxSyncBatch at first, then as many as make an answer of
	// about syncRangeBytes, so that big blocks are fetched in parallel
	// pieces rather than one after the other. Until its first answer
	// has sized them (sized), a lane has one range in flight: the whole
	// first window of maxSyncBatch-block ranges, over blocks of 1,000
	// readings, was answers cut at chain.MaxMessageSize (about 110
	// blocks each) fetched before the first batch was checked, and the
	// rest of each short answer, asked for again at once, bypassed the
	// bounds. retry holds ranges to request again first (a failed
	// peer's, the rest of a short answer with later ranges asked for
	// already).
	var base, nextFrom [3]uint64
	size := [3]uint64{}
	var sized [3]bool
	var lanesInFlight [3]int
	for _, lane := range chain.Lanes {
		base[lane] = n.Height(lane)
		nextFrom[lane] = base[lane] + 1
		size[lane] = maxSyncBatch
	}
	var retry []fetchRange
	var bufferedEntries [3]int // entries of blocks fetched, not batched yet
	// nextRange returns the range to request next: a retry, else the next
	// range of the lane with fewer blocks waiting, skipping lanes with
	// syncMaxBuffered blocks or syncMaxBufferedEntries entries waiting
	// already.
	nextRange := func(buffered [3]int) (fetchRange, bool) {
		full := func(lane chain.Lane) bool {
			return buffered[lane] >= syncMaxBuffered || bufferedEntries[lane] >= syncMaxBufferedEntries
		}
		// A retry goes first even into a full lane: it may be the gap
		// the lane's waiting blocks wait for.
		if len(retry) > 0 {
			r := retry[0]
			retry = retry[1:]
			return r, true
		}
		var best chain.Lane
		for _, lane := range chain.Lanes {
			if nextFrom[lane] > target.height(lane) || full(lane) || (!sized[lane] && lanesInFlight[lane] > 0) {
				continue
			}
			if best == 0 || buffered[lane] < buffered[best] {
				best = lane
			}
		}
		if best == 0 {
			return fetchRange{}, false
		}
		r := fetchRange{lane: best, from: nextFrom[best], to: min(nextFrom[best]+size[best]-1, target.height(best))}
		nextFrom[best] = r.to + 1
		return r, true
	}
	done := func() bool {
		return len(retry) == 0 && nextFrom[chain.LaneData] > target.Data && nextFrom[chain.LaneTx] > target.Tx
	}

	inFlight := map[chain.PubKey]int{}
	bad := map[chain.PubKey]bool{}
	total := 0
	next := 0 // round-robin position in peers
	results := make(chan fetchResult, syncWindow)
	ready := [3]map[uint64][]*chain.Block{{}, {}, {}}
	deliver := [3]uint64{}
	buffered := [3]int{} // fetched or in flight, not batched yet
	var queues [3][]*chain.Block
	emitted := base
	for _, lane := range chain.Lanes {
		deliver[lane] = base[lane] + 1
	}
	var batch []*chain.Block
	entries := 0
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		select {
		case out <- batch:
		case <-ctx.Done():
			return ctx.Err()
		}
		batch, entries = nil, 0
		return nil
	}
	// merge moves queued blocks whose anchor is batched into the batch.
	merge := func() error {
		for progress := true; progress; {
			progress = false
			for _, lane := range chain.Lanes {
				for len(queues[lane]) > 0 && queues[lane][0].Header.Anchor.Height <= emitted[lane.Other()] {
					b := queues[lane][0]
					// The queue's array would hold the block (and its
					// readings) until an append moves the queue.
					queues[lane][0] = nil
					queues[lane] = queues[lane][1:]
					buffered[lane]--
					bufferedEntries[lane] -= b.NumEntries()
					emitted[lane] = b.Header.Height
					batch = append(batch, b)
					entries += b.NumEntries()
					progress = true
					if len(batch) >= syncBatchBlocks || entries >= syncBatchEntries {
						if err := send(); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	}
	// pick chooses a peer for r: one that is not bad, holds r.to, and has
	// room in its window.
	pick := func(r fetchRange) (chain.PubKey, bool) {
		for k := range peers {
			p := peers[(next+k)%len(peers)]
			if bad[p.peer] || inFlight[p.peer] >= syncPeerWindow || p.heads.height(r.lane) < r.to {
				continue
			}
			next = (next + k + 1) % len(peers)
			return p.peer, true
		}
		return chain.PubKey{}, false
	}
	holder := func(r fetchRange) bool {
		for _, p := range peers {
			if !bad[p.peer] && p.heads.height(r.lane) >= r.to {
				return true
			}
		}
		return false
	}

	for {
		// Fill the window.
		for total < syncWindow {
			r, ok := nextRange(buffered)
			if !ok {
				break
			}
			if !holder(r) {
				return fmt.Errorf("%w: none holds %s/%d-%d", errNoSyncPeer, r.lane, r.from, r.to)
			}
			p, ok := pick(r)
			if !ok {
				retry = append([]fetchRange{r}, retry...)
				break
			}
			inFlight[p]++
			lanesInFlight[r.lane]++
			total++
			buffered[r.lane] += int(r.to - r.from + 1)
			go n.fetchRange(ctx, p, r, results)
		}
		if total == 0 {
			if !done() {
				return fmt.Errorf("%w: nothing in flight and blocks left to fetch", errSyncStuck)
			}
			if err := send(); err != nil {
				return err
			}
			if len(queues[chain.LaneData])+len(queues[chain.LaneTx]) > 0 {
				return errSyncStuck
			}
			return nil
		}
		var res fetchResult
		select {
		case res = <-results:
		case <-ctx.Done():
			return ctx.Err()
		}
		total--
		inFlight[res.peer]--
		r := res.r
		lanesInFlight[r.lane]--
		if res.err == nil && len(res.blocks) == 0 {
			res.err = fmt.Errorf("sync response: no blocks from %s/%d", r.lane, r.from)
		}
		if res.err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			n.log.Warn("block sync: peer failed; fetching from the others", "peer", res.peer.Short(), "range", fmt.Sprintf("%s/%d-%d", r.lane, r.from, r.to), "err", res.err)
			bad[res.peer] = true
			buffered[r.lane] -= int(r.to - r.from + 1)
			retry = append([]fetchRange{r}, retry...)
			continue
		}
		got := uint64(len(res.blocks))
		// Later ranges of the lane are sized to answers of about
		// syncRangeBytes, so that big blocks come in many answers at
		// once, from every peer, rather than in a few long ones.
		bytes := 0
		for _, b := range res.blocks {
			bytes += syncBlockBytes(b)
		}
		size[r.lane] = uint64(min(maxSyncBatch, max(1, syncRangeBytes*len(res.blocks)/max(1, bytes))))
		sized[r.lane] = true
		if got < r.to-r.from+1 {
			buffered[r.lane] -= int(r.to - r.from + 1 - got)
			if r.to+1 == nextFrom[r.lane] {
				// Nothing after the range asked for yet: the rest is
				// the lane's next range, fetched within the bounds.
				nextFrom[r.lane] = r.from + got
			} else {
				// The rest of the range first, in pieces of that
				// size: the blocks after it wait for it.
				var rest []fetchRange
				for from := r.from + got; from <= r.to; from += size[r.lane] {
					rest = append(rest, fetchRange{lane: r.lane, from: from, to: min(from+size[r.lane]-1, r.to)})
				}
				retry = append(rest, retry...)
			}
		}
		ready[r.lane][r.from] = res.blocks
		for _, b := range res.blocks {
			bufferedEntries[r.lane] += b.NumEntries()
		}
		for {
			bs, ok := ready[r.lane][deliver[r.lane]]
			if !ok {
				break
			}
			delete(ready[r.lane], deliver[r.lane])
			deliver[r.lane] += uint64(len(bs))
			queues[r.lane] = append(queues[r.lane], bs...)
		}
		if err := merge(); err != nil {
			return err
		}
	}
}

// syncBlockBytes estimates the bytes of b in a sync answer, as the
// serving side bounds its answers.
func syncBlockBytes(b *chain.Block) int { return 200 + b.NumEntries()*160 }

// fetchRange requests r from peer and sends the outcome to results.
func (n *Node) fetchRange(ctx context.Context, peer chain.PubKey, r fetchRange, results chan<- fetchResult) {
	blocks, err := n.fetchBlocks(ctx, peer, r)
	results <- fetchResult{r: r, peer: peer, blocks: blocks, err: err}
}

// fetchBlocks asks peer for blocks of r (it may send fewer, from r.from)
// and checks they are the heights asked for.
func (n *Node) fetchBlocks(ctx context.Context, peer chain.PubKey, r fetchRange) ([]*chain.Block, error) {
	ctx, cancel := context.WithTimeout(ctx, syncRequestTimeout)
	defer cancel()
	want := r.to - r.from + 1
	raw, err := n.host.Request(ctx, peer, protoSyncBlocks, chain.MustEncode(&syncBlocksReq{Lane: r.lane, From: r.from, Max: uint32(want)}))
	if err != nil {
		return nil, err
	}
	if len(raw) > syncAnswerMax {
		return nil, fmt.Errorf("sync response: %d bytes, at most %d", len(raw), syncAnswerMax)
	}
	var resp syncBlocksResp
	if blocks, ok := decodeSyncBlocks(raw); ok {
		resp.Blocks = blocks
	} else if err := chain.Decode(raw, &resp); err != nil {
		return nil, fmt.Errorf("sync response: %w", err)
	}
	if uint64(len(resp.Blocks)) > want {
		return nil, fmt.Errorf("sync response: %d blocks, asked for %d", len(resp.Blocks), want)
	}
	for i, b := range resp.Blocks {
		if b == nil || b.Header.Lane != r.lane || b.Header.Height != r.from+uint64(i) {
			return nil, fmt.Errorf("sync response: block %d is not %s/%d", i, r.lane, r.from+uint64(i))
		}
	}
	return resp.Blocks, nil
}
