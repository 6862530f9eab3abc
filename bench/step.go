package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// stepState is one step's readings and their times. Readings are ordered
// round-robin over the meters: reading k is meter k mod D's reading number
// k / D of the step.
type stepState struct {
	readings []*chain.Reading
	// encoded[k] is readings[k]'s JSON, for HTTP submission; nil in
	// process.
	encoded  [][]byte
	firstSeq []uint64 // per meter: the sequence number of its first reading
	t0       time.Time
	// submitAt[k] is when reading k was first sent (handed to
	// SubmitReadings or POSTed), in ns since t0; acceptAt[k] when the
	// request that got it accepted was sent (later than submitAt[k] for
	// a reading refused as overload and sent again). Written by the
	// submitters, read after they finish.
	submitAt []int64
	acceptAt []int64
	// answerAt[k] is when the answer that accepted reading k came back:
	// the reading was in its validator's mempool by then.
	answerAt []int64
	rejected []bool // likewise
	// The fields below belong to the tracker (under its mutex).
	finalAt []int64 // ns since t0; 0 while not final
	// builtAt[k] is the time in the header of the block that finalized
	// reading k (when its proposer built it, by that node's clock, to the
	// millisecond), in ns since t0.
	builtAt   []int64
	finalized int
	blocks    int
	maxBlock  int
	lateRound int // blocks finalized in a round above 0
}

// index finds reading r among the step's readings.
func (st *stepState) index(meter int, r readingID) (int, bool) {
	d := len(st.firstSeq)
	if r.Seq < st.firstSeq[meter] {
		return 0, false
	}
	k := int(r.Seq-st.firstSeq[meter])*d + meter
	if k >= len(st.readings) || st.readings[k].Seq != r.Seq || st.readings[k].Device != r.Device {
		return 0, false
	}
	return k, true
}

// sign makes and signs the next n readings, round-robin over the meters,
// timed from now at rate per second (each meter's times strictly rising),
// and with nw.encode encodes each as JSON.
func (nw *network) sign(n, rate int) *stepState {
	d := len(nw.meters)
	st := &stepState{
		readings: make([]*chain.Reading, n), firstSeq: make([]uint64, d),
		submitAt: make([]int64, n), acceptAt: make([]int64, n), answerAt: make([]int64, n), rejected: make([]bool, n),
		finalAt: make([]int64, n), builtAt: make([]int64, n),
	}
	if nw.encode {
		st.encoded = make([][]byte, n)
	}
	base := chain.TimeOf(time.Now())
	for m := range d {
		st.firstSeq[m] = nw.lastSeq[m] + 1
		base = max(base, nw.lastTime[m]+1)
	}
	for k := range n {
		m := k % d
		nw.lastSeq[m]++
		t := max(base+chain.Time(int64(k)*1000/int64(rate)), nw.lastTime[m]+1)
		nw.lastTime[m] = t
		seq := nw.lastSeq[m]
		st.readings[k] = &chain.Reading{
			Device: nw.meters[m].Public(), Seq: seq, Time: t,
			FlowRate: 12_000_000 + int64(seq%7)*1000, Volume: 3_000_000, VolumeTotal: int64(seq) * 3_000_000,
			Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 450,
		}
	}
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := start; k < end; k++ {
				st.readings[k].Sign(nw.chainID, nw.meters[k%d])
				if st.encoded != nil {
					// A signed reading always encodes.
					st.encoded[k], _ = json.Marshal(st.readings[k])
				}
			}
		}()
	}
	wg.Wait()
	return st
}

// runStepWith runs a step with o's Duration (the warmup's for a warmup)
// and hands its figures, when it has them, to record before returning
// them; ofPeak is the multiple of the peak it offers, 0 for none.
func (nw *network) runStepWith(ctx context.Context, tr *tracker, o Options, label string, rate int, ofPeak float64, record func(*Step)) (*Step, error) {
	st, err := nw.runStep(ctx, tr, o, label, rate)
	if st != nil {
		st.OfPeak = ofPeak
		record(st)
	}
	return st, err
}

// gatewayOf deals each of v validators' meters among its g gateways in
// turn (meterNode: each meter's validator), and returns the gateway of each
// meter as an index into the validator-major list of v·g gateways, where
// gateway j sends to validator j/g.
func gatewayOf(meterNode []int, v, g int) []int {
	dealt := make([]int, v)
	out := make([]int, len(meterNode))
	for m, i := range meterNode {
		out[m] = i*g + dealt[i]%g
		dealt[i]++
	}
	return out
}

