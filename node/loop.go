package node

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/consensus"
)

// laneMessage is a consensus message received from a peer (or from this
// node's own gossip), already decoded and checked at the gossip door.
type laneMessage struct {
	lane chain.Lane
	msg  consensus.Message
	key  chain.Hash // consensusKey of msg; zero for none
}

// laneTimer is an engine timer that expired.
type laneTimer struct {
	lane chain.Lane
	t    consensus.Timer
}

// validation is the outcome of checking a proposed block's shape and entry
// signatures off the loop.
type validation struct {
	block *chain.Block
	hash  chain.Hash
	err   error
	// started is when the block came to be validated; parked marks a
	// validation that waited for its anchor (its time is not the block's
	// cost, see blockSizer).
	started time.Time
	parked  bool
}

// driver is the loop's state of one lane.
type driver struct {
	lane chain.Lane
	eng  *consensus.Engine
	wal  *consensus.FileWAL
	// next is the height the engine runs (running) or will run next.
	next    uint64
	running bool
	// executed holds blocks of height next that this node built or
	// validated, with their state changes, by hash.
	executed   map[chain.Hash]*executed
	validating map[chain.Hash]bool
	// parked holds proposals of height next whose stateless checks passed
	// but whose anchor this node has not committed yet; they are checked
	// again when the other lane commits (see finishValidation).
	parked map[chain.Hash]validation
	// due is the lane's schedule (quiet.go) for the heads in dueHeights
	// (tx, data); it changes only with a commit.
	due        blockDue
	dueHeights [2]uint64
	dueSet     bool
	// wait stretches the propose timer while proposals come late
	// (proposewait.go).
	wait proposeWait
	// relayed are this node's votes sent to a round's proposer
	// (voterelay.go).
	relayed relayed
}

func (d *driver) reset(next uint64) {
	d.next = next
	d.running = false
	d.executed = make(map[chain.Hash]*executed)
	d.validating = make(map[chain.Hash]bool)
	d.parked = make(map[chain.Hash]validation)
}

// startEngines opens each lane's WAL and engine. A node whose key is not a
// validator runs observer engines: they follow the votes and commit, and
// never sign.
func (n *Node) startEngines() error {
	timeouts := consensus.TimeoutsFromParams(&n.gen.Params)
	for _, lane := range chain.Lanes {
		d := &driver{lane: lane, relayed: make(relayed)}
		cfg := consensus.Config{
			ChainID:         n.chainID,
			Lane:            lane,
			ValidatorSetFor: func(h uint64) (*chain.ValidatorSet, error) { return n.validatorSet(lane, h) },
			Timeouts:        timeouts,
			Logger:          n.log,
		}
		if n.role == RoleValidator {
			dir := n.cfg.Storage.WALDir
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(n.opts.Home, dir)
			}
			wal, err := consensus.OpenWAL(filepath.Join(dir, lane.String()))
			if err != nil {
				return err
			}
			d.wal = wal
			cfg.Key = n.key
			cfg.WAL = wal
		}
		eng, err := consensus.NewEngine(cfg)
		if err != nil {
			return err
		}
		d.eng = eng
		d.reset(n.tipHeight(lane) + 1)
		n.drivers[lane] = d
	}
	return nil
}

func (n *Node) closeEngines() {
	for _, d := range n.drivers {
		if d != nil && d.wal != nil {
			d.wal.Close()
		}
	}
}

