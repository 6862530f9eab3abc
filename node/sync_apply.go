package node

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/chain/verify"
)

// checkSync runs the checks of fetched blocks that need no chain, for a
// whole batch at once on every core: each block's shape (entries root
// included) and certificate presence, then every entry signature and
// every certificate signature of the batch, cut into one batch
// verification per core whatever the blocks' sizes. It returns how many
// blocks from the first are good and, when one is not, the error of the
// first bad one, with the hashes of the readings of the good blocks, by
// block (nil for a tx block), computed on every core with the shapes, for
// the loop not to compute them again (applySync). Safe to call off the
// loop.
func (n *Node) checkSync(blocks []*chain.Block) (good int, hashes map[*chain.Block][]chain.Hash, err error) {
	workers := runtime.GOMAXPROCS(0)
	good = len(blocks)
	perBlock := make([][]chain.Hash, len(blocks))
	var mu sync.Mutex // guards good and err
	fail := func(i int, e error) {
		mu.Lock()
		defer mu.Unlock()
		if i < good {
			good, err = i, e
		}
	}
	// Shapes, block by block, spread over the cores.
	var wg sync.WaitGroup
	for w := 0; w < min(workers, len(blocks)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(blocks); i += workers {
				if e := n.checkShape(blocks[i]); e != nil {
					fail(i, e)
					return
				}
				if len(blocks[i].Readings) > 0 {
					perBlock[i] = readingHashes(blocks[i].Readings)
				}
			}
		}()
	}
	wg.Wait()
	// Signatures of the blocks before the first bad shape, as one list
	// cut in equal parts.
	type sigRef struct {
		block int
		entry int // index in Readings or Txs; -1-k for certificate signature k
	}
	var refs []sigRef
	for i, b := range blocks[:good] {
		for k := range b.NumEntries() {
			refs = append(refs, sigRef{i, k})
		}
		for k := range b.Cert.Sigs {
			refs = append(refs, sigRef{i, -1 - k})
		}
	}
	parts := min(workers, max(1, len(refs)/64))
	chunk := (len(refs) + parts - 1) / parts
	for start := 0; start < len(refs); start += chunk {
		part := refs[start:min(start+chunk, len(refs))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			bv := chain.NewBatchVerifier(len(part))
			for _, r := range part {
				b := blocks[r.block]
				var pub chain.PubKey
				var domain string
				var msg []byte
				var sig chain.Signature
				switch {
				case r.entry < 0:
					v := b.Cert.Precommit(-1 - r.entry)
					pub, domain, msg, sig = v.Validator, chain.DomainVote, v.SigningBytes(), v.Sig
				case b.Header.Lane == chain.LaneData:
					pub, domain, msg, sig = readingSig(b.Readings[r.entry])
				default:
					pub, domain, msg, sig = txSig(b.Txs[r.entry])
				}
				bv.Add(pub, domain, n.chainID, msg, sig)
			}
			res, ok := bv.Verify()
			if ok {
				return
			}
			for k, e := range res {
				if e != nil {
					b := blocks[part[k].block]
					fail(part[k].block, fmt.Errorf("peer sent a bad block %s/%d: %w", b.Header.Lane, b.Header.Height, e))
					return
				}
			}
		}()
	}
	wg.Wait()
	hashes = make(map[*chain.Block][]chain.Hash, good)
	for i, b := range blocks[:good] {
		if perBlock[i] != nil {
			hashes[b] = perBlock[i]
		}
	}
	return good, hashes, err
}

// checkShape runs a fetched block's checks that need neither the chain
// nor signatures.
func (n *Node) checkShape(b *chain.Block) error {
	if b.Cert == nil {
		return fmt.Errorf("peer sent block %s/%d %w", b.Header.Lane, b.Header.Height, errNoCert)
	}
	if err := b.ValidateBasic(); err != nil {
		return fmt.Errorf("peer sent a bad block %s/%d: %w", b.Header.Lane, b.Header.Height, err)
	}
	return nil
}

