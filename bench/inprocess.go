package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/events"
	"github.com/waterchain/waterchain/node/home"
)

// mempoolReadings is each in-process node's mempool bound: room for any
// backlog a step can build.
const mempoolReadings = 2_000_000

// inProcess is validators in this process, driven through
// node.SubmitReadings.
type inProcess struct {
	nodes []*node.Node
}

var _ cluster = (*inProcess)(nil)

// startInProcess starts the written network's nodes in this process with
// genesis g (the nodes get the value, not the file).
func startInProcess(ctx context.Context, o Options, written *home.Network, g *genesis.Genesis) (*inProcess, error) {
	c := &inProcess{}
	started := false
	defer func() {
		if !started {
			c.close()
		}
	}()
	for _, nn := range written.Nodes {
		h, err := home.Open(nn.Home)
		if err != nil {
			return nil, err
		}
		cfg, err := h.LoadConfig()
		if err != nil {
			return nil, err
		}
		cfg.API.Listen = "127.0.0.1:0"
		cfg.Mempool.MaxReadings = mempoolReadings
		key, err := h.LoadNodeKey()
		if err != nil {
			return nil, err
		}
		n, err := node.New(node.Options{Home: h.Dir, Config: cfg, Genesis: g, Key: key, Logger: o.Logger, Name: nn.Name})
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrNetwork, nn.Name, err)
		}
		if err := n.Start(ctx); err != nil {
			n.Close()
			return nil, fmt.Errorf("%w: %s: %w", ErrNetwork, nn.Name, err)
		}
		c.nodes = append(c.nodes, n)
	}
	err := waitLive(ctx, time.Minute, func() (bool, string, error) {
		for _, n := range c.nodes {
			st, err := n.Status(ctx)
			if err != nil {
				return false, "", fmt.Errorf("%w: status: %w", ErrNetwork, err)
			}
			if err := n.Err(); err != nil {
				return false, "", fmt.Errorf("%w: %s stopped: %w", ErrNetwork, st.Name, err)
			}
			if st.Peers < len(c.nodes)-1 || n.Height(chain.LaneTx) < 1 {
				return false, fmt.Sprintf("%s: %d peers, tx height %d", st.Name, st.Peers, n.Height(chain.LaneTx)), nil
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

func (c *inProcess) submit(_ context.Context, i int, rs []*chain.Reading, _ [][]byte) ([]error, bool, time.Duration) {
	errs := c.nodes[i].SubmitReadings(rs)
	var retryAfter time.Duration
	for j, err := range errs {
		var he *api.HTTPError
		if errors.As(err, &he) && (he.Status == http.StatusTooManyRequests || he.Status == http.StatusServiceUnavailable) {
			errs[j] = fmt.Errorf("%w: %w", ErrOverload, err)
			retryAfter = max(retryAfter, he.RetryAfter)
		}
	}
	return errs, false, retryAfter
}

func (c *inProcess) missing(_ context.Context, meters []chain.PubKey) []int64 {
	out := make([]int64, len(meters))
	for i, k := range meters {
		out[i] = -1
		if d, err := c.nodes[0].Device(k); err == nil {
			out[i] = int64(d.Missing)
		}
	}
	return out
}

func (c *inProcess) stopped() error {
	for i, n := range c.nodes {
		if err := n.Err(); err != nil {
			return fmt.Errorf("%w: validator-%d stopped: %w", ErrNetwork, i+1, err)
		}
	}
	return nil
}

// nodeCPU is nil: the nodes share this process, whose CPU time the step
// reports as the bench's.
func (c *inProcess) nodeCPU() []float64 { return nil }

func (c *inProcess) close() {
	for _, n := range c.nodes {
		n.Close()
	}
}

func (c *inProcess) feed(context.Context) (chainFeed, uint64, error) {
	n := c.nodes[0]
	f := &nodeFeed{n: n, sub: n.Events().Subscribe(4096), out: make(chan blockEvent, 4096)}
	go f.run()
	return f, n.Height(chain.LaneData), nil
}

// nodeFeed follows an in-process node's block events.
type nodeFeed struct {
	n   *node.Node
	sub *events.Subscription
	out chan blockEvent
}

func (f *nodeFeed) run() {
	defer close(f.out)
	for ev := range f.sub.C {
		if ev.Kind != "block" {
			continue
		}
		at := time.Now()
		var be node.BlockEvent
		if err := json.Unmarshal(ev.Data, &be); err != nil || be.Lane != chain.LaneData {
			continue
		}
		f.out <- blockEvent{height: be.Height, at: at}
	}
}

func (f *nodeFeed) events() <-chan blockEvent { return f.out }
func (f *nodeFeed) err() error                { return nil }

func (f *nodeFeed) block(h uint64) (finalBlock, error) {
	b, err := f.n.Block(chain.LaneData, h)
	if err != nil {
		return finalBlock{}, err
	}
	fb := finalBlock{readings: make([]readingID, len(b.Readings)), built: b.Header.Time.Std()}
	for i, r := range b.Readings {
		fb.readings[i] = readingID{Device: r.Device, Seq: r.Seq}
	}
	if b.Cert != nil {
		fb.round = b.Cert.Round
	}
	return fb, nil
}

func (f *nodeFeed) close() {
	f.sub.Close()
	for range f.out {
	}
}
