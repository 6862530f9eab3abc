package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
)

// historyProc is a node running as a `waterchain run` process.
type historyProc struct {
	name string
	api  string // http://127.0.0.1:PORT
	log  string // its stderr and stdout
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit, once done
}

var historyClient = &http.Client{Timeout: 3 * time.Second}

// start runs node i of the network as a process.
func (hn *historyNet) start(i int) (*historyProc, error) {
	n := hn.nw.Nodes[i]
	logDir := filepath.Join(hn.nw.Dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	p := &historyProc{name: n.Name, api: n.API, log: filepath.Join(logDir, n.Name+".log"), done: make(chan struct{})}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	args := []string{"run", "--home", n.Home, "--log-level", "warn"}
	if auditor := i == len(hn.nw.Nodes)-1; auditor {
		if hn.o.CatchupCPUProfile != "" {
			args = append(args, "--cpuprofile", hn.o.CatchupCPUProfile)
		}
		if hn.o.CatchupTrace != "" {
			args = append(args, "--trace", hn.o.CatchupTrace)
		}
	}
	p.cmd = exec.Command(hn.o.Binary, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	setHistoryDeathSignal(p.cmd)
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", n.Name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	hn.procs[i] = p
	return p, nil
}

// stop ends node i's process: SIGTERM, then SIGKILL after a while.
func (hn *historyNet) stop(i int) error {
	p := hn.procs[i]
	if p == nil {
		return nil
	}
	hn.procs[i] = nil
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", p.name)
	}
}

func (hn *historyNet) stopAll() {
	var wg sync.WaitGroup
	for i := range hn.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = hn.stop(i)
		}()
	}
	wg.Wait()
}

// exited says why p stopped, with the end of its log.
func (p *historyProc) exited() error {
	tail, _ := os.ReadFile(p.log)
	if len(tail) > 2000 {
		tail = tail[len(tail)-2000:]
	}
	return fmt.Errorf("%s exited (%v); end of %s:\n%s", p.name, p.err, p.log, tail)
}

func historyGetJSON(ctx context.Context, url string, v any) error {
	return getJSON(ctx, historyClient, url, v)
}

func (p *historyProc) status(ctx context.Context) (api.Status, error) {
	var st api.Status
	err := historyGetJSON(ctx, p.api+"/v1/status", &st)
	return st, err
}

// errHistoryPollTimeout is returned (wrapped) by poll when the wait times out.
var errHistoryPollTimeout = errors.New("timed out")

// poll calls check every interval until it returns true or an error, p
// exits, or timeout passes.
func (p *historyProc) poll(ctx context.Context, interval, timeout time.Duration, what string, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := check()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s: not %s after %s (log: %s)", errHistoryPollTimeout, p.name, what, timeout, p.log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return p.exited()
		case <-time.After(interval):
		}
	}
}

// waitAPI waits until p's /v1/status answers and returns the answer.
func (p *historyProc) waitAPI(ctx context.Context, timeout time.Duration) (api.Status, error) {
	var st api.Status
	err := p.poll(ctx, 20*time.Millisecond, timeout, "answering /v1/status", func() (bool, error) {
		var err error
		st, err = p.status(ctx)
		return err == nil, nil
	})
	return st, err
}

// waitVote waits until p has a data block above height from whose
// certificate (as p stored it) carries p's own precommit (key).
func (p *historyProc) waitVote(ctx context.Context, key chain.PubKey, from uint64, timeout time.Duration) error {
	checked := from
	return p.poll(ctx, 50*time.Millisecond, timeout, "voting", func() (bool, error) {
		st, err := p.status(ctx)
		if err != nil {
			return false, nil
		}
		for h := checked + 1; h <= st.Lanes[chain.LaneData.String()].Height; h++ {
			var b chain.Block
			if err := historyGetJSON(ctx, p.api+"/v1/blocks/data/"+strconv.FormatUint(h, 10), &b); err != nil {
				return false, nil
			}
			checked = h
			if b.Cert == nil {
				continue
			}
			for _, s := range b.Cert.Sigs {
				if s.Validator == key {
					return true, nil
				}
			}
		}
		return false, nil
	})
}