// runStep signs the step's readings, submits them at rate for
// o.Duration, waits for them to be final and returns the figures.
func (nw *network) runStep(ctx context.Context, tr *tracker, o Options, label string, rate int) (*Step, error) {
	n := stepReadings(rate, o.Duration)
	signStart := time.Now()
	st := nw.sign(n, rate)
	res := &Step{Label: label, OfferedPerS: rate, SignSeconds: time.Since(signStart).Seconds()}
	// Signing made garbage; collect it before the clock starts.
	runtime.GC()

	v := o.Validators
	meterGateway := gatewayOf(nw.meterNode, v, o.Gateways)
	jobs := make([]chan []int, v*o.Gateways)
	gateways := make([]*gateway, v*o.Gateways)
	giveUp := make(chan struct{})
	var wg sync.WaitGroup
	cpuBefore, selfBefore := nw.cl.nodeCPU(), selfCPUOrZero()
	st.t0 = time.Now()
	var sampler *nodeSampler
	if o.TimelineFile != "" {
		sampler = startSampler(nw.cl, st.t0)
		defer sampler.close()
	}
	if p, ok := nw.cl.(*processes); ok && o.NodeStepProfiles {
		wait := p.profileStep(ctx, o.Duration, o.NodeCPUProfileDir, fmt.Sprintf("%s-%d", label, rate))
		// A profile lost is reported, not a failed step.
		defer func() {
			if err := wait(); err != nil && o.Progress != nil {
				o.Progress(Event{Message: err.Error()})
			}
		}()
	}
	tr.begin(st)
	defer tr.end()
	for i := range gateways {
		jobs[i] = make(chan []int, 16)
		gateways[i] = &gateway{node: i / o.Gateways, cl: nw.cl, st: st, retry: !o.NoRetry}
		wg.Add(1)
		go func(g *gateway, jobs <-chan []int) {
			defer wg.Done()
			g.run(ctx, jobs, giveUp)
		}(gateways[i], jobs[i])
	}
	tick := time.NewTicker(o.Tick)
	sent := 0
	var stopErr error
	for sent < n && stopErr == nil {
		select {
		case <-ctx.Done():
			stopErr = ctx.Err()
			continue
		case <-tick.C:
		}
		due := min(n, int(float64(rate)*time.Since(st.t0).Seconds()))
		if due <= sent {
			continue
		}
		batches := make([][]int, len(gateways))
		for k := sent; k < due; k++ {
			// Meter m always goes through the same gateway to the
			// validator of its industry.
			i := meterGateway[k%len(nw.meters)]
			batches[i] = append(batches[i], k)
		}
		for i, b := range batches {
			if len(b) > 0 {
				jobs[i] <- b
			}
		}
		sent = due
	}
	tick.Stop()
	for _, c := range jobs {
		close(c)
	}
	// Readings refused as overload are retried for at most the drain.
	giveUpTimer := time.AfterFunc(o.Drain, func() { close(giveUp) })
	wg.Wait()
	giveUpTimer.Stop()
	submitEnd := time.Since(st.t0)
	if stopErr != nil {
		return nil, stopErr
	}
	rejected := 0
	for _, r := range st.rejected {
		if r {
			rejected++
		}
	}
	res.Submitted, res.Rejected = n-rejected, rejected
	var firstErrAt time.Time
	for _, g := range gateways {
		res.RefusedAnswers += g.refusedAnswers
		res.Retried += g.retried
		if g.firstErr != nil && (firstErrAt.IsZero() || g.firstErrAt.Before(firstErrAt)) {
			res.FirstError, firstErrAt = g.firstErr.Error(), g.firstErrAt
		}
	}
	res.SubmittedPerS = float64(n) / submitEnd.Seconds()
	res.AcceptedPerS = float64(res.Submitted) / submitEnd.Seconds()

	if err := tr.waitFinalized(ctx, res.Submitted, o.Drain, nw.cl.stopped); err != nil {
		return nil, err
	}
	if cpu := nw.cl.nodeCPU(); cpu != nil && len(cpuBefore) == len(cpu) {
		res.NodeCPUSeconds = make([]float64, len(cpu))
		for i := range cpu {
			res.NodeCPUSeconds[i] = round2(cpu[i] - cpuBefore[i])
		}
	}
	res.BenchCPUSeconds = round2(selfCPUOrZero() - selfBefore)
	tr.mu.Lock()
	if tr.err != nil {
		tr.mu.Unlock()
		return nil, tr.err
	}
	res.Finalized, res.Blocks, res.MaxBlock, res.LateRounds = st.finalized, st.blocks, st.maxBlock, st.lateRound
	// Latency from the first request (what a meter waits, retries
	// included) and from the request that got the reading accepted (what
	// the node's admission promises).
	lat := make([]float64, 0, st.finalized)
	latAccepted := make([]float64, 0, st.finalized)
	var split latencySplit
	var last int64
	// A meter with an accepted reading not final may have had it skipped.
	var unsettled []int
	seen := make(map[int]bool)
	for k, f := range st.finalAt {
		if st.rejected[k] {
			continue
		}
		if f == 0 {
			if m := k % len(nw.meters); !seen[m] {
				seen[m] = true
				unsettled = append(unsettled, m)
			}
			continue
		}
		last = max(last, f)
		lat = append(lat, float64(f-st.submitAt[k])/float64(time.Millisecond))
		latAccepted = append(latAccepted, float64(f-st.acceptAt[k])/float64(time.Millisecond))
		split.add(st, k)
	}
	if last > 0 {
		res.FinalizedPerS = float64(len(lat)) / time.Duration(last).Seconds()
	}
	tr.mu.Unlock()
	res.LatencyP50Ms, res.LatencyP99Ms, res.LatencyMaxMs = percentile(lat, 0.50), percentile(lat, 0.99), percentile(lat, 1)
	res.AcceptedP50Ms, res.AcceptedP99Ms, res.AcceptedMaxMs = percentile(latAccepted, 0.50), percentile(latAccepted, 0.99), percentile(latAccepted, 1)
	res.AcceptedSplit = split.figures()
	if o.TimelineFile != "" {
		var refusedAt, resentAt []int64
		for _, g := range gateways {
			refusedAt = append(refusedAt, g.refusedAt...)
			resentAt = append(resentAt, g.resentAt...)
		}
		if err := writeTimeline(o.TimelineFile, label, rate, st, refusedAt, resentAt, sampler); err != nil {
			return nil, fmt.Errorf("bench: writing the timeline: %w", err)
		}
	}
	res.Skipped = nw.skipped(ctx, unsettled)
	return res, nil
}

