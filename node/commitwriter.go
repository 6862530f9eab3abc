package node

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// Consensus commits a final block in memory on the loop and writes it to
// the store on another goroutine, the commit writer, so that the loop goes
// on with the next height (votes, proposals, validation) while badger
// writes and fsyncs. At 16 validators on a loaded machine that write held
// the loop for 0.05–4.6 s per block, 17–42% of its time.
//
// At commit (on the loop) the block's state changes go into n.state and
// the block joins the writer's queue, whose blocks are, with the store,
// the chain the loop verifies, executes and settles against
// (committedChain, chainReader). The block's events (block, final) go out
// then, at the decision (announce): until the write, the API serves the
// block by height, its readings' status, a reading by device and seq and
// its proof from the queue (block, reading, readingOf), as it serves a
// queued transaction, so that a block is readable through the API as soon
// as anyone hears of it. Once the writer has stored a block, the loop
// moves the store's head (n.heads: Head and Height, what GET /v1/status,
// the "latest" block, the lists of readings and block sync serve) and runs
// afterCommit: the mempool forgets its entries (buildBlock skips them
// until then) and the alert rules run. (The events waited for the write
// until 5 December: at twice the peak, the write and the loop's taking it
// back were half of a large block's way from its building to its events.)
//
// Crashes: the store holds a prefix of the final blocks, each whole with
// its state changes (store.CommitBlocks). A crash loses at most the
// blocks in the queue (announced, so a client may have heard of one this
// node does not hold after its restart, until it has it again); the node
// restarts from the store and learns them again by block sync or
// consensus. Nothing it signed meanwhile can
// contradict them: they are final (certified by a quorum), so the blocks
// it fetches are the ones it executed, and the engine does not sign again
// at or before its WAL's last signature (consensus doc).
//
// Back-pressure: at most maxWritesInFlight blocks wait; a commit beyond
// that waits on the loop for the oldest write, as every commit did before.
// Block sync runs on the loop after the queue is written (flushWrites), so
// that its batch starts from the store's heads.

// maxWritesInFlight is how many final blocks may be committed in memory and
// not yet written.
const maxWritesInFlight = 2

// writeResult is the outcome of one write of the commit writer: the blocks
// it stored (one store.CommitBlocks) or the error that stopped it.
type writeResult struct {
	blocks []*chain.Block
	took   time.Duration
	err    error
}

// commitWriter writes final blocks in order on its own goroutine. The loop
// queues blocks (queue) and takes the results (results, written); its
// queue is also read by other goroutines, through the node's chain
// readers, under mu.
type commitWriter struct {
	in      chan store.BlockCommit
	results chan writeResult
	done    chan struct{}

	mu sync.Mutex // guards pending, located and bySeq
	// pending are the blocks queued and not yet taken back by the loop as
	// written, in commit order; each lane's are consecutive heights above
	// the store's head.
	pending []*chain.Block
	// located and bySeq find the queued data blocks' readings, by hash
	// and by device and seq, for the API: a block's events go out when
	// it is queued, before it is written (announce).
	located map[chain.Hash]store.Location
	bySeq   map[deviceSeq]chain.Hash

	// holdReadings, when set (tests only), is waited on before a write
	// that stores a data block with readings, so that a test sees such a
	// block decided and announced but not written.
	holdReadings atomic.Pointer[chan struct{}]

	// Owned by the loop: the queued data blocks' reading hashes, by block,
	// and their readings' device and seq (the mempool holds these readings
	// until they are written: buildBlock skips them, and afterCommits,
	// whose state may be a queued block ahead, leaves them).
	hashes   map[*chain.Block][]chain.Hash
	readings map[deviceSeq]struct{}
	// queuedReadings counts the queued blocks' readings: the mempool
	// holds them, and they do not make the data lane start a height.
	queuedReadings int
}

// deviceSeq names a reading by its device and sequence number.
type deviceSeq struct {
	device chain.PubKey
	seq    uint64
}

// newCommitWriter makes the node's writer; the loop runs it (run) and
// closes it (close) when it stops.
func newCommitWriter() *commitWriter {
	w := &commitWriter{
		in:       make(chan store.BlockCommit, maxWritesInFlight),
		results:  make(chan writeResult, maxWritesInFlight),
		done:     make(chan struct{}),
		hashes:   make(map[*chain.Block][]chain.Hash),
		readings: make(map[deviceSeq]struct{}),
		located:  make(map[chain.Hash]store.Location),
		bySeq:    make(map[deviceSeq]chain.Hash),
	}
	return w
}

