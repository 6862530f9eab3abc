package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/keys"
)

// ErrNetwork is returned when the benchmark network does not come up, or a
// node of it stops.
var ErrNetwork = errors.New("bench: network")

// readingWindow replaces the devnet's 30 s window, so that a step's
// readings, signed before it starts, stay valid through a slow drain.
const readingWindow = time.Hour

// cluster is the validators a step drives: in this process (inProcess) or
// as OS processes of the waterchain binary (processes). Its methods are
// called from several goroutines at once (submit from one per validator).
type cluster interface {
	// submit hands validator i one batch, encoded[j] being rs[j]'s JSON;
	// errs[j] is nil when rs[j] was accepted, and wraps ErrOverload when
	// the node asks for it again later (after retryAfter, when the answer
	// says). busy reports that the whole batch was refused as overload
	// (HTTP 429 or 503).
	submit(ctx context.Context, i int, rs []*chain.Reading, encoded [][]byte) (errs []error, busy bool, retryAfter time.Duration)
	// feed follows validator-1's finalized data blocks from its current
	// data height, which it returns.
	feed(ctx context.Context) (chainFeed, uint64, error)
	// missing is each meter's count of missing readings on validator-1,
	// -1 where it could not be read.
	missing(ctx context.Context, meters []chain.PubKey) []int64
	// stopped returns, wrapped in ErrNetwork, why the first node that
	// stopped did.
	stopped() error
	// nodeCPU is the CPU seconds each node process has used so far; nil
	// when the nodes are not processes of their own.
	nodeCPU() []float64
	close()
}

// chainFeed is validator-1's finalized data blocks.
type chainFeed interface {
	// events delivers a data block event's height and when it arrived;
	// it is closed when the feed ends. An event may be lost: the tracker
	// loads every height up to the one it is told of.
	events() <-chan blockEvent
	// block loads the finalized data block at height h.
	block(h uint64) (finalBlock, error)
	// err says why the feed ended early, nil before it ends or if closed.
	err() error
	close()
}

type blockEvent struct {
	height uint64
	at     time.Time
}

// finalBlock is what the tracker needs of a finalized data block.
type finalBlock struct {
	readings []readingID
	round    uint32
	built    time.Time // the header's time: when its proposer built it
}

type readingID struct {
	Device chain.PubKey `json:"device" cbor:"1,keyasint"`
	Seq    uint64       `json:"seq" cbor:"2,keyasint"`
}

// network is the running benchmark network and its meters.
type network struct {
	o       Options
	dir     string
	tmp     bool
	chainID string
	cl      cluster
	meters  []*chain.PrivateKey
	// meterNode is the validator each meter sends to: the one running
	// its industry.
	meterNode []int
	// devIndex maps a meter's key to its index in meters.
	devIndex map[chain.PubKey]int
	// lastSeq and lastTime are each meter's last signed reading.
	lastSeq  []uint64
	lastTime []chain.Time
	// missingSeen is each meter's missing readings when last asked.
	missingSeen []uint64
	// encode has sign also encode each reading's JSON, for HTTP.
	encode bool
}

// startNetwork writes a network of o.Validators with o.Devices meters
// registered in its genesis (home.WriteNetwork, as waterchain testnet
// --devices does), sets the genesis reading window to readingWindow, and
// starts every node — in this process, or with o.Processes as OS
// processes — returning once all are connected and the tx lane has
// finalized a block.
func startNetwork(ctx context.Context, o Options) (*network, error) {
	nw := &network{o: o, dir: o.Dir, encode: o.Processes}
	if nw.dir == "" {
		var err error
		if nw.dir, err = os.MkdirTemp("", "waterchain-bench-"); err != nil {
			return nil, err
		}
		nw.tmp = true
	}
	started := false
	defer func() {
		if !started {
			nw.close()
		}
	}()
	base, err := freeBasePort(o.Validators)
	if err != nil {
		return nil, err
	}
	written, err := home.WriteNetwork(filepath.Join(nw.dir, "net"), home.NetworkOptions{
		Validators: o.Validators, BasePort: base, DevnetParams: true, ChainID: "waterchain-bench",
		DevicesPerIndustry: o.Devices / o.Validators,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNetwork, err)
	}
	g := *written.Genesis
	g.Params.ReadingWindow = chain.Duration(readingWindow)
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("%w: genesis: %w", ErrNetwork, err)
	}
	nw.chainID = g.ChainID

	nodeOf := make(map[string]int, len(written.Nodes))
	for i, nn := range written.Nodes {
		nodeOf[nn.Industry] = i
	}
	nw.devIndex = make(map[chain.PubKey]int, len(written.Devices))
	for _, d := range written.Devices {
		key, err := keys.Load(d.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: meter key: %w", ErrNetwork, err)
		}
		i, ok := nodeOf[d.Industry]
		if !ok {
			return nil, fmt.Errorf("%w: meter %s: no validator runs industry %q", ErrNetwork, d.Label, d.Industry)
		}
		nw.devIndex[key.Public()] = len(nw.meters)
		nw.meters = append(nw.meters, key)
		nw.meterNode = append(nw.meterNode, i)
	}
	nw.lastSeq = make([]uint64, len(nw.meters))
	nw.lastTime = make([]chain.Time, len(nw.meters))
	nw.missingSeen = make([]uint64, len(nw.meters))

	// Each start function stops what it started when it fails.
	if o.Processes {
		c, err := startProcesses(ctx, o, written, &g)
		if err != nil {
			return nil, err
		}
		nw.cl = c
	} else {
		c, err := startInProcess(ctx, o, written, &g)
		if err != nil {
			return nil, err
		}
		nw.cl = c
	}
	started = true
	return nw, nil
}

func (nw *network) close() {
	if nw.cl != nil {
		nw.cl.close()
	}
	if nw.tmp {
		os.RemoveAll(nw.dir)
	}
}

// waitLive polls live every 50 ms until it reports true, ctx ends or
// timeout passes; why says what is still missing.
func waitLive(ctx context.Context, timeout time.Duration, live func() (ok bool, why string, err error)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why, err := live()
		if err != nil {
			return err
		}
		if ok {
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

// freeBasePort is home.FreeBasePort, its error marked ErrNetwork.
func freeBasePort(nodes int) (int, error) {
	base, err := home.FreeBasePort(nodes)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNetwork, err)
	}
	return base, nil
}