// loop owns the engines and the committed chain. See the package doc.
func (n *Node) loop() {
	defer n.wg.Done()
	defer close(n.loopDone)
	go n.writer.run(n.store)
	// And then stores how far the image index has got, so that a restart
	// reads no committed block again for it (images.Index).
	defer func() {
		if err := n.images.SaveIndexed(); err != nil {
			n.log.Warn("image index: saving the height reached", "err", err)
		}
	}()
	// A stopping node writes what it committed: a clean stop loses no
	// final block.
	defer n.writer.close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	// Lost gossip is sent again: a lane whose height has not moved for
	// rebroadcastEvery re-sends its engine's messages of that height.
	rebroadcast := time.NewTicker(rebroadcastEvery)
	defer rebroadcast.Stop()
	regossip := time.NewTicker(regossipEvery)
	defer regossip.Stop()
	lastSeen := map[chain.Lane]uint64{}
	for _, d := range n.drivers {
		n.maybeStart(d, false)
	}
	n.drain()
	for {
		select {
		case <-n.ctx.Done():
			return
		case m := <-n.msgCh:
			d := n.drivers[m.lane]
			if !d.running && m.msg.Height() == d.next {
				n.maybeStart(d, true)
			}
			n.stepConsensus(d, m)
			if p := m.msg.Proposal; p != nil && d.eng.Holds(m.msg) {
				d.wait.proposalArrived(p.Height, p.Round, time.Now())
			}
		case v := <-n.relayCh:
			n.relayFallback(v)
		case t := <-n.timerCh:
			if err := n.drivers[t.lane].eng.Timeout(t.t); err != nil {
				n.log.Debug("timeout refused", "lane", t.lane, "err", err)
			}
		case v := <-n.validCh:
			n.finishValidation(v)
		case <-n.kickCh:
			for _, d := range n.drivers {
				n.maybeStart(d, false)
			}
		case <-tick.C:
			for _, d := range n.drivers {
				n.maybeStart(d, false)
			}
		case <-rebroadcast.C:
			for lane, d := range n.drivers {
				if d.running && lastSeen[lane] == d.next {
					d.eng.Rebroadcast()
				}
				lastSeen[lane] = d.next
			}
		case <-regossip.C:
			n.regossipStale()
		case r := <-n.writer.results:
			n.written(r)
		case sb := <-n.syncCh:
			// A sync batch starts from the store's heads.
			if err := n.flushWrites(); err != nil {
				sb.done <- err
				break
			}
			sb.done <- n.applySync(sb.blocks, sb.hashes)
		case ev := <-n.evidenceCh:
			n.submitEvidence(ev)
		}
		n.drain()
		if n.ctx.Err() != nil {
			return
		}
	}
}

// kick wakes the loop: new entries may let a lane start its next height.
func (n *Node) kick() {
	select {
	case n.kickCh <- struct{}{}:
	default:
	}
}

// maybeStart starts the lane's next height when there is a reason to: its
// entries are waiting, its schedule says a block is due (a settlement
// boundary passed, or the idle interval since its last block; see
// quiet.go), or (force) a peer already works on that height. Waiting for a
// reason keeps an idle lane quiet.
func (n *Node) maybeStart(d *driver, force bool) {
	if d.running {
		return
	}
	if !force {
		waiting := n.readings.Len()
		if d.lane == chain.LaneTx {
			waiting = n.txs.Len()
		}
		if d.lane == chain.LaneData {
			// Those of blocks not written yet are final already.
			waiting -= n.writer.queuedReadings
		}
		if waiting <= 0 {
			due, err := n.laneDue(d)
			if err != nil {
				n.stop(err)
				return
			}
			if chain.TimeOf(n.now()) < due.at {
				return
			}
			n.log.Debug("idle lane starts its next height", "lane", d.lane, "height", d.next, "due", due.at, "why", due.why)
		}
	}
	if err := d.eng.Start(d.next); err != nil {
		n.stop(fmt.Errorf("consensus %s: start height %d: %w", d.lane, d.next, err))
		return
	}
	d.running = true
	n.rounds[d.lane].Store(0)
	n.engineSet[d.lane].Store(&engineAt{height: d.next, vs: d.eng.ValidatorSet()})
}

// engineAt is the height a lane's engine runs and its validator set.
type engineAt struct {
	height uint64
	vs     *chain.ValidatorSet
}