// latencySplit divides each accepted reading's latency from acceptance
// into its request (sent to answered), its wait for a block (answered
// to the time in the header of the block that took it, when its
// proposer built it) and that block's way to final (built to
// validator-1's block event), to show where the tail's time goes.
type latencySplit struct {
	total, request, queue, block []float64 // ms, by reading
}

func (s *latencySplit) add(st *stepState, k int) {
	if st.answerAt == nil || st.answerAt[k] == 0 || st.builtAt == nil {
		return
	}
	ms := func(d int64) float64 { return float64(d) / float64(time.Millisecond) }
	s.total = append(s.total, ms(st.finalAt[k]-st.acceptAt[k]))
	s.request = append(s.request, ms(st.answerAt[k]-st.acceptAt[k]))
	s.queue = append(s.queue, ms(st.builtAt[k]-st.answerAt[k]))
	s.block = append(s.block, ms(st.finalAt[k]-st.builtAt[k]))
}

// figures are the parts' medians, and their means over the slowest 1%
// of the readings (at least one: the tail), nil for none.
func (s *latencySplit) figures() *LatencySplit {
	if len(s.total) == 0 {
		return nil
	}
	order := make([]int, len(s.total))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(s.total[a], s.total[b]) })
	tail := order[len(order)-max(len(order)/100, 1):]
	out := &LatencySplit{}
	n := len(tail)
	for _, i := range tail {
		out.TailRequestMs += s.request[i]
		out.TailQueueMs += s.queue[i]
		out.TailBlockMs += s.block[i]
	}
	out.TailRequestMs = math.Round(out.TailRequestMs / float64(n))
	out.TailQueueMs = math.Round(out.TailQueueMs / float64(n))
	out.TailBlockMs = math.Round(out.TailBlockMs / float64(n))
	out.RequestP50Ms, out.QueueP50Ms, out.BlockP50Ms = percentile(s.request, 0.5), percentile(s.queue, 0.5), percentile(s.block, 0.5)
	return out
}

