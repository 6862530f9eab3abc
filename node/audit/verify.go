package audit

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/chain/verify"
	"github.com/waterchain/waterchain/genesis"
)

// DefaultBatchSize is how many entry signatures Verify checks in one batch
// verification by default. Batches span blocks, so a chain of small blocks
// is checked as fast as one of big blocks; past a few thousand, larger
// batches gain little and hold more memory.
const DefaultBatchSize = 4096

// maxChunkBlocks bounds the blocks of one chunk of work, so that a chain
// of empty blocks still moves in steps.
const maxChunkBlocks = 512

// VerifyOptions tune Verify. The zero value is the default.
type VerifyOptions struct {
	// Progress, when set, is called after each verified block with the
	// blocks verified so far and the blocks of both lanes in the store.
	// It runs on the verifying goroutine: keep it quick.
	Progress func(done, total uint64)
	// Workers is the number of goroutines that read blocks and verify
	// entry signatures; 0 means GOMAXPROCS.
	Workers int
	// BatchSize is the number of entry signatures verified in one batch;
	// 0 means DefaultBatchSize.
	BatchSize int
}

// Summary is what Verify checked.
type Summary struct {
	ChainID     string     `json:"chain_id"`
	GenesisHash chain.Hash `json:"genesis_hash"`
	// DataHeight and TxHeight are the heights verified: the store's heads.
	DataHeight uint64 `json:"data_height"`
	TxHeight   uint64 `json:"tx_height"`
	// Readings and Txs are the entries whose signatures were verified and
	// which were re-executed.
	Readings uint64 `json:"readings"`
	Txs      uint64 `json:"txs"`
	// CertSignatures are the precommit signatures of the certificates.
	CertSignatures uint64 `json:"cert_signatures"`
	// ValidatorSets is the number of validator sets in force over the
	// chain (1 while the genesis set has never changed).
	ValidatorSets int `json:"validator_sets"`
	// SettledPeriods and Settlements count the periods settled and the
	// per-industry settlement records re-computed.
	SettledPeriods int64  `json:"settled_periods"`
	Settlements    uint64 `json:"settlements"`
	// StateKeys is the number of state entries compared with the store.
	StateKeys uint64        `json:"state_keys"`
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// ReadingsPerSecond is the verification rate of readings.
func (s *Summary) ReadingsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Readings) / s.Elapsed.Seconds()
}

func (s *Summary) String() string {
	return fmt.Sprintf("verified %s from genesis %s: data chain to height %d (%d readings), tx chain to height %d (%d txs), %d certificate signatures, %d validator set(s), %d settled period(s) with %d settlement records, %d state entries equal to re-execution, in %s (%.0f readings/s)",
		s.ChainID, s.GenesisHash.Short(), s.DataHeight, s.Readings, s.TxHeight, s.Txs, s.CertSignatures,
		s.ValidatorSets, s.SettledPeriods, s.Settlements, s.StateKeys, s.Elapsed.Round(time.Millisecond), s.ReadingsPerSecond())
}

