package bench

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/keys"
)

// TestProcessesFailToStart: nodes whose process exits at once fail the run
// with ErrNetwork naming the node and quoting its log, and nothing stays
// running.
func TestProcessesFailToStart(t *testing.T) {
	bin := "/bin/false"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no /bin/false here")
	}
	res, err := Run(context.Background(), Options{
		Validators: 2, Processes: true, Binary: bin, Rates: []int{10}, Duration: time.Second, Devices: 2,
		VerifyDuration: 10 * time.Millisecond,
	})
	t.Log(err)
	if !errors.Is(err, ErrNetwork) || !strings.Contains(err.Error(), "validator-") || !strings.Contains(err.Error(), "exited") || res != nil {
		t.Fatalf("got %v, %v; want ErrNetwork naming the validator that exited", res, err)
	}
}

// TestSubmitOverloadOverHTTP drives a real node's POST /v1/readings into
// its full mempool: readings refused as mempool_full in a 207 answer, and
// a whole batch refused 429 with Retry-After, come back as ErrOverload
// (the gateway resends those), with the batch marked busy, and both
// answers' wait read (retry_after_ms; the 207 had none before). The node
// is one of two validators, started alone, so that no block drains its
// mempool.
func TestSubmitOverloadOverHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	written, err := home.WriteNetwork(filepath.Join(t.TempDir(), "net"), home.NetworkOptions{
		Validators: 2, BasePort: mustFreeBasePort(t), DevnetParams: true, DevicesPerIndustry: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	nn := written.Nodes[0]
	h, err := home.Open(nn.Home)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.API.Listen = "127.0.0.1:0"
	// Its door's part of the floor is 3: half of it, one of 2 validators.
	cfg.Mempool.MaxReadings = 6
	cfg.Mempool.AdmitFloor = 6
	nodeKey, err := h.LoadNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Options{Home: h.Dir, Config: cfg, Genesis: written.Genesis, Key: nodeKey, Name: nn.Name, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	var dev home.Device
	for _, d := range written.Devices {
		if d.Industry == nn.Industry {
			dev = d
		}
	}
	meter, err := keys.Load(dev.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	now := chain.TimeOf(time.Now())
	var rs []*chain.Reading
	var enc [][]byte
	for seq := uint64(1); seq <= 7; seq++ {
		r := &chain.Reading{Device: meter.Public(), Seq: seq, Time: now + chain.Time(seq), FlowRate: 1000, Volume: 10, VolumeTotal: int64(seq) * 10}
		r.Sign(written.Genesis.ChainID, meter)
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		rs, enc = append(rs, r), append(enc, raw)
	}
	c := &processes{apis: []string{"http://" + n.APIAddr()}, http: &http.Client{Timeout: requestTimeout}}

	errs, busy, retryAfter := c.submit(context.Background(), 0, rs[:5], enc[:5])
	for i, err := range errs {
		if want := i >= 3; (err != nil) != want || want && !errors.Is(err, ErrOverload) {
			t.Errorf("reading %d of a 5-reading batch into a door with room for 3: %v", i+1, err)
		}
	}
	if busy {
		t.Error("a batch partly accepted (207) counted as a 429/503 answer")
	}
	// A door that has seen no block knows no rate: a second.
	if retryAfter != time.Second {
		t.Errorf("a batch partly refused: wait %s, want the fresh door's 1s", retryAfter)
	}
	errs, busy, retryAfter = c.submit(context.Background(), 0, rs[5:], enc[5:])
	for i, err := range errs {
		if !errors.Is(err, ErrOverload) || !errors.Is(err, ErrRefused) {
			t.Errorf("reading %d into a full mempool: %v; want ErrRefused and ErrOverload", i+6, err)
		}
	}
	if !busy || retryAfter <= 0 {
		t.Errorf("a batch refused whole: busy %v, Retry-After %s", busy, retryAfter)
	}
}

func mustFreeBasePort(t *testing.T) int {
	t.Helper()
	base, err := freeBasePort(2)
	if err != nil {
		t.Fatal(err)
	}
	return base
}
