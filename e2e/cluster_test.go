package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/home/hometest"
	"github.com/waterchain/waterchain/node/keys"
)

// clusterOptions shape a test network.
type clusterOptions struct {
	validators, auditors int
	// devices is the number of genesis meters per industry (at least 1).
	devices int
	// observer adds an observer node key to genesis, for a raw p2p host
	// that no process runs (see cluster.observer).
	observer bool
}

// cluster is a network written by home.WriteNetwork whose nodes run as
// processes of the binary under test. Its methods are called from the test
// goroutine, except where they say otherwise.
type cluster struct {
	t        *testing.T
	dir      string
	nw       *home.Network
	genesis  *genesis.Genesis
	chainID  string
	basePort int
	// observer is the key of the genesis observer, when asked for.
	observer *chain.PrivateKey
	nodes    []*process
	extra    []*process // processes outside the network's manifest
	meters   []*meter
	client   *http.Client
}

// process is one OS process of the binary, possibly started several times
// (after a kill). Its log accumulates over the starts.
type process struct {
	name    string
	logPath string
	api     string // "http://127.0.0.1:PORT", "" when it serves none
	// under is the command the binary runs under, such as "ip netns exec
	// NS" (see command); empty runs it directly.
	under []string

	cmd  *exec.Cmd
	done chan struct{} // closed when the current run exited
	// wantExit is set when the test kills or stops the process, so that
	// its exit is not reported as a crash.
	wantExit bool
	waitErr  error // valid once done is closed
	starts   int
}

