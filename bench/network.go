package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node"
	"github.com/waterchain/waterchain/node/home"
)

// ErrNetwork is returned when the benchmark network does not come up.
var ErrNetwork = errors.New("bench: network")

// readingWindow replaces the devnet's 30 s window, so that a step's
// readings, signed before it starts, stay valid through a slow drain.
const readingWindow = time.Hour

// mempoolReadings is each node's mempool bound: room for any backlog a step
// can build.
const mempoolReadings = 2_000_000

// network is the running benchmark network and its meters.
type network struct {
	o       Options
	dir     string
	tmp     bool
	chainID string
	nodes   []*node.Node
	meters  []*chain.PrivateKey
	// devIndex maps a meter's key to its index in meters.
	devIndex map[chain.PubKey]int
	// lastSeq and lastTime are each meter's last signed reading.
	lastSeq  []uint64
	lastTime []chain.Time
}

// startNetwork writes a network of o.Validators, registers o.Devices meters
// in its genesis (in memory: the nodes get the genesis value, not the file)
// and starts every node, returning once all are connected and the tx lane
// has finalized a block.
func startNetwork(ctx context.Context, o Options) (nw *network, err error) {
	nw = &network{o: o, dir: o.Dir}
	if nw.dir == "" {
		if nw.dir, err = os.MkdirTemp("", "waterchain-bench-"); err != nil {
			return nil, err
		}
		nw.tmp = true
	}
	defer func() {
		if err != nil {
			nw.close()
		}
	}()
	base, err := freeBasePort(o.Validators)
	if err != nil {
		return nil, err
	}
	written, err := home.WriteNetwork(filepath.Join(nw.dir, "net"), home.NetworkOptions{
		Validators: o.Validators, BasePort: base, DevnetParams: true, ChainID: "waterchain-bench",
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNetwork, err)
	}
	g := *written.Genesis
	g.Params.ReadingWindow = chain.Duration(readingWindow)
	g.Industries = slices.Clone(g.Industries)
	perIndustry := o.Devices / o.Validators
	nw.devIndex = make(map[chain.PubKey]int, o.Devices)
	for i := range g.Industries {
		devs := make([]genesis.Device, 0, perIndustry)
		for k := range perIndustry {
			key, err := chain.GenerateKey(nil)
			if err != nil {
				return nil, err
			}
			nw.devIndex[key.Public()] = len(nw.meters)
			nw.meters = append(nw.meters, key)
			devs = append(devs, genesis.Device{Key: key.Public(), Label: "bench meter " + strconv.Itoa(k+1)})
		}
		g.Industries[i].Devices = devs
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("%w: genesis: %w", ErrNetwork, err)
	}
	nw.chainID = g.ChainID
	nw.lastSeq = make([]uint64, len(nw.meters))
	nw.lastTime = make([]chain.Time, len(nw.meters))

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
		n, err := node.New(node.Options{Home: h.Dir, Config: cfg, Genesis: &g, Key: key, Logger: o.Logger, Name: nn.Name})
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrNetwork, nn.Name, err)
		}
		if err := n.Start(ctx); err != nil {
			n.Close()
			return nil, fmt.Errorf("%w: %s: %w", ErrNetwork, nn.Name, err)
		}
		nw.nodes = append(nw.nodes, n)
	}
	if err := nw.waitLive(ctx, time.Minute); err != nil {
		return nil, err
	}
	return nw, nil
}

// waitLive waits until every node has all others as peers and has
// finalized a tx block.
func (nw *network) waitLive(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		live, why := true, ""
		for _, n := range nw.nodes {
			st, err := n.Status(ctx)
			if err != nil {
				return fmt.Errorf("%w: status: %w", ErrNetwork, err)
			}
			if err := n.Err(); err != nil {
				return fmt.Errorf("%w: %s stopped: %w", ErrNetwork, st.Name, err)
			}
			if st.Peers < len(nw.nodes)-1 || n.Height(chain.LaneTx) < 1 {
				live, why = false, fmt.Sprintf("%s: %d peers, tx height %d", st.Name, st.Peers, n.Height(chain.LaneTx))
				break
			}
		}
		if live {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%w: not live after %s (%s)", ErrNetwork, timeout, why)
		case <-tick.C:
		}
	}
}

// stopped returns the error of the first node that stopped, wrapped in
// ErrNetwork.
func (nw *network) stopped() error {
	for i, n := range nw.nodes {
		if err := n.Err(); err != nil {
			return fmt.Errorf("%w: validator-%d stopped: %w", ErrNetwork, i+1, err)
		}
	}
	return nil
}

func (nw *network) close() {
	for _, n := range nw.nodes {
		n.Close()
	}
	if nw.tmp {
		os.RemoveAll(nw.dir)
	}
}

// freeBasePort picks a random port range below the ephemeral ports whose
// ports are all free now.
func freeBasePort(nodes int) (int, error) {
	for range 50 {
		base := 12000 + rand.IntN(1800)*10
		if portsFree(base, nodes*home.PortsPerNode) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("%w: no free range of %d ports found", ErrNetwork, nodes*home.PortsPerNode)
}

func portsFree(base, n int) bool {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for p := base; p < base+n; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		ls = append(ls, l)
	}
	return true
}
