package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/home"
)

// ErrRefused is a reading the node did not accept: refused in its answer,
// in a whole-batch 429/503 answer, or lost with its request.
var ErrRefused = errors.New("bench: reading refused")

// Timeouts of the process cluster.
const (
	// startTimeout bounds the wait for every process to be connected and
	// to have finalized a tx block.
	startTimeout = 2 * time.Minute
	// requestTimeout bounds one API request: a node that takes longer to
	// answer a batch counts its readings as refused.
	requestTimeout = 30 * time.Second
	// stopTimeout is how long the nodes get to stop on SIGTERM before
	// they are killed.
	stopTimeout = 10 * time.Second
	// nodeLogName is each node's stdout and stderr, in its home.
	nodeLogName = "node.log"
)

// processes is validators running as OS processes of the waterchain
// binary ("waterchain run --home DIR"), driven over their HTTP API.
type processes struct {
	apis  []string // "http://127.0.0.1:PORT", validator-1 first
	pprof []string // each node's --pprof host:port, with Options.NodeStepProfiles
	procs []*nodeProc
	http  *http.Client
}

var _ cluster = (*processes)(nil)

// nodeProc is one node's process.
type nodeProc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // why it exited; set before done is closed
}

// exited reports, after the process exited, why, with its log's tail.
func (p *nodeProc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, fmt.Errorf("%w: %s exited (%v); the end of %s:\n%s", ErrNetwork, p.name, p.err, p.log, logTail(p.log, 2000))
	default:
		return false, nil
	}
}

// startProcesses writes genesis g over the written network's genesis
// files and starts each node as "BINARY run --home DIR" (its config as
// waterchain testnet writes it), its output in DIR/node.log. The processes
// are killed if this process dies (Linux), and by close.
func startProcesses(ctx context.Context, o Options, written *home.Network, g *genesis.Genesis) (*processes, error) {
	bin := o.Binary
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("%w: finding the waterchain binary: %w", ErrNetwork, err)
		}
	}
	raw, err := g.Marshal()
	if err != nil {
		return nil, err
	}
	files := []string{written.GenesisFile}
	for _, nn := range written.Nodes {
		files = append(files, home.Home{Dir: nn.Home}.GenesisFile())
	}
	for _, f := range files {
		if err := os.WriteFile(f, raw, 0o644); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNetwork, err)
		}
	}

	c := &processes{http: &http.Client{
		Timeout:   requestTimeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute},
	}}
	started := false
	defer func() {
		if !started {
			c.close()
		}
	}()
	for _, dir := range []string{o.NodeCPUProfileDir, o.NodeTraceDir} {
		if dir == "" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("%w: node profiles: %w", ErrNetwork, err)
		}
	}
	for _, nn := range written.Nodes {
		p := &nodeProc{name: nn.Name, log: filepath.Join(nn.Home, nodeLogName), done: make(chan struct{})}
		logFile, err := os.Create(p.log)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNetwork, err)
		}
		args := []string{"run", "--home", nn.Home}
		if o.NodeLogLevel != "" {
			args = append(args, "--log-level", o.NodeLogLevel)
		}
		switch {
		case o.NodeStepProfiles:
			addr, err := pprofListen(nn)
			if err != nil {
				return nil, fmt.Errorf("%w: a port for %s's profiles: %w", ErrNetwork, nn.Name, err)
			}
			args = append(args, "--pprof", addr)
			c.pprof = append(c.pprof, addr)
		case o.NodeCPUProfileDir != "":
			args = append(args, "--cpuprofile", filepath.Join(o.NodeCPUProfileDir, nn.Name+".pprof"))
		}
		if o.NodeTraceDir != "" {
			args = append(args, "--trace", filepath.Join(o.NodeTraceDir, nn.Name+".trace"))
		}
		p.cmd = exec.Command(bin, args...)
		p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
		setProcAttr(p.cmd)
		err = p.cmd.Start()
		logFile.Close() // the child has its own descriptor
		if err != nil {
			return nil, fmt.Errorf("%w: starting %s: %w", ErrNetwork, nn.Name, err)
		}
		go func() {
			p.err = p.cmd.Wait()
			close(p.done)
		}()
		c.procs = append(c.procs, p)
		c.apis = append(c.apis, strings.TrimRight(nn.API, "/"))
		// One at a time, each listening before the next starts: a node
		// then reaches every node started before it at its first dial,
		// where nodes started together back off from peers not yet up
		// (seen to leave 10 loaded nodes unconnected for minutes).
		i := len(c.procs) - 1
		err = waitLive(ctx, startTimeout, func() (bool, string, error) {
			if gone, err := p.exited(); gone {
				return false, "", err
			}
			var st api.Status
			if err := c.get(ctx, i, "/v1/status", &st); err != nil {
				return false, fmt.Sprintf("%s: %v", p.name, err), nil
			}
			return true, "", nil
		})
		if err != nil {
			return nil, err
		}
	}
	err = waitLive(ctx, startTimeout, func() (bool, string, error) {
		for i, p := range c.procs {
			if gone, err := p.exited(); gone {
				return false, "", err
			}
			var st api.Status
			if err := c.get(ctx, i, "/v1/status", &st); err != nil {
				return false, fmt.Sprintf("%s: %v", p.name, err), nil
			}
			if st.Peers < len(c.procs)-1 || st.Lanes[chain.LaneTx.String()].Height < 1 {
				return false, fmt.Sprintf("%s: %d peers, tx height %d", p.name, st.Peers, st.Lanes[chain.LaneTx.String()].Height), nil
			}
		}
		return true, "", nil
	})
	if err != nil {
		return nil, err
	}
	started = true
	return c, nil
}

