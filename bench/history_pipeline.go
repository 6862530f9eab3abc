package bench

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/chain/verify"
	"github.com/waterchain/waterchain/genesis"
)

// historyPipeline builds the blocks of a history on every core, as a
// three-stage pipeline:
//
//   - the caller's goroutine (Add) makes each block in order: its header
//     on the heads built so far, its execution on the in-memory state
//     (state.Cache, whose roots cost O(changes)), which the next block
//     executes on at once;
//   - workers sign each block's precommits (one per validator, the most
//     costly part of an empty block), several blocks at once;
//   - one committer writes the certified blocks in order, many per
//     store.CommitBlocks.
//
// The store therefore lags the blocks built. Settlement reads readings
// from it: the reading source Add gives execution waits until every
// block built is written (Sync) before it reads them; block times come
// from memory.
type historyPipeline struct {
	chainID string
	genHash chain.Hash
	sg      *state.Genesis
	mem     *state.Cache
	keys    map[chain.PubKey]*chain.PrivateKey
	heads   [3]*chain.Header // built (committed or not)
	// dataTimes[h-1] is the time of data block h.
	dataTimes []chain.Time

	st      *store.Store
	queue   chan *historyJob // in block order, to the committer
	sign    chan *historyJob // to the signers
	stopped chan struct{}    // closed when the committer returns
	wg      sync.WaitGroup   // the signers

	mu  sync.Mutex // guards err
	err error      // the first commit error
}

// historyJob is one block on its way through the pipeline, or a barrier
// (block nil) that the committer answers on done once everything before
// it is written.
type historyJob struct {
	block   *chain.Block
	vs      *chain.ValidatorSet
	changes []store.Change
	signed  chan struct{} // closed once block carries its certificate
	err     error         // of certifying, set before signed is closed
	done    chan error    // barrier only
}

// historyCommitBlocks and historyCommitEntries bound the blocks written
// in one store.CommitBlocks.
const (
	historyCommitBlocks  = 256
	historyCommitEntries = 10_000
)

// newHistoryPipeline returns a pipeline building on a store holding only
// genesis (as audittest.New leaves it), signing precommits with keys.
func newHistoryPipeline(g *genesis.Genesis, keys []*chain.PrivateKey) (*historyPipeline, error) {
	sg, err := g.State()
	if err != nil {
		return nil, err
	}
	changes, err := state.GenesisChanges(sg)
	if err != nil {
		return nil, err
	}
	p := &historyPipeline{chainID: g.ChainID, genHash: g.Hash(), sg: sg, mem: state.NewCache(), keys: map[chain.PubKey]*chain.PrivateKey{}}
	p.mem.Apply(changes)
	for _, k := range keys {
		p.keys[k.Public()] = k
	}
	return p, nil
}

// start runs the signers and the committer, writing to st.
func (p *historyPipeline) start(st *store.Store) {
	p.st = st
	p.queue = make(chan *historyJob, 4*historyCommitBlocks)
	p.sign = make(chan *historyJob, 4*historyCommitBlocks)
	p.stopped = make(chan struct{})
	for range runtime.GOMAXPROCS(0) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.sign {
				j.err = p.certify(j)
				close(j.signed)
			}
		}()
	}
	go p.commitLoop(p.queue)
}

// stop writes every block built and stops the stages; start runs them
// again (on another store).
func (p *historyPipeline) stop() error {
	close(p.sign)
	close(p.queue)
	p.wg.Wait()
	<-p.stopped
	return p.firstErr()
}

func (p *historyPipeline) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *historyPipeline) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

// Sync waits until every block built so far is in the store.
func (p *historyPipeline) Sync() error {
	j := &historyJob{signed: make(chan struct{}), done: make(chan error, 1)}
	close(j.signed)
	select {
	case p.queue <- j:
	case <-p.stopped:
		return p.firstErr()
	}
	select {
	case err := <-j.done:
		return err
	case <-p.stopped:
		return p.firstErr()
	}
}

// certify signs j's block's precommits by every member of its set.
func (p *historyPipeline) certify(j *historyJob) error {
	b := j.block
	hash := b.Hash()
	var votes []*chain.Vote
	for _, pub := range j.vs.Keys() {
		k := p.keys[pub]
		if k == nil {
			return fmt.Errorf("no key for validator %s", pub.Short())
		}
		v := &chain.Vote{Type: chain.Precommit, Lane: b.Header.Lane, Height: b.Header.Height, BlockHash: hash, Validator: pub}
		v.Sign(p.chainID, k)
		votes = append(votes, v)
	}
	cert, err := chain.NewCertificate(j.vs, votes)
	if err != nil {
		return err
	}
	j.block = b.WithCert(cert)
	return nil
}