// historyFeeder submits a reading of the first meter every
// historyFeedInterval to a running validator, so that the data lane makes
// blocks whatever the idle policy: a restarted validator then has a block
// to vote on.
type historyFeeder struct {
	hn    *historyNet
	mu    sync.Mutex // guards avoid
	avoid int        // the node not to submit to (restarting)
	stopc chan struct{}
	done  chan struct{}
}

const historyFeedInterval = 100 * time.Millisecond

func (hn *historyNet) startFeeder(ctx context.Context) *historyFeeder {
	f := &historyFeeder{hn: hn, avoid: -1, stopc: make(chan struct{}), done: make(chan struct{})}
	go f.run(ctx)
	return f
}

func (f *historyFeeder) setAvoid(i int) {
	f.mu.Lock()
	f.avoid = i
	f.mu.Unlock()
}

func (f *historyFeeder) stop() {
	close(f.stopc)
	<-f.done
}

func (f *historyFeeder) run(ctx context.Context) {
	defer close(f.done)
	hn := f.hn
	key := hn.meters[0]
	seq := hn.lastSeq[0] + 1
	next := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.stopc:
			return
		case <-time.After(historyFeedInterval):
		}
		f.mu.Lock()
		avoid := f.avoid
		f.mu.Unlock()
		// The next running validator other than avoid.
		var p *historyProc
		for k := range hn.o.Validators {
			i := (next + k) % hn.o.Validators
			if i != avoid && hn.procs[i] != nil {
				p, next = hn.procs[i], i+1
				break
			}
		}
		if p == nil {
			continue
		}
		r := &chain.Reading{Device: key.Public(), Seq: seq, Time: chain.TimeOf(time.Now()),
			FlowRate: 3_600_000, Volume: 60_000, VolumeTotal: int64(seq) * 60_000,
			Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 300}
		r.Sign(hn.nw.Genesis.ChainID, key)
		if historyPostReading(ctx, p.api, r) {
			// The same seq again on failure: a gap would hold the reading
			// back (seqGapWait) and the blocks with it.
			seq++
		}
	}
}

// historyPostReading submits r and says whether it is in (accepted now or before).
func historyPostReading(ctx context.Context, base string, r *chain.Reading) bool {
	body, err := json.Marshal([]*chain.Reading{r})
	if err != nil {
		return false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/readings", bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := historyClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 == 2 {
		return true
	}
	var e api.Error
	_ = json.Unmarshal(raw, &e)
	return e.Code == api.CodeDuplicate || e.Code == api.CodeReplayed
}