// run writes what is queued, every block queued meanwhile in one write
// (one fsync), until in is closed. Nothing after a failed write is
// written: the store keeps a prefix.
func (w *commitWriter) run(st *store.Store) {
	defer close(w.done)
	var failed error
	for c := range w.in {
		batch := []store.BlockCommit{c}
	more:
		for len(batch) < maxWritesInFlight {
			select {
			case c, ok := <-w.in:
				if !ok {
					break more
				}
				batch = append(batch, c)
			default:
				break more
			}
		}
		blocks := make([]*chain.Block, len(batch))
		for i, bc := range batch {
			blocks[i] = bc.Block
		}
		if failed != nil {
			w.results <- writeResult{blocks: blocks, err: failed}
			continue
		}
		if hold := w.holdReadings.Load(); hold != nil && hasReadings(blocks) {
			<-*hold
		}
		start := time.Now()
		if err := st.CommitBlocks(batch); err != nil {
			b := batch[0].Block
			failed = fmt.Errorf("storing %s/%d: %w", b.Header.Lane, b.Header.Height, err)
			w.results <- writeResult{blocks: blocks, err: failed}
			continue
		}
		w.results <- writeResult{blocks: blocks, took: time.Since(start)}
	}
}

// hasReadings reports whether a data block of blocks carries readings.
func hasReadings(blocks []*chain.Block) bool {
	for _, b := range blocks {
		if len(b.Readings) > 0 {
			return true
		}
	}
	return false
}

// queued is how many blocks wait to be written or taken back.
func (w *commitWriter) queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// tip is the header of lane's newest queued block.
func (w *commitWriter) tip(lane chain.Lane) (chain.Header, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.pending) - 1; i >= 0; i-- {
		if h := w.pending[i].Header; h.Lane == lane {
			return h, true
		}
	}
	return chain.Header{}, false
}

// header is the queued block of lane at height.
func (w *commitWriter) header(lane chain.Lane, height uint64) (chain.Header, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.pending {
		if b.Header.Lane == lane && b.Header.Height == height {
			return b.Header, true
		}
	}
	return chain.Header{}, false
}

// tx finds a transaction in the queued blocks.
func (w *commitWriter) tx(h chain.Hash) (*chain.Tx, store.Location, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.pending {
		for i, tx := range b.Txs {
			if tx.Hash() == h {
				return tx, store.Location{Lane: chain.LaneTx, Height: b.Header.Height, Index: uint32(i)}, true
			}
		}
	}
	return nil, store.Location{}, false
}

// block is the queued block of lane at height.
func (w *commitWriter) block(lane chain.Lane, height uint64) (*chain.Block, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.pending {
		if b.Header.Lane == lane && b.Header.Height == height {
			return b, true
		}
	}
	return nil, false
}

// reading finds a reading of the queued blocks by its hash.
func (w *commitWriter) reading(h chain.Hash) (*chain.Reading, store.Location, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.readingLocked(h)
}

// readingOf finds the reading of device with seq in the queued blocks.
func (w *commitWriter) readingOf(device chain.PubKey, seq uint64) (*chain.Reading, store.Location, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, ok := w.bySeq[deviceSeq{device, seq}]
	if !ok {
		return nil, store.Location{}, false
	}
	return w.readingLocked(h)
}

// readingLocked is reading; callers hold mu.
func (w *commitWriter) readingLocked(h chain.Hash) (*chain.Reading, store.Location, bool) {
	loc, ok := w.located[h]
	if !ok {
		return nil, store.Location{}, false
	}
	for _, b := range w.pending {
		if b.Header.Lane == chain.LaneData && b.Header.Height == loc.Height && int(loc.Index) < len(b.Readings) {
			return b.Readings[loc.Index], loc, true
		}
	}
	return nil, store.Location{}, false
}

// blocks returns the queued blocks in order.
func (w *commitWriter) blocks() []*chain.Block {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*chain.Block(nil), w.pending...)
}