// skipped is how many more readings validator-1 records as missing for
// meters (indices) than when last asked: sequence numbers passed over
// when a later reading of the meter was finalized first. Only meters with
// a reading not final are asked, so a step the network keeps up with
// costs no requests (over HTTP, asking all 16,000 meters of 16 validators
// took minutes on a loaded machine).
func (nw *network) skipped(ctx context.Context, meters []int) int {
	if len(meters) == 0 {
		return 0
	}
	keys := make([]chain.PubKey, len(meters))
	for i, m := range meters {
		keys[i] = nw.meters[m].Public()
	}
	total := 0
	for i, got := range nw.cl.missing(ctx, keys) {
		m := meters[i]
		if got >= 0 && uint64(got) > nw.missingSeen[m] {
			total += int(uint64(got) - nw.missingSeen[m])
			nw.missingSeen[m] = uint64(got)
		}
	}
	return total
}

// selfCPUOrZero is this process's CPU seconds, 0 where unknown.
func selfCPUOrZero() float64 {
	s, _ := selfCPU()
	return s
}

// round2 rounds to hundredths, the precision of /proc's clock ticks.
func round2(x float64) float64 { return math.Round(x*100) / 100 }

// percentile returns the q-quantile (0 < q <= 1) of xs by the nearest-rank
// method, 0 for none. It sorts xs.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	rank := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[min(max(rank, 0), len(xs)-1)]
}

// tracker follows validator-1's finalized data blocks and stamps the
// current step's readings with the time their block became final.
type tracker struct {
	feed     chainFeed
	devIndex map[chain.PubKey]int
	changed  chan struct{} // signalled when the step's finalized count grows
	done     chan struct{}

	mu   sync.Mutex // guards step, err and the step's tracker fields
	step *stepState
	err  error
}

// newTracker follows feed from data height seen.
func newTracker(feed chainFeed, seen uint64, devIndex map[chain.PubKey]int) *tracker {
	t := &tracker{feed: feed, devIndex: devIndex, changed: make(chan struct{}, 1), done: make(chan struct{})}
	go t.run(seen)
	return t
}

// run reads block events. It loads every data block above the last one
// seen, so an event lost by a slow subscription loses no block.
func (t *tracker) run(seen uint64) {
	defer close(t.done)
	for ev := range t.feed.events() {
		for h := seen + 1; h <= ev.height; h++ {
			b, err := t.feed.block(h)
			if err != nil {
				t.fail(fmt.Errorf("bench: reading finalized block data/%d: %w", h, err))
				continue
			}
			t.account(b, ev.at)
		}
		seen = max(seen, ev.height)
	}
	if err := t.feed.err(); err != nil {
		t.fail(err)
	}
}

func (t *tracker) fail(err error) {
	t.mu.Lock()
	if t.err == nil {
		t.err = err
	}
	t.mu.Unlock()
}

func (t *tracker) account(b finalBlock, now time.Time) {
	t.mu.Lock()
	st := t.step
	if st == nil {
		t.mu.Unlock()
		return
	}
	at := max(int64(now.Sub(st.t0)), 1)
	grew := 0
	for _, r := range b.readings {
		m, ok := t.devIndex[r.Device]
		if !ok {
			continue
		}
		if k, ok := st.index(m, r); ok && st.finalAt[k] == 0 {
			st.finalAt[k] = at
			st.builtAt[k] = int64(b.built.Sub(st.t0))
			grew++
		}
	}
	st.blocks++
	if b.round > 0 {
		st.lateRound++
	}
	st.maxBlock = max(st.maxBlock, len(b.readings))
	st.finalized += grew
	t.mu.Unlock()
	if grew > 0 {
		select {
		case t.changed <- struct{}{}:
		default:
		}
	}
}

func (t *tracker) begin(st *stepState) {
	t.mu.Lock()
	t.step = st
	t.mu.Unlock()
}

func (t *tracker) end() {
	t.mu.Lock()
	t.step = nil
	t.mu.Unlock()
}

// waitFinalized waits until the step has want readings final, or for
// drain, or until stopped reports a node that stopped or the feed fails.
func (t *tracker) waitFinalized(ctx context.Context, want int, drain time.Duration, stopped func() error) error {
	deadline := time.NewTimer(drain)
	defer deadline.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		if err := stopped(); err != nil {
			return err
		}
		t.mu.Lock()
		got, err := t.step.finalized, t.err
		t.mu.Unlock()
		if err != nil {
			return err
		}
		if got >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return nil
		case <-t.changed:
		case <-poll.C:
		}
	}
}

func (t *tracker) close() {
	t.feed.close()
	<-t.done
}