// commitLoop writes the jobs of queue in order, in groups, until queue
// closes or a write fails.
func (p *historyPipeline) commitLoop(queue <-chan *historyJob) {
	defer close(p.stopped)
	var group []store.BlockCommit
	entries := 0
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		err := p.st.CommitBlocks(group)
		group, entries = group[:0], 0
		return err
	}
	for j := range queue {
		<-j.signed
		if j.done != nil {
			err := flush()
			j.done <- err
			if err != nil {
				p.fail(err)
				return
			}
			continue
		}
		if j.err != nil {
			p.fail(fmt.Errorf("certifying %s/%d: %w", j.block.Header.Lane, j.block.Header.Height, j.err))
			return
		}
		group = append(group, store.BlockCommit{Block: j.block, Changes: j.changes})
		entries += j.block.NumEntries()
		if len(group) >= historyCommitBlocks || entries >= historyCommitEntries {
			if err := flush(); err != nil {
				p.fail(fmt.Errorf("writing blocks: %w", err))
				return
			}
		}
	}
	if err := flush(); err != nil {
		p.fail(fmt.Errorf("writing blocks: %w", err))
	}
}

// errHistoryPipelineStopped is returned by Add after a stage failed.
var errHistoryPipelineStopped = errors.New("the history pipeline stopped")

// Add builds the next block of lane at time at holding readings (data
// lane), executes it and hands it to the signers and the committer.
func (p *historyPipeline) Add(lane chain.Lane, at chain.Time, readings []*chain.Reading) error {
	if err := p.firstErr(); err != nil {
		return fmt.Errorf("%w: %w", errHistoryPipelineStopped, err)
	}
	h := chain.Header{ChainID: p.chainID, Lane: lane, Height: 1, Time: at, PrevHash: p.genHash, Anchor: chain.Anchor{Hash: p.genHash}}
	if prev := p.heads[lane]; prev != nil {
		h.Height, h.PrevHash = prev.Height+1, prev.Hash()
	}
	if o := p.heads[lane.Other()]; o != nil {
		h.Anchor = chain.Anchor{Height: o.Height, Hash: o.Hash()}
	}
	vs, err := verify.ValidatorSet(historyHeads{p}, lane, h.Height)
	if err != nil {
		return err
	}
	h.ValidatorsHash = vs.Hash()
	h.Proposer = vs.Proposer(h.Height, 0)
	b := &chain.Block{Header: h, Readings: readings}
	var changes []state.Change
	var root chain.Hash
	if lane == chain.LaneData {
		changes, root, err = state.ExecuteDataBlock(p.mem, &b.Header, readings)
	} else {
		changes, root, err = state.ExecuteTxBlock(p.mem, historyReadings{p}, p.sg, &b.Header, nil)
	}
	if err != nil {
		return err
	}
	b.Header.StateRoot = root
	b.Header.NumEntries = uint32(b.NumEntries())
	b.Header.EntriesRoot = b.ComputeEntriesRoot()
	p.mem.Apply(changes)
	hh := b.Header
	p.heads[lane] = &hh
	if lane == chain.LaneData {
		p.dataTimes = append(p.dataTimes, at)
	}
	sc := make([]store.Change, len(changes))
	for i, c := range changes {
		sc[i] = store.Change{Key: c.Key, Value: c.Value, Delete: c.Delete}
	}
	j := &historyJob{block: b, vs: vs, changes: sc, signed: make(chan struct{})}
	p.sign <- j
	select {
	case p.queue <- j:
		return nil
	case <-p.stopped:
		return fmt.Errorf("%w: %w", errHistoryPipelineStopped, p.firstErr())
	}
}

// historyHeads reads the heads built, for the validator set of the next
// block (verify.SignerHeight reads the parent of a data block only).
type historyHeads struct{ p *historyPipeline }

func (r historyHeads) Height(lane chain.Lane) uint64 {
	if h := r.p.heads[lane]; h != nil {
		return h.Height
	}
	return 0
}

func (r historyHeads) Header(lane chain.Lane, height uint64) (*chain.Header, error) {
	if h := r.p.heads[lane]; h != nil && h.Height == height {
		return h, nil
	}
	if err := r.p.Sync(); err != nil {
		return nil, err
	}
	h, err := r.p.st.Header(lane, height)
	return &h, err
}

func (r historyHeads) ValidatorSetAt(txHeight uint64) (*chain.ValidatorSet, error) {
	return state.ValidatorSetAt(r.p.mem, txHeight)
}

// historyReadings is settlement's reading source while the history is
// built: block times from memory, readings from the store once every
// block built is written.
type historyReadings struct{ p *historyPipeline }

func (r historyReadings) ReadingsUpTo(device chain.PubKey, from, to chain.Time, maxDataHeight uint64, fn func(*chain.Reading) error) error {
	if err := r.p.Sync(); err != nil {
		return err
	}
	return r.p.st.ReadingsUpTo(device, from, to, maxDataHeight, fn)
}

func (r historyReadings) DataBlockTime(height uint64) (chain.Time, error) {
	if height == 0 || height > uint64(len(r.p.dataTimes)) {
		return 0, fmt.Errorf("data block %d: %w", height, store.ErrNotFound)
	}
	return r.p.dataTimes[height-1], nil
}