// laneDue is the lane's schedule, computed again only after a commit.
func (n *Node) laneDue(d *driver) (blockDue, error) {
	heights := [2]uint64{n.tipHeight(chain.LaneTx), n.tipHeight(chain.LaneData)}
	if d.dueSet && d.dueHeights == heights {
		return d.due, nil
	}
	due, err := n.schedule(d.lane)
	if err != nil {
		return blockDue{}, err
	}
	d.due, d.dueHeights, d.dueSet = due, heights, true
	return due, nil
}

// drain handles every engine output until none is left.
func (n *Node) drain() {
	for progress := true; progress; {
		progress = false
		for _, d := range n.drivers {
			if n.ctx.Err() != nil {
				return
			}
			n.takeWritten()
			if !d.eng.HasReady() {
				continue
			}
			progress = true
			n.handleReady(d, d.eng.Ready())
			if err := d.eng.Halted(); err != nil {
				n.stop(fmt.Errorf("consensus %s halted: %w", d.lane, err))
				return
			}
		}
	}
}

func (n *Node) handleReady(d *driver, r consensus.Ready) {
	for _, m := range r.Messages {
		n.broadcastConsensus(d.lane, m)
	}
	for _, t := range r.Timers {
		lane, t := d.lane, t
		wait := t.Duration
		if t.Kind == consensus.TimeoutPropose {
			d.wait.roundStarted(t.Height, t.Round, time.Now())
			wait = d.wait.timeout(t.Duration)
		}
		time.AfterFunc(wait, func() {
			select {
			case n.timerCh <- laneTimer{lane, t}:
			case <-n.ctx.Done():
			}
		})
	}
	for _, b := range r.Validate {
		n.startValidation(d, b)
	}
	if p := r.Propose; p != nil {
		n.propose(d, p)
	}
	for _, ev := range r.Evidence {
		n.log.Warn("equivocation seen", "offender", ev.Offender().Short())
		n.metrics.evidence.Inc()
		n.publishEvidence(ev)
		n.submitEvidence(ev)
	}
	if b := r.Commit; b != nil {
		n.commitDecided(d, b)
	}
	n.rounds[d.lane].Store(d.eng.Round())
	n.metrics.round.WithLabelValues(d.lane.String()).Set(float64(d.eng.Round()))
}

func (n *Node) propose(d *driver, p *consensus.ProposeRequest) {
	n.takeWritten()
	start := time.Now()
	ex, err := n.buildBlock(d.lane, p.Height)
	if err != nil {
		// Not proposing costs one round timeout; the next validator
		// proposes.
		n.log.Warn("cannot build a block to propose", "lane", d.lane, "height", p.Height, "round", p.Round, "err", err)
		return
	}
	hash := ex.block.Hash()
	if d.lane == chain.LaneData {
		took := time.Since(start)
		n.sizer.observeBuild(len(ex.block.Readings), took)
		n.log.Debug("proposal built", "lane", d.lane, "height", p.Height, "round", p.Round, "readings", len(ex.block.Readings), "took", took)
	}
	d.executed[hash] = ex
	if err := d.eng.Propose(ex.block); err != nil {
		n.log.Warn("proposal refused by the engine", "lane", d.lane, "height", p.Height, "err", err)
	}
}

// startValidation checks a proposed block: shape and signatures off the
// loop, then header and state on the loop (finishValidation).
func (n *Node) startValidation(d *driver, b *chain.Block) {
	hash := b.Hash()
	if _, ok := d.executed[hash]; ok {
		_ = d.eng.BlockValidated(hash, true)
		return
	}
	if d.validating[hash] {
		return
	}
	d.validating[hash] = true
	started := time.Now()
	n.wg.Add(1)
	go func() {
		// The stateless checks (entries root of up to thousands of
		// entries, then their signatures) run off the loop.
		defer n.wg.Done()
		err := n.checkStateless(b)
		select {
		case n.validCh <- validation{block: b, hash: hash, err: err, started: started}:
		case <-n.ctx.Done():
		}
	}()
}