// write queues a block committed in memory, with its readings' hashes
// (nil for a tx block). The loop calls it with fewer than
// maxWritesInFlight blocks queued, so it does not block.
func (w *commitWriter) write(bc store.BlockCommit, hashes []chain.Hash) {
	if len(hashes) > 0 {
		w.hashes[bc.Block] = hashes
	}
	for _, r := range bc.Block.Readings {
		w.readings[deviceSeq{r.Device, r.Seq}] = struct{}{}
	}
	w.queuedReadings += len(bc.Block.Readings)
	w.mu.Lock()
	w.pending = append(w.pending, bc.Block)
	for i, h := range hashes {
		r := bc.Block.Readings[i]
		w.located[h] = store.Location{Lane: chain.LaneData, Height: bc.Block.Header.Height, Index: uint32(i)}
		w.bySeq[deviceSeq{r.Device, r.Seq}] = h
	}
	w.mu.Unlock()
	w.in <- bc
}

// close writes what is queued and stops the writer; the results are left
// unread.
func (w *commitWriter) close() {
	close(w.in)
	<-w.done
}

// tip is lane's newest final block on the loop's chain: the newest queued
// block of lane, or the store's head. Safe on any goroutine.
func (n *Node) tip(lane chain.Lane) (chain.Header, bool) {
	if n.writer != nil {
		if h, ok := n.writer.tip(lane); ok {
			return h, true
		}
	}
	return n.Head(lane)
}

// tipHeight is the height of tip (0 before the first block).
func (n *Node) tipHeight(lane chain.Lane) uint64 {
	if h, ok := n.tip(lane); ok {
		return h.Height
	}
	return 0
}

// chainReader is the loop's chain for package state and verify: the store
// and the queued blocks, with their readings for settlement. Called on the
// loop: the queue and the store's heads change only there, so the two hold
// still together.
func (n *Node) chainReader() *pendingChain {
	pc := newPendingChain(n)
	if n.writer != nil {
		for _, b := range n.writer.blocks() {
			pc.add(b)
		}
	}
	return pc
}

// written takes back a write's blocks: it moves the store's heads and runs
// afterCommit for each. A failed write stops the node (the store keeps a
// prefix; the restart fetches the rest). Called on the loop.
func (n *Node) written(r writeResult) {
	if r.err != nil {
		n.stop(r.err)
		return
	}
	w := n.writer
	done := make([]committed, 0, len(r.blocks))
	for _, b := range r.blocks {
		h := b.Header
		w.mu.Lock()
		// The head moves before the block leaves the queue: a reader
		// never sees the chain step back.
		n.heads[h.Lane].Store(&h)
		if len(w.pending) == 0 || w.pending[0] != b {
			w.mu.Unlock()
			n.stop(fmt.Errorf("commit writer stored %s/%d out of order", h.Lane, h.Height))
			return
		}
		w.pending = w.pending[1:]
		hashes := w.hashes[b]
		for i, rh := range hashes {
			delete(w.located, rh)
			delete(w.bySeq, deviceSeq{b.Readings[i].Device, b.Readings[i].Seq})
		}
		w.mu.Unlock()
		delete(w.hashes, b)
		for _, r := range b.Readings {
			delete(w.readings, deviceSeq{r.Device, r.Seq})
		}
		w.queuedReadings -= len(b.Readings)
		done = append(done, committed{block: b, took: r.took, hashes: hashes, announced: true})
	}
	n.afterCommits(done)
	// Entries that waited behind the written ones may start a height.
	for _, d := range n.drivers {
		n.maybeStart(d, false)
	}
}

// takeWritten takes back the writes done, without waiting: the loop calls
// it between pieces of work (drain, before building a block), so that a
// written block's events do not wait for the next height's work.
func (n *Node) takeWritten() {
	for {
		select {
		case r := <-n.writer.results:
			n.written(r)
		default:
			return
		}
	}
}

// flushWrites waits until every queued block is written and taken back;
// it fails only when the node stops first. Called on the loop.
func (n *Node) flushWrites() error {
	for n.writer.queued() > 0 {
		if err := n.ctx.Err(); err != nil {
			return err
		}
		n.written(<-n.writer.results)
	}
	return nil
}

// queuedReading reports whether a queued data block holds the reading of
// device with seq. Called on the loop.
func (n *Node) queuedReading(device chain.PubKey, seq uint64) bool {
	_, ok := n.writer.readings[deviceSeq{device, seq}]
	return ok
}