func (p *process) running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// newCluster writes a network on a random free port range in a temporary
// directory. No process runs yet; every one started later is killed when
// the test ends.
func newCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	dir := t.TempDir()
	if o.devices < 1 {
		o.devices = 1
	}
	nodes := o.validators + o.auditors
	// One spare node's ports for processes outside the manifest.
	base := hometest.FreeBasePort(t, nodes+1)
	nw, err := home.WriteNetwork(filepath.Join(dir, "net"), home.NetworkOptions{
		Validators: o.validators, Auditors: o.auditors, BasePort: base,
		DevnetParams: true, DevicesPerIndustry: o.devices,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		t: t, dir: dir, nw: nw, genesis: nw.Genesis, chainID: nw.Genesis.ChainID, basePort: base,
		client: &http.Client{Timeout: 10 * time.Second},
	}
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if o.observer {
		c.addObserver()
	}
	for _, n := range nw.Nodes {
		c.nodes = append(c.nodes, &process{name: n.Name, api: n.API, logPath: filepath.Join(dir, "logs", n.Name+".log")})
	}
	for _, d := range nw.Devices {
		k, err := keys.Load(d.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		c.meters = append(c.meters, &meter{key: k})
	}
	t.Cleanup(c.shutdown)
	return c
}

// addObserver names a new node key as an observer in genesis and rewrites
// every copy of genesis.json with it, before any node has started.
func (c *cluster) addObserver() {
	key, err := chain.GenerateKey(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	g := *c.nw.Genesis
	g.Observers = append(slices.Clone(g.Observers), genesis.Node{Name: "observer-1", NodeKey: key.Public()})
	if err := g.Validate(); err != nil {
		c.t.Fatal(err)
	}
	raw, err := g.Marshal()
	if err != nil {
		c.t.Fatal(err)
	}
	paths := []string{c.nw.GenesisFile}
	for _, n := range c.nw.Nodes {
		paths = append(paths, filepath.Join(n.Home, home.GenesisFileName))
	}
	for _, p := range paths {
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	c.genesis, c.observer = &g, key
}

// spare returns the k-th spare port (0 to PortsPerNode-1) after the
// network's nodes.
func (c *cluster) spare(k int) int {
	return c.basePort + len(c.nw.Nodes)*home.PortsPerNode + k
}

// spawn starts p with args, its stdout and stderr appended to its log.
func (c *cluster) spawn(p *process, args ...string) {
	c.t.Helper()
	if p.running() {
		c.t.Fatalf("%s is already running", p.name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer logf.Close() // the child has its own copy
	p.starts++
	fmt.Fprintf(logf, "=== e2e: start %d at %s: waterchain %s\n", p.starts, time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := p.command(args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("starting %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.wantExit, p.waitErr = cmd, done, false, nil
	go func() {
		err := cmd.Wait()
		p.waitErr = err // read only after done is closed
		close(done)
	}()
}

// start starts node i with "run --home" and no other flag, as testnet.json
// promises, and waits for its API.
func (c *cluster) start(i int) {
	c.t.Helper()
	p := c.nodes[i]
	c.spawn(p, "run", "--home", c.nw.Nodes[i].Home)
	c.waitAPI(p)
}

// startAll starts the given nodes (every node when none is given).
func (c *cluster) startAll(idx ...int) {
	c.t.Helper()
	if len(idx) == 0 {
		idx = c.all()
	}
	for _, i := range idx {
		p := c.nodes[i]
		c.spawn(p, "run", "--home", c.nw.Nodes[i].Home)
	}
	for _, i := range idx {
		c.waitAPI(c.nodes[i])
	}
}

func (c *cluster) waitAPI(p *process) {
	c.t.Helper()
	c.waitFor(60*time.Second, p.name+" API up", func() (bool, string) {
		var st api.Status
		err := c.getJSON(p.api+"/v1/status", &st)
		return err == nil, fmt.Sprint(err)
	})
}

// kill sends SIGKILL to node i and waits for it to die.
func (c *cluster) kill(i int) { c.signal(c.nodes[i], syscall.SIGKILL) }

func (c *cluster) signal(p *process, sig syscall.Signal) {
	c.t.Helper()
	if !p.running() {
		c.t.Fatalf("%s is not running", p.name)
	}
	p.wantExit = true
	if err := p.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("%s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		c.t.Fatalf("%s did not exit within 20 s of %v", p.name, sig)
	}
}

// shutdown kills every process and, when the test failed, prints their
// logs' tails.
func (c *cluster) shutdown() {
	if c.t.Failed() {
		c.dumpStatus()
	}
	for _, p := range append(slices.Clone(c.nodes), c.extra...) {
		if p.running() {
			p.wantExit = true
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	for _, p := range append(slices.Clone(c.nodes), c.extra...) {
		// A binary built with -race (WATERCHAIN_E2E_BIN) reports here.
		if data, err := os.ReadFile(p.logPath); err == nil && bytes.Contains(data, []byte("WARNING: DATA RACE")) {
			c.t.Errorf("%s: the race detector reported a data race; see %s", p.name, p.logPath)
		}
	}
	if c.t.Failed() {
		for _, p := range append(slices.Clone(c.nodes), c.extra...) {
			c.t.Logf("----- %s (%s), last lines:\n%s", p.name, p.logPath, tail(p.logPath, 60))
		}
	}
}

func (c *cluster) dumpStatus() {
	for _, p := range append(slices.Clone(c.nodes), c.extra...) {
		if !p.running() || p.api == "" {
			continue
		}
		var st api.Status
		if err := c.getJSON(p.api+"/v1/status", &st); err != nil {
			c.t.Logf("%s: status: %v", p.name, err)
			continue
		}
		c.t.Logf("%s: data %d (round %d), tx %d (round %d), peers %d, mempool %d, syncing %v", p.name,
			st.Lanes["data"].Height, st.Lanes["data"].Round, st.Lanes["tx"].Height, st.Lanes["tx"].Round,
			st.Peers, st.Mempool.Readings, st.Syncing)
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// checkAlive fails the test when a process exited that the test did not
// kill or stop.
func (c *cluster) checkAlive() {
	c.t.Helper()
	for _, p := range append(slices.Clone(c.nodes), c.extra...) {
		if p.done == nil || p.wantExit {
			continue
		}
		select {
		case <-p.done:
			c.t.Fatalf("%s exited on its own: %v; its log:\n%s", p.name, p.waitErr, tail(p.logPath, 40))
		default:
		}
	}
}

// waitFor polls cond until it holds, failing the test after timeout or as
// soon as a process dies unexpectedly. cond's string says how far things
// got, for the failure message.
func (c *cluster) waitFor(timeout time.Duration, what string, cond func() (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		c.checkAlive()
		ok, progress := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s; last seen: %s", timeout, what, progress)
		}
		<-tick.C
	}
}

func (c *cluster) all() []int {
	out := make([]int, len(c.nodes))
	for i := range out {
		out[i] = i
	}
	return out
}

func (c *cluster) validators() []int {
	var out []int
	for i, n := range c.nw.Nodes {
		if n.Role == genesis.RoleValidator {
			out = append(out, i)
		}
	}
	return out
}

// ----- HTTP

func (c *cluster) getJSON(url string, out any) error {
	resp, err := c.client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, out)
}

func (c *cluster) status(i int) (api.Status, error) {
	var st api.Status
	err := c.getJSON(c.nodes[i].api+"/v1/status", &st)
	return st, err
}

// heights returns node i's data and tx heights (zeros on error).
func (c *cluster) heights(i int) (data, tx uint64) {
	st, err := c.status(i)
	if err != nil {
		return 0, 0
	}
	return st.Lanes["data"].Height, st.Lanes["tx"].Height
}

// waitHeights waits until each node of idx has both lanes at least at the
// given heights.
func (c *cluster) waitHeights(idx []int, data, tx uint64, timeout time.Duration) {
	c.t.Helper()
	c.waitFor(timeout, fmt.Sprintf("data height %d and tx height %d on %v", data, tx, c.names(idx)), func() (bool, string) {
		var seen []string
		ok := true
		for _, i := range idx {
			d, x := c.heights(i)
			seen = append(seen, fmt.Sprintf("%s %d/%d", c.nodes[i].name, d, x))
			ok = ok && d >= data && x >= tx
		}
		return ok, strings.Join(seen, ", ")
	})
}

// waitPeers waits until each node of idx has at least want peers.
func (c *cluster) waitPeers(idx []int, want int) {
	c.t.Helper()
	c.waitFor(60*time.Second, fmt.Sprintf("%d peers each on %v", want, c.names(idx)), func() (bool, string) {
		var seen []string
		ok := true
		for _, i := range idx {
			st, err := c.status(i)
			seen = append(seen, fmt.Sprintf("%s %d", c.nodes[i].name, st.Peers))
			ok = ok && err == nil && st.Peers >= want
		}
		return ok, strings.Join(seen, ", ")
	})
}

func (c *cluster) names(idx []int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, c.nodes[i].name)
	}
	return out
}

// blockView is GET /v1/blocks/{lane}/{height}.
type blockView struct {
	Hash chain.Hash `json:"hash"`
	chain.Block
}

// block fetches a final block from node i and checks that the served hash
// is the hash of the served header.
func (c *cluster) block(i int, lane chain.Lane, height uint64) (*chain.Block, error) {
	var bv blockView
	if err := c.getJSON(fmt.Sprintf("%s/v1/blocks/%s/%d", c.nodes[i].api, lane, height), &bv); err != nil {
		return nil, err
	}
	if got := bv.Block.Hash(); got != bv.Hash {
		return nil, fmt.Errorf("%s: block %s/%d served with hash %s, its header hashes to %s", c.nodes[i].name, lane, height, bv.Hash.Short(), got.Short())
	}
	return &bv.Block, nil
}

// sameChain checks that the nodes of idx hold identical blocks at every
// height all of them have, on both lanes, and returns those heights.
func (c *cluster) sameChain(idx []int) (data, tx uint64) {
	c.t.Helper()
	var tops [3]uint64
	for _, lane := range chain.Lanes {
		top := uint64(1<<63 - 1)
		for _, i := range idx {
			d, x := c.heights(i)
			top = min(top, map[chain.Lane]uint64{chain.LaneData: d, chain.LaneTx: x}[lane])
		}
		if top == 0 {
			c.t.Fatalf("%s lane: no common height on %v", lane, c.names(idx))
		}
		for h := uint64(1); h <= top; h++ {
			var want chain.Hash
			for k, i := range idx {
				b, err := c.block(i, lane, h)
				if err != nil {
					c.t.Fatalf("%s: %v", c.nodes[i].name, err)
				}
				if k == 0 {
					want = b.Hash()
				} else if got := b.Hash(); got != want {
					c.t.Fatalf("fork at %s/%d: %s has %s, %s has %s", lane, h, c.nodes[idx[0]].name, want.Short(), c.nodes[i].name, got.Short())
				}
			}
		}
		tops[lane] = top
	}
	return tops[chain.LaneData], tops[chain.LaneTx]
}

// metrics returns node i's /metrics text.
func (c *cluster) metrics(i int) (string, error) {
	resp, err := c.client.Get(c.nodes[i].api + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	return string(body), nil
}

// metric sums the samples of name in a Prometheus text exposition whose
// labels include every given `key="value"` pair.
func metric(text, name string, labels ...string) float64 {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var lbls string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			lbls, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // another metric with this prefix
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(","+lbls+",", ","+l+",")
		}
		if !match {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// metricOf reads one metric of node i (0 on error).
func (c *cluster) metricOf(i int, name string, labels ...string) float64 {
	text, err := c.metrics(i)
	if err != nil {
		return 0
	}
	return metric(text, name, labels...)
}

// submit posts readings to node i and fails unless all are accepted.
func (c *cluster) submit(i int, rs []*chain.Reading) {
	c.t.Helper()
	if err := c.trySubmit(i, rs); err != nil {
		c.t.Fatal(err)
	}
}

// trySubmit posts readings to node i; safe from any goroutine.
func (c *cluster) trySubmit(i int, rs []*chain.Reading) error {
	body, err := json.Marshal(rs)
	if err != nil {
		return err
	}
	resp, err := c.client.Post(c.nodes[i].api+"/v1/readings", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST %s/v1/readings (%d readings): %d %s", c.nodes[i].name, len(rs), resp.StatusCode, bytes.TrimSpace(raw))
	}
	return nil
}

// lastSeq is the last finalized sequence number of a device on node i.
func (c *cluster) lastSeq(i int, dev chain.PubKey) (uint64, error) {
	var d api.Device
	if err := c.getJSON(c.nodes[i].api+"/v1/devices/"+dev.String(), &d); err != nil {
		return 0, err
	}
	return d.LastSeq, nil
}

// waitFinal waits until every node of idx has finalized each device's
// readings up to the given sequence number.
func (c *cluster) waitFinal(idx []int, want map[chain.PubKey]uint64, timeout time.Duration) {
	c.t.Helper()
	c.waitFor(timeout, fmt.Sprintf("readings of %d meters final on %v", len(want), c.names(idx)), func() (bool, string) {
		for _, i := range idx {
			for dev, seq := range want {
				got, err := c.lastSeq(i, dev)
				if err != nil || got < seq {
					return false, fmt.Sprintf("%s: device %s at seq %d of %d (%v)", c.nodes[i].name, dev.Short(), got, seq, err)
				}
			}
		}
		return true, ""
	})
}

// ----- meters and load

// meter makes a genesis device's signed readings: increasing sequence
// numbers, times at least a millisecond apart, about now.
type meter struct {
	key  *chain.PrivateKey
	seq  uint64
	last chain.Time
}

func (m *meter) pub() chain.PubKey { return m.key.Public() }

func (m *meter) next(chainID string, n int) []*chain.Reading {
	out := make([]*chain.Reading, 0, n)
	now := chain.TimeOf(time.Now())
	for range n {
		m.seq++
		t := max(now, m.last+1)
		m.last = t
		r := &chain.Reading{
			Device: m.pub(), Seq: m.seq, Time: t,
			FlowRate: 12_000_000 + int64(m.seq%7)*1000, Volume: 3_000_000, VolumeTotal: int64(m.seq) * 3_000_000,
			Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 450,
		}
		r.Sign(chainID, m.key)
		out = append(out, r)
	}
	return out
}

// sendAll sends n readings of every meter to node i and returns the
// sequence numbers to wait for.
func (c *cluster) sendAll(i, n int) map[chain.PubKey]uint64 {
	c.t.Helper()
	want := map[chain.PubKey]uint64{}
	var batch []*chain.Reading
	for _, m := range c.meters {
		batch = append(batch, m.next(c.chainID, n)...)
		want[m.pub()] = m.seq
	}
	c.submit(i, batch)
	return want
}

// load submits readings of every meter to one node at a steady pace from
// its own goroutine, until stopped. The meters belong to it meanwhile.
type load struct {
	stopCh, done chan struct{}

	mu       sync.Mutex // guards the fields below
	accepted map[chain.PubKey]uint64
	batches  int
	errs     []error
}

// startLoad sends perMeter readings of every meter to node target every
// interval.
func (c *cluster) startLoad(target int, every time.Duration, perMeter int) *load {
	l := &load{stopCh: make(chan struct{}), done: make(chan struct{}), accepted: map[chain.PubKey]uint64{}}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			var batch []*chain.Reading
			for _, m := range c.meters {
				batch = append(batch, m.next(c.chainID, perMeter)...)
			}
			err := c.trySubmit(target, batch)
			l.mu.Lock()
			if err != nil {
				l.errs = append(l.errs, err)
			} else {
				l.batches++
				for _, r := range batch {
					l.accepted[r.Device] = max(l.accepted[r.Device], r.Seq)
				}
			}
			l.mu.Unlock()
			select {
			case <-l.stopCh:
				return
			case <-tick.C:
			}
		}
	}()
	c.t.Cleanup(l.stop)
	return l
}

// snapshot is the last accepted sequence number per meter so far.
func (l *load) snapshot() map[chain.PubKey]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[chain.PubKey]uint64, len(l.accepted))
	for k, v := range l.accepted {
		out[k] = v
	}
	return out
}

// waitBatches waits until the load has sent at least n more batches.
func (l *load) waitBatches(c *cluster, n int) {
	c.t.Helper()
	l.mu.Lock()
	want := l.batches + n
	l.mu.Unlock()
	c.waitFor(30*time.Second, fmt.Sprintf("%d batches of load", n), func() (bool, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.batches >= want, fmt.Sprintf("%d batches, errors %v", l.batches, l.errs)
	})
}

// stop ends the load and returns its submission errors.
func (l *load) stop() {
	select {
	case <-l.stopCh:
	default:
		close(l.stopCh)
	}
	<-l.done
}

func (l *load) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.errs...)
}

// command prepares a run of the binary with args, under p.under if set,
// that dies with the test process.
func (p *process) command(args ...string) *exec.Cmd {
	if len(p.under) == 0 {
		return execBinary(args...)
	}
	argv := append(append(slices.Clone(p.under[1:]), binary), args...)
	cmd := exec.Command(p.under[0], argv...)
	setDeathSignal(cmd)
	return cmd
}

// execBinary prepares a run of the binary under test that dies with the
// test process.
func execBinary(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	setDeathSignal(cmd)
	return cmd
}