// applySync verifies and executes blocks whose signatures checkSync has
// checked, in order, against the committed chain and the blocks before
// them, and commits them. A block that fails ends the batch: the blocks
// before it are committed, and its error is returned. Called on the loop.
//
// The writes overlap the execution: the blocks are written in chunks
// (syncWriteBlocks blocks or syncWriteEntries entries, one
// store.CommitBlocks each, in order, by a syncWriter), and while one
// chunk is written the loop executes the next. The heads move, and
// everyone is told, once every chunk is written: until then the blocks
// are in n.state and in pc, which is what verification and settlement
// read, and the store holds a prefix of them (a crash leaves it
// consistent, and the node fetches the rest again).
//
// hashes are the blocks' readings' hashes from checkSync; a block missing
// from it (or a nil map) has them computed after its commit.
func (n *Node) applySync(blocks []*chain.Block, hashes map[*chain.Block][]chain.Hash) error {
	start := time.Now()
	validators := make(map[*chain.Block]int, len(blocks))
	pc := newPendingChain(n)
	blocks = anchorOrder(blocks, pc.base)
	w := newSyncWriter(n.store)
	var chunk []store.BlockCommit
	chunkEntries := 0
	var failure error
	diverged := false
	for _, b := range blocks {
		lane, height := b.Header.Lane, b.Header.Height
		if height <= pc.Height(lane) {
			continue // consensus committed it meanwhile
		}
		vs, err := n.verifyHeaderOn(pc, &b.Header)
		if err == nil {
			err = n.verifier().CertificateSigners(vs, b)
		}
		if err != nil {
			failure = fmt.Errorf("synced block %s/%d: %w", lane, height, err)
			break
		}
		validators[b] = vs.Size()
		ex, err := n.executeOn(b, pc.Height(chain.LaneData), pc)
		if err != nil {
			// A block with a valid certificate that does not execute
			// here means this node's state differs from the network's.
			failure = fmt.Errorf("certified block %s/%d %s does not execute here: %w", lane, height, b.Hash().Short(), err)
			diverged = true
			break
		}
		// Later blocks of the batch execute on this one's state. The
		// store gets it with its chunk; should that write fail, the
		// node stops, and restarts from the store.
		n.state.Apply(ex.changes)
		pc.add(b)
		chunk = append(chunk, store.BlockCommit{Block: b, Changes: toStoreChanges(ex.changes)})
		chunkEntries += b.NumEntries()
		if len(chunk) >= syncWriteBlocks || chunkEntries >= syncWriteEntries {
			w.write(chunk)
			chunk, chunkEntries = nil, 0
		}
	}
	w.write(chunk)
	commits, err := w.wait()
	if len(commits) > 0 {
		took := time.Since(start) / time.Duration(len(commits))
		var tops [3]uint64
		var synced [3]int
		done := make([]committed, len(commits))
		for i, c := range commits {
			b := c.Block
			h := b.Header
			n.heads[h.Lane].Store(&h)
			synced[h.Lane]++
			tops[h.Lane] = h.Height
			done[i] = committed{block: b, took: took, hashes: hashes[b], validators: validators[b]}
		}
		for _, lane := range chain.Lanes {
			if synced[lane] > 0 {
				n.metrics.synced.WithLabelValues(lane.String()).Add(float64(synced[lane]))
			}
		}
		n.afterCommits(done)
		for _, lane := range chain.Lanes {
			if tops[lane] > 0 {
				n.drivers[lane].reset(tops[lane] + 1)
				n.retryParked(lane.Other())
			}
		}
		n.progress.note(n, len(commits), entriesOf(commits))
	}
	if err != nil {
		err = fmt.Errorf("storing synced blocks: %w", err)
		n.stop(err)
		return err
	}
	if diverged {
		n.stop(failure)
	}
	return failure
}

// A chunk of a sync batch written in one store.CommitBlocks: up to
// syncWriteBlocks blocks or syncWriteEntries entries, so that a batch
// makes about two: the loop executes the second while the store writes
// the first. Not more: each write is an fsync, which costs as much CPU
// as executing hundreds of empty blocks. Variables so that tests may
// cut a small batch into many chunks.
var (
	syncWriteBlocks  = syncBatchBlocks / 2
	syncWriteEntries = syncBatchEntries / 2
)

// syncWriter writes the chunks of a sync batch in order on its own
// goroutine, each with one store.CommitBlocks, and stops at the first
// that fails. The loop hands it chunks (write) and then waits (wait).
type syncWriter struct {
	chunks chan []store.BlockCommit
	done   chan struct{}
	// Set by the writing goroutine, read after done is closed.
	written []store.BlockCommit
	err     error
}

func newSyncWriter(st *store.Store) *syncWriter {
	w := &syncWriter{chunks: make(chan []store.BlockCommit, 4), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for c := range w.chunks {
			if w.err != nil {
				continue // drain: nothing after a failed chunk is written
			}
			if err := st.CommitBlocks(c); err != nil {
				w.err = fmt.Errorf("%d blocks from %s/%d: %w", len(c), c[0].Block.Header.Lane, c[0].Block.Header.Height, err)
				continue
			}
			w.written = append(w.written, c...)
		}
	}()
	return w
}