// measureStarts starts every validator on the history (the first start:
// validator-1's figures), then stops the last one and starts it again (the
// restart), with readings flowing.
func (hn *historyNet) measureStarts(ctx context.Context, o HistoryOptions, res *HistoryResult, say func(string, ...any)) error {
	start := time.Now()
	for i := range o.Validators {
		if _, err := hn.start(i); err != nil {
			return err
		}
	}
	v1 := hn.procs[0]
	st, err := v1.waitAPI(ctx, o.StartTimeout)
	if err != nil {
		return fmt.Errorf("first start: %w", err)
	}
	res.FirstStartAPIS = historySince(start)
	for i := 1; i < o.Validators; i++ {
		if _, err := hn.procs[i].waitAPI(ctx, o.StartTimeout); err != nil {
			return fmt.Errorf("first start: %w", err)
		}
	}
	f := hn.startFeeder(ctx)
	defer f.stop()
	if err := v1.waitVote(ctx, hn.nodeKeys[0].Public(), st.Lanes[chain.LaneData.String()].Height, o.StartTimeout); err != nil {
		return fmt.Errorf("first start: %w", err)
	}
	res.FirstStartVoteS = historySince(start)
	say("first start of %d validators on the history: validator-1's API after %.2fs, its first vote after %.2fs", o.Validators, res.FirstStartAPIS, res.FirstStartVoteS)
	// Every validator votes before one restarts, so that the one that
	// restarts has written its checkpoints as a running node does.
	for i := 1; i < o.Validators; i++ {
		st, err := hn.procs[i].status(ctx)
		if err != nil {
			return err
		}
		if err := hn.procs[i].waitVote(ctx, hn.nodeKeys[i].Public(), st.Lanes[chain.LaneData.String()].Height, o.StartTimeout); err != nil {
			return fmt.Errorf("first start: %w", err)
		}
	}
	res.FirstStartAllVoteS = historySince(start)
	say("every validator voted %.2fs after the first start", res.FirstStartAllVoteS)

	last := o.Validators - 1
	f.setAvoid(last)
	if err := hn.stop(last); err != nil {
		return err
	}
	start = time.Now()
	p, err := hn.start(last)
	if err != nil {
		return err
	}
	st, err = p.waitAPI(ctx, o.StartTimeout)
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	res.RestartAPIS = historySince(start)
	if err := p.waitVote(ctx, hn.nodeKeys[last].Public(), st.Lanes[chain.LaneData.String()].Height, o.StartTimeout); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	res.RestartVoteS = historySince(start)
	f.setAvoid(-1)
	say("restart of %s: API after %.2fs, its first vote after %.2fs", p.name, res.RestartAPIS, res.RestartVoteS)
	return nil
}

// catchupSample is a fresh node's heights at a time.
type catchupSample struct {
	t        float64 // seconds from its start
	data, tx uint64
	cpu      float64 // CPU seconds the process had spent; -1: unknown
}

// measureCatchup starts the auditor on an empty store and follows its
// heights until it holds the whole history (or CatchupTimeout).
func (hn *historyNet) measureCatchup(ctx context.Context, o HistoryOptions, res *HistoryResult, say func(string, ...any)) error {
	auditor := len(hn.nw.Nodes) - 1
	start := time.Now()
	p, err := hn.start(auditor)
	if err != nil {
		return err
	}
	wantData, wantTx := uint64(res.DataBlocks), uint64(res.TxBlocks)
	// The process at its start: nothing synced, no CPU spent. The rates
	// run from the last sample before the first block arrived, which is
	// this one where the whole history arrives before the first answer
	// (a short history on a fast machine: the rates then count the
	// node's start too, rather than nothing).
	samples := []catchupSample{{}}
	lastSay := time.Now()
	err = p.poll(ctx, 200*time.Millisecond, o.CatchupTimeout, "caught up", func() (bool, error) {
		st, err := p.status(ctx)
		if err != nil {
			return false, nil
		}
		s := catchupSample{t: historySince(start), data: min(st.Lanes[chain.LaneData.String()].Height, wantData), tx: min(st.Lanes[chain.LaneTx.String()].Height, wantTx), cpu: -1}
		if cpu, ok := processCPU(p.cmd.Process.Pid); ok {
			s.cpu = cpu
		}
		samples = append(samples, s)
		if time.Since(lastSay) > 10*time.Second {
			lastSay = time.Now()
			say("catch-up: data/%d of %d, tx/%d of %d after %.0fs", s.data, wantData, s.tx, wantTx, s.t)
		}
		return s.data >= wantData && s.tx >= wantTx, nil
	})
	if err != nil && !errors.Is(err, errHistoryPollTimeout) {
		return err
	}
	res.CatchupComplete = err == nil
	catchupRates(samples, o, res)
	if rss, ok := processPeakRSS(p.cmd.Process.Pid); ok {
		res.CatchupPeakRSSBytes = rss
	}
	say("catch-up of a fresh auditor: %d blocks in %.1fs: %.0f blocks/s, %.0f readings/s (empty part %.0f blocks/s; full part %.0f blocks/s, %.0f readings/s, %.0f readings per CPU-second of the auditor; at most %d MiB resident)%s",
		res.CatchupBlocks, res.CatchupS, res.CatchupBlocksPerS, res.CatchupReadingsPerS, res.CatchupEmptyBlocksPerS,
		res.CatchupFullBlocksPerS, res.CatchupFullReadingsPerS, res.CatchupFullReadingsPerCPUS, res.CatchupPeakRSSBytes>>20,
		map[bool]string{true: "", false: " — timed out before the end"}[res.CatchupComplete])
	return nil
}