// retryParked checks again the proposals of lane that waited for an anchor,
// after the other lane committed a block.
func (n *Node) retryParked(lane chain.Lane) {
	d := n.drivers[lane]
	if d == nil || len(d.parked) == 0 {
		return
	}
	parked := d.parked
	d.parked = make(map[chain.Hash]validation)
	for _, v := range parked {
		v.parked = true
		n.finishValidation(v)
	}
}

func (n *Node) finishValidation(v validation) {
	d := n.drivers[v.block.Header.Lane]
	delete(d.validating, v.hash)
	if v.block.Header.Height != d.next {
		return // the height moved on meanwhile
	}
	err := v.err
	var ex *executed
	if err == nil {
		ex, err = n.validateProposal(v.block)
	}
	if errors.Is(err, errAnchorAhead) {
		// The proposer has committed the anchor and this node is about to:
		// a quorum certified it, so its commit here is a matter of
		// milliseconds. Answering "invalid" now would vote nil and cost a
		// round; the block is checked again when the anchor commits (the
		// engine's timeouts still bound the wait).
		n.log.Debug("proposal waits for its anchor", "lane", d.lane, "height", v.block.Header.Height, "block", v.hash.Short(), "err", err)
		d.parked[v.hash] = v
		return
	}
	if err != nil {
		n.log.Info("proposed block is invalid; voting nil", "lane", d.lane, "height", v.block.Header.Height,
			"block", v.hash.Short(), "err", err)
		n.metrics.invalidProposals.Inc()
		_ = d.eng.BlockValidated(v.hash, false)
		return
	}
	if d.lane == chain.LaneData && !v.parked {
		took := time.Since(v.started)
		n.sizer.observeValidation(len(v.block.Readings), took)
		n.log.Debug("proposal validated", "lane", d.lane, "height", v.block.Header.Height, "readings", len(v.block.Readings), "took", took)
	}
	d.executed[v.hash] = ex
	_ = d.eng.BlockValidated(v.hash, true)
}

// commitDecided stores the block the engine decided, executing it first if
// this node has not (it may have seen the precommits before the proposal
// was validated). A certified block that does not execute to its state root
// here means this node's state differs from the network's: it stops.
func (n *Node) commitDecided(d *driver, b *chain.Block) {
	hash := b.Hash()
	if b.Header.Height < d.next {
		// Block sync committed this height while the engine was still
		// deciding it. The same block is nothing to do; another one is a
		// fork, which a node must never follow.
		stored, err := committedChain{n}.Header(d.lane, b.Header.Height)
		if err != nil {
			n.stop(fmt.Errorf("consensus decided %s/%d %s, but this node committed nothing there: %w", d.lane, b.Header.Height, hash.Short(), err))
		} else if stored.Hash() != hash {
			n.stop(fmt.Errorf("consensus decided %s/%d %s, but this node committed %s there", d.lane, b.Header.Height, hash.Short(), stored.Hash().Short()))
		}
		return
	}
	ex, ok := d.executed[hash]
	if !ok {
		if err := n.verifyEntrySignatures(b); err != nil {
			n.stop(fmt.Errorf("finalized block %s/%d %s has a bad entry signature: %w", d.lane, b.Header.Height, hash.Short(), err))
			return
		}
		if err := n.checkHeader(b); err != nil {
			n.stop(fmt.Errorf("finalized block %s/%d %s does not follow this node's chain: %w", d.lane, b.Header.Height, hash.Short(), err))
			return
		}
		var err error
		if ex, err = n.execute(b); err != nil {
			n.stop(fmt.Errorf("finalized block %s/%d %s does not execute here (this node's state differs from the network's; restore it from a peer): %w", d.lane, b.Header.Height, hash.Short(), err))
			return
		}
	}
	ex = &executed{block: b, changes: ex.changes} // b carries the certificate
	if err := n.commit(ex); err != nil {
		n.stop(err)
		return
	}
	d.reset(b.Header.Height + 1)
	n.maybeStart(d, false)
}

// rebroadcastEvery is how long a lane may stay at one height before its
// engine's messages are sent again.
const rebroadcastEvery = 2 * time.Second