// Verify re-verifies the whole chain held in st from genesis g, offline:
// for every block of both lanes, in an order where each block's anchor is
// verified before it, the stored records (decoding, entries root), the hash
// link to its parent, the anchor, the validator set the header names
// (genesis set and the changes executed since), the commit certificate
// against that set, every entry signature (batched over all cores), and a
// re-execution into a fresh in-memory state that must reproduce the state
// root of every header, settlements included; and the store's indexes (block
// hash, reading by device and seq or time, tx hash), which the API and
// proofs look entries up by, must point at each block's entries and hold
// nothing else. Finally the stored state must equal the re-executed state
// key by key.
//
// It returns a Summary when all holds. The first failure is a *Failure
// (wrapping ErrAudit) naming the lane, height, entry or state key and the
// check that failed. The store must not change while Verify runs: open it
// read-only with the node stopped.
func Verify(st *store.Store, g *genesis.Genesis, opts VerifyOptions) (*Summary, error) {
	start := time.Now()
	if g == nil {
		return nil, fmt.Errorf("genesis: missing")
	}
	sg, err := g.State()
	if err != nil {
		return nil, err
	}
	genHash := g.Hash()
	sum := &Summary{ChainID: g.ChainID, GenesisHash: genHash}
	if err := st.CheckGenesis(genHash); err != nil {
		return nil, &Failure{Entry: -1, Check: CheckGenesis, Err: err}
	}
	changes, err := state.GenesisChanges(sg)
	if err != nil {
		return nil, err
	}
	// The re-executed state is a state.Cache, which keeps the lanes'
	// Merkle trees: each block's state root costs O(k log n) for its k
	// written keys, not a walk of the whole state.
	mem := state.NewCache()
	mem.Apply(changes)

	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	v := &verifier{
		st: st, g: sg, chainID: g.ChainID, rules: verify.New(g.ChainID, genHash), opts: opts, sum: sum,
		mem: mem, src: newVerifiedReadings(),
		heads: map[chain.Lane]uint64{chain.LaneData: st.Height(chain.LaneData), chain.LaneTx: st.Height(chain.LaneTx)},
		prev:  map[chain.Lane]*chain.Header{},
		headers: map[chain.Lane]*headerWindow{
			chain.LaneData: {}, chain.LaneTx: {},
		},
	}
	if err := v.run(); err != nil {
		return nil, err
	}
	for _, lane := range chain.Lanes {
		if got := v.verified(lane); got != v.heads[lane] {
			// The planner stops early only after planning a block that
			// fails; this guards the summary against a silent gap.
			return nil, fmt.Errorf("audit stopped at %s/%d of %d without a finding", lane, got, v.heads[lane])
		}
	}
	sum.DataHeight, sum.TxHeight = v.verified(chain.LaneData), v.verified(chain.LaneTx)
	if err := v.finish(); err != nil {
		return nil, err
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// verifier is one run of Verify. Its fields are owned by the consuming
// goroutine (run); the planner and workers see only st, opts and chunks.
type verifier struct {
	st      *store.Store
	g       *state.Genesis
	chainID string
	rules   *verify.Verifier
	opts    VerifyOptions
	sum     *Summary

	mem      *state.Cache
	indexSum store.IndexSum // of the index entries of the blocks verified so far
	src      *verifiedReadings
	heads    map[chain.Lane]uint64        // the store's heads: what is verified
	prev     map[chain.Lane]*chain.Header // last verified header of each lane
	headers  map[chain.Lane]*headerWindow // verified headers anchors may still name
	done     uint64                       // blocks verified
}

// The verified chain is what the next block is checked against.
var _ verify.HeaderReader = (*verifier)(nil)

// Height is the verified height of lane.
func (v *verifier) Height(lane chain.Lane) uint64 { return v.verified(lane) }

// Header returns a verified header: the last of its lane, or one an
// anchor of the other lane may still name.
func (v *verifier) Header(lane chain.Lane, height uint64) (*chain.Header, error) {
	if p := v.prev[lane]; p != nil && p.Height == height {
		return p, nil
	}
	if h, ok := v.headers[lane].at(height); ok {
		return h, nil
	}
	return nil, fmt.Errorf("%s/%d is not a verified block an anchor may name (anchors never go back; the %s chain is verified to %d)", lane, height, lane, v.verified(lane))
}

// ValidatorSetAt is the set in force at tx height txHeight in the
// re-executed state.
func (v *verifier) ValidatorSetAt(txHeight uint64) (*chain.ValidatorSet, error) {
	return state.ValidatorSetAt(v.mem, txHeight)
}

// headerWindow keeps a lane's verified headers from the lowest height an
// anchor of the other lane may still name (anchors never go back), so
// memory stays bounded on a long chain.
type headerWindow struct {
	base    uint64 // height of headers[0]
	headers []*chain.Header
}

func (w *headerWindow) push(h *chain.Header) {
	if len(w.headers) == 0 {
		w.base = h.Height
	}
	w.headers = append(w.headers, h)
}

func (w *headerWindow) at(height uint64) (*chain.Header, bool) {
	if height < w.base || height-w.base >= uint64(len(w.headers)) {
		return nil, false
	}
	return w.headers[height-w.base], true
}

// trim forgets headers below height.
func (w *headerWindow) trim(height uint64) {
	if height <= w.base || len(w.headers) == 0 {
		return
	}
	n := min(height-w.base, uint64(len(w.headers)))
	w.headers = append(w.headers[:0:0], w.headers[n:]...)
	w.base += n
}

func (v *verifier) verified(lane chain.Lane) uint64 {
	if h := v.prev[lane]; h != nil {
		return h.Height
	}
	return 0
}

// job is one block to verify; a worker fills block, loadErr and the
// signature results.
type job struct {
	lane   chain.Lane
	height uint64

	block    *chain.Block
	loadErr  error
	sigIndex int            // first entry whose signature is bad, or -1
	sigErr   error          // its error
	indexSum store.IndexSum // of the index entries the block should have
}

// chunk is a run of consecutive jobs whose entry signatures are verified
// together.
type chunk struct {
	jobs []*job
	done chan struct{}
}

// run drives the pipeline: a planner orders the blocks into chunks, workers
// read them and verify their entry signatures in batches, and this
// goroutine checks each block in order, cheap to expensive, and executes
// it.
func (v *verifier) run() error {
	inflight := 2*v.opts.Workers + 2
	ordered := make(chan *chunk, inflight)
	work := make(chan *chunk)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1 + v.opts.Workers)
	go func() {
		defer wg.Done()
		defer close(ordered)
		defer close(work)
		v.plan(ordered, work, quit)
	}()
	for i := 0; i < v.opts.Workers; i++ {
		go func() {
			defer wg.Done()
			for c := range work {
				v.load(c)
				close(c.done)
			}
		}()
	}
	defer wg.Wait()
	defer close(quit)

	for c := range ordered {
		<-c.done
		for _, j := range c.jobs {
			if err := v.check(j); err != nil {
				return err
			}
			j.block = nil // let the garbage collector have it
			v.done++
			if v.opts.Progress != nil {
				v.opts.Progress(v.done, v.heads[chain.LaneData]+v.heads[chain.LaneTx])
			}
		}
	}
	return nil
}

// plan orders the blocks of both lanes so that each block's anchor is
// planned before it: the next data block once the tx blocks planned reach
// its anchor, else the next tx block once the data blocks planned reach
// its anchor. It groups them into chunks of about BatchSize entries. When
// neither can go (an anchor names a block that does not exist or a cycle),
// or a header cannot be read, it plans that block last, so that check
// reports it.
func (v *verifier) plan(ordered, work chan<- *chunk, quit <-chan struct{}) {
	next := map[chain.Lane]uint64{chain.LaneData: 1, chain.LaneTx: 1}
	var cur *chunk
	entries := 0
	emit := func() bool {
		if cur == nil {
			return true
		}
		c := cur
		cur, entries = nil, 0
		select {
		case ordered <- c:
		case <-quit:
			return false
		}
		select {
		case work <- c:
		case <-quit:
			return false
		}
		return true
	}
	add := func(lane chain.Lane, h *chain.Header) bool {
		if cur == nil {
			cur = &chunk{done: make(chan struct{})}
		}
		cur.jobs = append(cur.jobs, &job{lane: lane, height: next[lane], sigIndex: -1})
		next[lane]++
		if h != nil {
			entries += int(h.NumEntries)
		}
		if entries >= v.opts.BatchSize || len(cur.jobs) >= maxChunkBlocks {
			return emit()
		}
		return true
	}
	// cached holds the next header of each lane once read.
	cached := map[chain.Lane]*chain.Header{}
	header := func(lane chain.Lane) (*chain.Header, bool, error) {
		if next[lane] > v.heads[lane] {
			return nil, false, nil
		}
		if h := cached[lane]; h != nil {
			return h, true, nil
		}
		h, err := v.st.Header(lane, next[lane])
		if err != nil {
			return nil, true, err
		}
		cached[lane] = &h
		return &h, true, nil
	}
	for {
		var picked chain.Lane
		var ph *chain.Header
		var blocked []chain.Lane
		stop := false
		for _, lane := range chain.Lanes {
			h, ok, err := header(lane)
			if !ok {
				continue
			}
			if err != nil {
				picked, stop = lane, true
				break
			}
			if h.Anchor.Height < next[lane.Other()] {
				picked, ph = lane, h
				break
			}
			blocked = append(blocked, lane)
		}
		if picked == 0 && len(blocked) > 0 {
			// Neither lane can go: plan the culprit last, for check to
			// report it.
			picked, stop = v.culprit(blocked, next, cached), true
			ph = cached[picked]
		}
		if picked == 0 {
			emit()
			return
		}
		delete(cached, picked)
		if !add(picked, ph) {
			return
		}
		if stop {
			emit()
			return
		}
	}
}

// culprit picks which of the blocked next blocks of the lanes to blame:
// one whose stored records do not hold together (a damaged header names
// another anchor than the block that was certified), else one whose anchor
// is beyond the other lane's head, else the first.
func (v *verifier) culprit(blocked []chain.Lane, next map[chain.Lane]uint64, headers map[chain.Lane]*chain.Header) chain.Lane {
	for _, lane := range blocked {
		if _, err := v.st.Block(lane, next[lane]); err != nil {
			return lane
		}
	}
	for _, lane := range blocked {
		if headers[lane].Anchor.Height > v.heads[lane.Other()] {
			return lane
		}
	}
	return blocked[0]
}

// load reads the blocks of a chunk and verifies their entry signatures in
// batches of BatchSize.
func (v *verifier) load(c *chunk) {
	for _, j := range c.jobs {
		j.block, j.loadErr = v.st.Block(j.lane, j.height)
		if j.loadErr == nil {
			j.indexSum = store.BlockIndexSum(j.block)
		}
	}
	type ref struct {
		j     *job
		index int
	}
	n := 0
	for _, j := range c.jobs {
		if j.loadErr == nil {
			n += j.block.NumEntries()
		}
	}
	if n == 0 {
		return
	}
	n = min(n, v.opts.BatchSize)
	bv := chain.NewBatchVerifier(n)
	refs := make([]ref, 0, n)
	flush := func() {
		errs, ok := bv.Verify()
		if !ok {
			for i, err := range errs {
				if err != nil && refs[i].j.sigIndex < 0 {
					refs[i].j.sigIndex, refs[i].j.sigErr = refs[i].index, err
				}
			}
		}
		refs = refs[:0]
	}
	for _, j := range c.jobs {
		if j.loadErr != nil {
			continue
		}
		for i, r := range j.block.Readings {
			bv.Add(r.Device, chain.DomainReading, v.chainID, r.SigningBytes(), r.Sig)
			refs = append(refs, ref{j, i})
			if len(refs) >= v.opts.BatchSize {
				flush()
			}
		}
		for i, tx := range j.block.Txs {
			bv.Add(tx.From, chain.DomainTx, v.chainID, tx.SigningBytes(), tx.Sig)
			refs = append(refs, ref{j, i})
			if len(refs) >= v.opts.BatchSize {
				flush()
			}
		}
	}
	if len(refs) > 0 {
		flush()
	}
}

// check runs every check of one block, cheap to expensive, and executes
// it into the in-memory state.
func (v *verifier) check(j *job) error {
	fail := func(check Check, entry int, err error) error {
		return &Failure{Lane: j.lane, Height: j.height, Entry: entry, Check: check, Err: err}
	}
	if j.loadErr != nil {
		// A header is rebuilt from its parent's and its anchor's records
		// too: the store names the block whose record is damaged.
		var re *store.BlockRecordError
		if errors.As(j.loadErr, &re) {
			return &Failure{Lane: re.Lane, Height: re.Height, Entry: -1, Check: CheckStored, Err: j.loadErr}
		}
		return fail(CheckStored, -1, j.loadErr)
	}
	b := j.block
	h := &b.Header
	// store.Block has decoded every record strictly (each entry and the
	// header through ValidateBasic), checked the entries against the
	// header's entries root over the stored bytes and the certificate's
	// block hash against the header. The rules every node applies follow:
	// link, anchor, validator set, proposer, certificate.
	if err := v.rules.Block(v, b); err != nil {
		if errors.Is(err, verify.ErrAnchorAhead) {
			err = fmt.Errorf("%w: %w", chain.ErrBadAnchor, err)
		}
		return fail(checkOf(err), -1, err)
	}
	v.sum.CertSignatures += uint64(len(b.Cert.Sigs))

	if j.sigErr != nil {
		return fail(CheckSignature, j.sigIndex, j.sigErr)
	}

	changes, entry, err := v.execute(b)
	if err != nil {
		return fail(CheckExecution, entry, err)
	}
	v.indexSum.Add(j.indexSum)
	v.mem.Apply(changes)
	if j.lane == chain.LaneData {
		if err := v.src.add(h.Height, h.Time, b.Readings); err != nil {
			return fail(CheckExecution, -1, err)
		}
		v.sum.Readings += uint64(len(b.Readings))
	} else {
		v.sum.Txs += uint64(len(b.Txs))
	}

	v.prev[j.lane] = h
	v.headers[j.lane].push(h)
	// Anchors of this lane never go back, so the other lane's blocks
	// below this anchor will not be named again.
	v.headers[j.lane.Other()].trim(h.Anchor.Height)
	return nil
}

// checkOf names the check of Verify that a verification error fails.
func checkOf(err error) Check {
	switch {
	case errors.Is(err, verify.ErrCertificate):
		return CheckCertificate
	case errors.Is(err, verify.ErrValidatorSet), errors.Is(err, verify.ErrProposer):
		return CheckValidators
	case errors.Is(err, chain.ErrBadAnchor):
		return CheckAnchor
	}
	return CheckLink
}

// execute re-executes b over the in-memory state, as state.VerifyDataBlock
// and state.VerifyTxBlock do, one entry at a time so that a failure names
// its entry (or -1 for the block as a whole).
func (v *verifier) execute(b *chain.Block) ([]state.Change, int, error) {
	h := &b.Header
	var changes []state.Change
	var root chain.Hash
	if h.Lane == chain.LaneData {
		bld, err := state.NewDataBuilder(v.mem, h)
		if err != nil {
			return nil, -1, err
		}
		for i, r := range b.Readings {
			if err := bld.Add(r); err != nil {
				return nil, i, err
			}
		}
		if changes, root, err = bld.Finish(); err != nil {
			return nil, -1, err
		}
	} else {
		// Settlement, if this block closes a period, runs here, counting
		// the verified readings up to the block's anchor.
		bld, err := state.NewTxBuilder(v.mem, v.src, v.g, h)
		if err != nil {
			return nil, -1, fmt.Errorf("opening the block (settlement included): %w", err)
		}
		for i, tx := range b.Txs {
			if err := bld.Add(tx); err != nil {
				return nil, i, err
			}
		}
		if changes, root, err = bld.Finish(); err != nil {
			return nil, -1, err
		}
	}
	if root != h.StateRoot {
		return nil, -1, fmt.Errorf("%w: the header commits state root %s, re-executing the block from genesis gives %s", state.ErrStateRootMismatch, h.StateRoot, root)
	}
	return changes, -1, nil
}

// finish compares the stored state with the re-executed one key by key and
// fills the summary's state figures.
func (v *verifier) finish() error {
	type kv struct{ k, v []byte }
	var mine []kv // in key order, as a Reader iterates
	if err := v.mem.Iterate(nil, func(k, val []byte) error {
		mine = append(mine, kv{k, val})
		return nil
	}); err != nil {
		return err
	}
	i := 0
	bad := func(k []byte, format string, args ...any) error {
		return &Failure{Entry: -1, StateKey: stateKeyName(k), Check: CheckState, Err: fmt.Errorf(format, args...)}
	}
	err := v.st.IterateState(nil, func(k, val []byte) error {
		if i < len(mine) && bytes.Compare(mine[i].k, k) < 0 {
			return bad(mine[i].k, "missing from the store; re-execution holds %d bytes there", len(mine[i].v))
		}
		if i == len(mine) || !bytes.Equal(mine[i].k, k) {
			return bad(k, "stored (%d bytes), but re-execution from genesis has no such entry", len(val))
		}
		if !bytes.Equal(mine[i].v, val) {
			return bad(k, "stored value %x differs from the re-executed %x", abbrev(val), abbrev(mine[i].v))
		}
		i++
		return nil
	})
	if err != nil {
		var f *Failure
		if errors.As(err, &f) {
			return f
		}
		return fmt.Errorf("reading the stored state: %w", err)
	}
	if i < len(mine) {
		return bad(mine[i].k, "missing from the store; re-execution holds %d bytes there", len(mine[i].v))
	}
	v.sum.StateKeys = uint64(len(mine))

	if err := v.checkIndexes(); err != nil {
		return err
	}

	history, err := state.ValidatorSetHistory(v.mem)
	if err != nil {
		return err
	}
	v.sum.ValidatorSets = len(history)
	last, ok, err := state.LastSettledPeriod(v.mem)
	if err != nil {
		return err
	}
	if ok {
		v.sum.SettledPeriods = last + 1
		for p := int64(0); p <= last; p++ {
			s, err := state.Settlements(v.mem, p)
			if err != nil {
				return err
			}
			v.sum.Settlements += uint64(len(s))
		}
	}
	return nil
}

// checkIndexes compares the store's index tables with the entries the
// verified blocks should have, by their sums (one sequential read of the
// tables). On a difference it looks the blocks' entries up one by one to
// name the first block whose entries are missing or point elsewhere, or
// else the table holding entries no block has.
func (v *verifier) checkIndexes() error {
	got, err := v.st.IndexSum()
	if err != nil {
		return err
	}
	if got == v.indexSum {
		return nil
	}
	for _, lane := range chain.Lanes {
		for h := uint64(1); h <= v.heads[lane]; h++ {
			b, err := v.st.Block(lane, h)
			if err != nil {
				return &Failure{Lane: lane, Height: h, Entry: -1, Check: CheckStored, Err: err}
			}
			if err := v.st.CheckBlockIndexes(b); err != nil {
				return &Failure{Lane: lane, Height: h, Entry: -1, Check: CheckIndex, Err: err}
			}
		}
	}
	counts, err := v.st.CountIndexes()
	if err != nil {
		return err
	}
	for _, c := range []struct {
		what      string
		got, want uint64
	}{
		{"block hash", counts.Blocks, v.sum.DataHeight + v.sum.TxHeight},
		{"reading seq", counts.ReadingSeqs, v.sum.Readings},
		{"reading time (late readings)", counts.ReadingTimes, counts.LateReadings},
		{"reading hash", counts.ReadingHashes, v.sum.Readings},
		{"tx hash", counts.Txs, v.sum.Txs},
		{"tx kind", counts.TxKinds, v.sum.Txs},
	} {
		if c.got != c.want {
			return &Failure{Entry: -1, Check: CheckIndex, Err: fmt.Errorf("%w: the %s index holds %d entries, the verified blocks have %d", store.ErrIndex, c.what, c.got, c.want)}
		}
	}
	return &Failure{Entry: -1, Check: CheckIndex, Err: fmt.Errorf("%w: the index tables hold %d entries whose digest differs from the verified blocks' %d", store.ErrIndex, got.N, v.indexSum.N)}
}

// abbrev keeps a value short in an error message.
func abbrev(b []byte) []byte {
	if len(b) > 48 {
		return b[:48]
	}
	return b
}