// pprofListen is where node nn serves its profiles (run --pprof): the
// port after its MQTT port, a spare one of the ports home.FreeBasePort
// found free for it (home.PortsPerNode), below the kernel's range for
// outgoing connections, which a port the kernel picks is in.
func pprofListen(nn home.NetworkNode) (string, error) {
	host, port, err := net.SplitHostPort(nn.MQTTListen)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1)), nil
}

// profileStep starts a CPU profile of d on every node (their --pprof
// ports) and returns a wait that writes them to dir/<node>-<name>.pprof
// once taken. Nodes started without --pprof profile nothing.
func (c *processes) profileStep(ctx context.Context, d time.Duration, dir, name string) (wait func() error) {
	seconds := int((d + time.Second - 1) / time.Second)
	client := &http.Client{Timeout: time.Duration(seconds)*time.Second + time.Minute}
	errs := make([]error, len(c.pprof))
	var wg sync.WaitGroup
	for i, addr := range c.pprof {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds)
			body, err := getBody(ctx, client, url, "")
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, c.procs[i].name+"-"+name+".pprof"), body, 0o644)
			}
			if err != nil {
				errs[i] = fmt.Errorf("bench: %s's profile of %s: %w", c.procs[i].name, name, err)
			}
		}()
	}
	return func() error {
		wg.Wait()
		return errors.Join(errs...)
	}
}

// get decodes the JSON answer of GET path on node i.
func (c *processes) get(ctx context.Context, i int, path string, out any) error {
	return getJSON(ctx, c.http, c.apis[i]+path, out)
}

// getJSON decodes the JSON answer of GET url; another status is an error
// naming the answer.
func getJSON(ctx context.Context, client *http.Client, url string, out any) error {
	body, err := getBody(ctx, client, url, "")
	if err != nil {
		return err
	}
	return json.Unmarshal(body, out)
}

// getBody returns the body of the 200 answer of GET url, asking for the
// media type accept when it is set; another status is an error naming
// the answer.
func getBody(ctx context.Context, client *http.Client, url, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// submitAnswer is what the bench reads of POST /v1/readings' answer.
type submitAnswer struct {
	Message string `json:"error"`
	Code    string `json:"code"`
	// RetryAfterMs is the node's wait for readings refused for now, to
	// the millisecond (the Retry-After header rounds it up to seconds).
	RetryAfterMs int64 `json:"retry_after_ms"`
	Results      []struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	} `json:"results"`
}