// write queues chunk (nothing when empty).
func (w *syncWriter) write(chunk []store.BlockCommit) {
	if len(chunk) > 0 {
		w.chunks <- chunk
	}
}

// wait returns, once every chunk queued is written or the first failed,
// the blocks written and the error of the one that failed.
func (w *syncWriter) wait() ([]store.BlockCommit, error) {
	close(w.chunks)
	<-w.done
	return w.written, w.err
}

// anchorOrder returns blocks (each lane's in height order) in an order in
// which every block comes after the block of the other lane it anchors,
// for lanes at heights base; blocks that cannot be placed so come last,
// where verification refuses the first of them.
func anchorOrder(blocks []*chain.Block, base [3]uint64) []*chain.Block {
	var queues [3][]*chain.Block
	for _, b := range blocks {
		queues[b.Header.Lane] = append(queues[b.Header.Lane], b)
	}
	out := make([]*chain.Block, 0, len(blocks))
	top := base
	for progress := true; progress; {
		progress = false
		for _, lane := range chain.Lanes {
			for len(queues[lane]) > 0 && queues[lane][0].Header.Anchor.Height <= top[lane.Other()] {
				b := queues[lane][0]
				queues[lane] = queues[lane][1:]
				top[lane] = max(top[lane], b.Header.Height)
				out = append(out, b)
				progress = true
			}
		}
	}
	for _, lane := range chain.Lanes {
		out = append(out, queues[lane]...)
	}
	return out
}

func entriesOf(commits []store.BlockCommit) int {
	e := 0
	for _, c := range commits {
		e += c.Block.NumEntries()
	}
	return e
}

// pendingChain is the chain as block sync applies a batch: the committed
// chain, then the batch's blocks verified and executed so far (in n.state
// already, in the store only once the batch is written). It is what the
// verifier and settlement read meanwhile. Used on the loop.
type pendingChain struct {
	n       *Node
	base    [3]uint64
	blocks  [3][]*chain.Block
	readers bool // a pending data block carries readings
}

var (
	_ verify.HeaderReader = (*pendingChain)(nil)
	_ state.ReadingSource = (*pendingChain)(nil)
)

func newPendingChain(n *Node) *pendingChain {
	pc := &pendingChain{n: n}
	for _, lane := range chain.Lanes {
		pc.base[lane] = n.Height(lane)
	}
	return pc
}

func (pc *pendingChain) add(b *chain.Block) {
	pc.blocks[b.Header.Lane] = append(pc.blocks[b.Header.Lane], b)
	if len(b.Readings) > 0 {
		pc.readers = true
	}
}

func (pc *pendingChain) Height(lane chain.Lane) uint64 {
	return pc.base[lane] + uint64(len(pc.blocks[lane]))
}

func (pc *pendingChain) Header(lane chain.Lane, height uint64) (*chain.Header, error) {
	if height > pc.base[lane] && height <= pc.Height(lane) {
		return &pc.blocks[lane][height-pc.base[lane]-1].Header, nil
	}
	return committedChain{pc.n}.Header(lane, height)
}

func (pc *pendingChain) ValidatorSetAt(txHeight uint64) (*chain.ValidatorSet, error) {
	return state.ValidatorSetAt(pc.n.state, txHeight)
}

// ReadingsUpTo is the store's answer with the readings of the pending
// data blocks added, in sequence order as the store gives them.
func (pc *pendingChain) ReadingsUpTo(device chain.PubKey, from, to chain.Time, maxDataHeight uint64, fn func(*chain.Reading) error) error {
	src := readingSource{pc.n.store}
	if !pc.readers || maxDataHeight <= pc.base[chain.LaneData] {
		return src.ReadingsUpTo(device, from, to, maxDataHeight, fn)
	}
	var all []*chain.Reading
	if err := src.ReadingsUpTo(device, from, to, pc.base[chain.LaneData], func(r *chain.Reading) error {
		c := *r
		all = append(all, &c)
		return nil
	}); err != nil {
		return err
	}
	for _, b := range pc.blocks[chain.LaneData] {
		if b.Header.Height > maxDataHeight {
			break
		}
		for _, r := range b.Readings {
			if r.Device == device && r.Time >= from && r.Time < to {
				all = append(all, r)
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Seq < all[j].Seq })
	for _, r := range all {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (pc *pendingChain) DataBlockTime(height uint64) (chain.Time, error) {
	if height > pc.base[chain.LaneData] && height <= pc.Height(chain.LaneData) {
		return pc.blocks[chain.LaneData][height-pc.base[chain.LaneData]-1].Header.Time, nil
	}
	return readingSource{pc.n.store}.DataBlockTime(height)
}