// catchupRates fills the catch-up figures of res from the samples: rates
// from the last sample before the first block arrived, over the whole
// history, over its empty part and over its full part (split at the first
// sample past the last empty data block).
func catchupRates(samples []catchupSample, o HistoryOptions, res *HistoryResult) {
	if len(samples) == 0 {
		return
	}
	empty := uint64(o.Blocks - o.FullBlocks)
	blocks := func(s catchupSample) float64 { return float64(s.data + s.tx) }
	readings := func(s catchupSample) float64 {
		if s.data <= empty {
			return 0
		}
		return float64((s.data - empty) * uint64(o.Readings))
	}
	rate := func(v func(catchupSample) float64, a, b catchupSample) float64 {
		if b.t <= a.t {
			return 0
		}
		return (v(b) - v(a)) / (b.t - a.t)
	}
	first := samples[0]
	for _, s := range samples {
		if s.data+s.tx > 0 {
			break
		}
		first = s
	}
	end := samples[len(samples)-1]
	res.CatchupS = end.t
	res.CatchupBlocks = int(end.data + end.tx)
	res.CatchupBlocksPerS = rate(blocks, first, end)
	res.CatchupReadingsPerS = rate(readings, first, end)
	// The empty part ends at the first sample past its last block; the
	// full part starts at the last sample not past it (a sample may jump
	// over the boundary: the full part's readings are then counted from
	// a few empty blocks before it).
	emptyEnd, reached := end, false
	fullStart, started := first, empty == 0
	for _, s := range samples {
		if s.data <= empty && s.t >= first.t {
			fullStart, started = s, true
		}
		if s.data >= empty && !reached {
			emptyEnd, reached = s, true
		}
	}
	if empty > 0 {
		res.CatchupEmptyBlocksPerS = rate(blocks, first, emptyEnd)
	}
	if o.FullBlocks > 0 && started && end.data > empty {
		res.CatchupFullBlocksPerS = rate(blocks, fullStart, end)
		res.CatchupFullReadingsPerS = rate(readings, fullStart, end)
		if fullStart.cpu >= 0 && end.cpu > fullStart.cpu {
			res.CatchupFullCPUS = end.cpu - fullStart.cpu
			res.CatchupFullReadingsPerCPUS = (readings(end) - readings(fullStart)) / res.CatchupFullCPUS
		}
	}
}

// auditVerify runs `waterchain audit verify --home dir --json` on a
// stopped node's home and returns how long it took and the blocks it
// verified: at least the history's (data/wantData and tx/wantTx), with
// those the running network added.
func (hn *historyNet) auditVerify(ctx context.Context, dir string, wantData, wantTx uint64) (time.Duration, uint64, error) {
	start := time.Now()
	cmd := exec.CommandContext(ctx, hn.o.Binary, "audit", "verify", "--home", dir, "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	setHistoryDeathSignal(cmd)
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%w: %s%s", err, bytes.TrimSpace(stderr.Bytes()), bytes.TrimSpace(stdout.Bytes()))
	}
	took := time.Since(start)
	var sum struct {
		DataHeight uint64 `json:"data_height"`
		TxHeight   uint64 `json:"tx_height"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		return 0, 0, fmt.Errorf("its summary %q: %w", bytes.TrimSpace(stdout.Bytes()), err)
	}
	if sum.DataHeight < wantData || sum.TxHeight < wantTx {
		return 0, 0, fmt.Errorf("it verified data/%d and tx/%d, the history is data/%d and tx/%d", sum.DataHeight, sum.TxHeight, wantData, wantTx)
	}
	return took, sum.DataHeight + sum.TxHeight, nil
}