// overloadCodes are the per-reading refusals that mean "not now";
// finalCodes those that never change. In a 429 or 503 answer, a reading
// refused with a code of neither kind (a node's newer overload code) is
// taken as overload.
var (
	overloadCodes = map[string]bool{api.CodeMempoolFull: true, api.CodeBusy: true, api.CodeUnavailable: true}
	finalCodes    = map[string]bool{
		api.CodeBadRequest: true, api.CodeTooLarge: true, api.CodeBadSignature: true, api.CodeUnknownDevice: true,
		api.CodeRevoked: true, api.CodeReplayed: true, api.CodeOutOfWindow: true, api.CodeDuplicate: true, api.CodeRejected: true,
	}
)

// submit POSTs the batch as one JSON array, as a gateway does.
func (c *processes) submit(ctx context.Context, i int, rs []*chain.Reading, encoded [][]byte) ([]error, bool, time.Duration) {
	size := len(encoded) + 1
	for _, e := range encoded {
		size += len(e)
	}
	body := make([]byte, 0, size)
	body = append(body, '[')
	for j, e := range encoded {
		if j > 0 {
			body = append(body, ',')
		}
		body = append(body, e...)
	}
	body = append(body, ']')
	errs := make([]error, len(rs))
	all := func(err error) []error {
		for j := range errs {
			errs[j] = err
		}
		return errs
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.apis[i]+"/v1/readings", bytes.NewReader(body))
	if err != nil {
		return all(err), false, 0
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return all(fmt.Errorf("%w: validator-%d: %w", ErrRefused, i+1, err)), false, 0
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		io.Copy(io.Discard, resp.Body)
		return errs, false, 0
	}
	busy := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable
	var retryAfter time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return all(fmt.Errorf("%w: validator-%d: reading the answer: %w", ErrRefused, i+1, err)), busy, retryAfter
	}
	var ans submitAnswer
	_ = json.Unmarshal(raw, &ans) // an answer that is not JSON refuses the whole batch below
	if ans.RetryAfterMs > 0 {
		retryAfter = time.Duration(ans.RetryAfterMs) * time.Millisecond
	}
	if len(ans.Results) != len(rs) {
		msg := ans.Message
		if msg == "" {
			msg = string(bytes.TrimSpace(raw))
		}
		err := fmt.Errorf("%w: validator-%d: %s %s: %s", ErrRefused, i+1, resp.Status, ans.Code, msg)
		if busy {
			err = fmt.Errorf("%w: %w", ErrOverload, err)
		}
		return all(err), busy, retryAfter
	}
	for j, r := range ans.Results {
		if r.Error == "" {
			continue
		}
		errs[j] = fmt.Errorf("%w: validator-%d: %s %s: %s", ErrRefused, i+1, resp.Status, r.Code, r.Error)
		if overloadCodes[r.Code] || busy && !finalCodes[r.Code] {
			errs[j] = fmt.Errorf("%w: %w", ErrOverload, errs[j])
		}
	}
	return errs, busy, retryAfter
}

// missing asks validator-1 about every meter, a few requests at a time.
func (c *processes) missing(ctx context.Context, meters []chain.PubKey) []int64 {
	const workers = 8
	out := make([]int64, len(meters))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				var d api.Device
				out[i] = -1
				if err := c.get(ctx, 0, "/v1/devices/"+meters[i].String(), &d); err == nil {
					out[i] = int64(d.Missing)
				}
			}
		}()
	}
	for i := range meters {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func (c *processes) stopped() error {
	for _, p := range c.procs {
		if gone, err := p.exited(); gone {
			return err
		}
	}
	return nil
}

func (c *processes) nodeCPU() []float64 {
	out := make([]float64, len(c.procs))
	for i, p := range c.procs {
		s, ok := processCPU(p.cmd.Process.Pid)
		if !ok {
			return nil
		}
		out[i] = s
	}
	return out
}

// close stops every node with SIGTERM and kills those still running after
// stopTimeout.
func (c *processes) close() {
	for _, p := range c.procs {
		if gone, _ := p.exited(); !gone {
			terminate(p.cmd.Process)
		}
	}
	deadline := time.NewTimer(stopTimeout)
	defer deadline.Stop()
	for _, p := range c.procs {
		select {
		case <-p.done:
		case <-deadline.C:
			for _, q := range c.procs {
				q.cmd.Process.Kill()
			}
			for _, q := range c.procs {
				<-q.done
			}
			return
		}
	}
}

// feed follows validator-1's block events on GET /v1/events (server-sent
// events) and loads blocks with GET /v1/blocks/data/{height} (as CBOR).
func (c *processes) feed(ctx context.Context) (chainFeed, uint64, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.apis[0]+"/v1/events", nil)
	if err != nil {
		cancel()
		return nil, 0, err
	}
	// The stream lasts the whole run: no client timeout.
	resp, err := (&http.Client{Transport: c.http.Transport}).Do(req)
	if err != nil {
		cancel()
		return nil, 0, fmt.Errorf("%w: validator-1 events: %w", ErrNetwork, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, 0, fmt.Errorf("%w: validator-1 events: %s", ErrNetwork, resp.Status)
	}
	// Subscribed first, then the height: no block falls between.
	var st api.Status
	if err := c.get(ctx, 0, "/v1/status", &st); err != nil {
		resp.Body.Close()
		cancel()
		return nil, 0, fmt.Errorf("%w: validator-1 status: %w", ErrNetwork, err)
	}
	f := &sseFeed{c: c, ctx: ctx, cancel: cancel, body: resp.Body, out: make(chan blockEvent, 4096)}
	go f.run()
	return f, st.Lanes[chain.LaneData.String()].Height, nil
}

// sseFeed reads a node's event stream.
type sseFeed struct {
	c      *processes
	ctx    context.Context
	cancel context.CancelFunc
	body   io.ReadCloser
	out    chan blockEvent

	mu     sync.Mutex // guards ended and closed
	ended  error
	closed bool
}

func (f *sseFeed) run() {
	defer close(f.out)
	defer f.body.Close()
	sc := bufio.NewScanner(f.body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	kind := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			kind = ""
		case strings.HasPrefix(line, "event:"):
			kind = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:") && kind == "block":
			at := time.Now()
			var be node.BlockEvent
			if err := json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, "data:"))), &be); err != nil || be.Lane != chain.LaneData {
				continue
			}
			f.out <- blockEvent{height: be.Height, at: at}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.ended = fmt.Errorf("%w: validator-1's event stream ended: %v", ErrNetwork, sc.Err())
	}
}

func (f *sseFeed) events() <-chan blockEvent { return f.out }

func (f *sseFeed) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended
}

// finalBlockCBOR is what the tracker reads of a block's canonical CBOR
// (chain.Block's field keys), which validator-1 serves from its store
// without decoding the block: a JSON answer cost it about a tenth of its
// CPU at the peak (encoding/json over thousands of readings a block), CPU
// the measured network would not spend otherwise.
type finalBlockCBOR struct {
	Header struct {
		Time chain.Time `cbor:"4,keyasint"`
	} `cbor:"1,keyasint"`
	Readings []readingID `cbor:"2,keyasint"`
	Cert     *struct {
		Round uint32 `cbor:"3,keyasint"`
	} `cbor:"4,keyasint"`
}

func (f *sseFeed) block(h uint64) (finalBlock, error) {
	url := f.c.apis[0] + "/v1/blocks/data/" + strconv.FormatUint(h, 10)
	body, err := getBody(f.ctx, f.c.http, url, api.ContentTypeCBOR)
	if err != nil {
		return finalBlock{}, err
	}
	var b finalBlockCBOR
	if err := cbor.Unmarshal(body, &b); err != nil {
		return finalBlock{}, fmt.Errorf("GET %s: %w", url, err)
	}
	fb := finalBlock{readings: b.Readings, built: b.Header.Time.Std()}
	if b.Cert != nil {
		fb.round = b.Cert.Round
	}
	return fb, nil
}

func (f *sseFeed) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cancel()
	for range f.out {
	}
}

// logTail returns the last n bytes of the file at path.
func logTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
