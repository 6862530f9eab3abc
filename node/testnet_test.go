package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/config"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/home/hometest"
	"github.com/waterchain/waterchain/node/keys"
)

// testNet is a network of real nodes in this process: real badger stores in
// temporary directories, real libp2p hosts on loopback, real HTTP servers.
type testNet struct {
	t         testing.TB
	nw        *home.Network
	nodes     []*Node
	configure func(i int, cfg *config.Config)
	genesis   func(*genesis.Genesis)
}

// startTestNet writes a network of validators and auditors and starts every
// node, each with ephemeral ports.
func startTestNet(t testing.TB, validators, auditors, devicesPerIndustry int) *testNet {
	t.Helper()
	return startTestNetWith(t, validators, auditors, devicesPerIndustry, testNetOptions{})
}

// testNetOptions adjust a test network before it starts.
type testNetOptions struct {
	network   func(*home.NetworkOptions)      // before the network is written
	configure func(i int, cfg *config.Config) // each node's config before it starts
	// genesis changes the genesis each node loads (the same change for
	// all, so that they agree on its hash), such as its params.
	genesis func(*genesis.Genesis)
}

func startTestNetWith(t testing.TB, validators, auditors, devicesPerIndustry int, o testNetOptions) *testNet {
	t.Helper()
	// The nodes' p2p ports are fixed in the network's files, so a port
	// taken meanwhile by another test process makes a node fail to listen:
	// then the network is written again on other ports.
	for attempt := 1; ; attempt++ {
		opts := home.NetworkOptions{
			Validators: validators, Auditors: auditors, DevnetParams: true, DevicesPerIndustry: devicesPerIndustry,
			BasePort: hometest.FreeBasePort(t, validators+auditors),
		}
		if o.network != nil {
			o.network(&opts)
		}
		nw, err := home.WriteNetwork(t.TempDir(), opts)
		if err != nil {
			t.Fatal(err)
		}
		tn := &testNet{t: t, nw: nw, configure: o.configure, genesis: o.genesis}
		var startErr error
		for i := range nw.Nodes {
			n, err := tn.tryStart(i)
			if err != nil {
				startErr = err
				break
			}
			tn.nodes = append(tn.nodes, n)
		}
		if startErr == nil {
			t.Cleanup(tn.close)
			return tn
		}
		tn.close()
		if !strings.Contains(startErr.Error(), "address already in use") || attempt == 5 {
			t.Fatal(startErr)
		}
		t.Logf("attempt %d: %v; writing the network on other ports", attempt, startErr)
	}
}

// start starts node i from its home (again, after a stop).
func (tn *testNet) start(i int) *Node {
	tn.t.Helper()
	n, err := tn.tryStart(i)
	if err != nil {
		tn.t.Fatal(err)
	}
	return n
}

// tryStart is start returning the error.
func (tn *testNet) tryStart(i int) (*Node, error) {
	nn := tn.nw.Nodes[i]
	h, err := home.Open(nn.Home)
	if err != nil {
		return nil, err
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		return nil, err
	}
	cfg.API.Listen = "127.0.0.1:0"
	if tn.configure != nil {
		tn.configure(i, cfg)
	}
	g, err := h.LoadGenesis()
	if err != nil {
		return nil, err
	}
	if tn.genesis != nil {
		tn.genesis(g)
		if err := g.Validate(); err != nil {
			return nil, err
		}
	}
	key, err := h.LoadNodeKey()
	if err != nil {
		return nil, err
	}
	level := slog.LevelWarn
	if os.Getenv("WATERCHAIN_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	n, err := New(Options{Home: h.Dir, Config: cfg, Genesis: g, Key: key, Logger: logger, Name: nn.Name})
	if err != nil {
		return nil, err
	}
	if err := n.Start(context.Background()); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (tn *testNet) close() {
	for _, n := range tn.nodes {
		if n != nil {
			n.Close()
		}
	}
}

// account loads the key of the industry running validator i.
func (tn *testNet) account(i int) *chain.PrivateKey {
	tn.t.Helper()
	want := tn.nw.Nodes[i].Industry
	for _, a := range tn.nw.Accounts {
		if a.Name == want {
			k, err := keys.Load(a.KeyFile)
			if err != nil {
				tn.t.Fatal(err)
			}
			return k
		}
	}
	tn.t.Fatalf("no account for %s", want)
	return nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dump logs where every node is, for a failing test, and writes all
// goroutines' stacks to WATERCHAIN_TEST_STACKS when set.
func (tn *testNet) dump() {
	if path := os.Getenv("WATERCHAIN_TEST_STACKS"); path != "" {
		buf := make([]byte, 16<<20)
		buf = buf[:runtime.Stack(buf, true)]
		_ = os.WriteFile(path, buf, 0o644)
	}
	for _, n := range tn.nodes {
		if n == nil {
			continue
		}
		st, _ := n.Status(context.Background())
		tn.t.Logf("%s: data %d round %d, tx %d round %d, mempool %d/%d, peers %d, syncing %v, err %v",
			n.name, st.Lanes["data"].Height, st.Lanes["data"].Round, st.Lanes["tx"].Height, st.Lanes["tx"].Round,
			st.Mempool.Readings, st.Mempool.Txs, st.Peers, st.Syncing, n.Err())
	}
}

// httpJSON sends a request to a node's API and decodes the answer.
func httpJSON(t testing.TB, n *Node, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, "http://"+n.APIAddr()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// signedReading makes a signed reading of device key at seq.
func signedReading(chainID string, dev *chain.PrivateKey, seq uint64, at time.Time) *chain.Reading {
	r := &chain.Reading{
		Device: dev.Public(), Seq: seq, Time: chain.TimeOf(at),
		FlowRate: 12_000_000 + int64(seq%7)*1000, Volume: 3_000_000, VolumeTotal: int64(seq) * 3_000_000,
		Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 450,
	}
	r.Sign(chainID, dev)
	return r
}

func submitTx(t testing.TB, n *Node, key *chain.PrivateKey, tx *chain.Tx) chain.Hash {
	t.Helper()
	var acct api.Account
	if code := httpJSON(t, n, "GET", "/v1/accounts/"+key.Public().Address().String(), nil, &acct); code != 200 {
		t.Fatalf("account: %d", code)
	}
	tx.From = key.Public()
	if tx.Nonce == 0 {
		tx.Nonce = acct.Nonce + 1
	}
	tx.Sign(n.ChainID(), key)
	var res api.SubmitTxResult
	var e api.Error
	raw := map[string]any{}
	code := httpJSON(t, n, "POST", "/v1/txs", tx, &raw)
	if code != http.StatusAccepted {
		b, _ := json.Marshal(raw)
		_ = json.Unmarshal(b, &e)
		t.Fatalf("submit %s: %d %s (%s)", tx.Kind(), code, e.Message, e.Code)
	}
	b, _ := json.Marshal(raw)
	_ = json.Unmarshal(b, &res)
	return res.Hash
}

func (tn *testNet) String() string { return fmt.Sprintf("testnet of %d nodes", len(tn.nodes)) }

// regulatorKey loads the generated regulator's key.
func (tn *testNet) regulatorKey() *chain.PrivateKey {
	tn.t.Helper()
	for _, a := range tn.nw.Accounts {
		if a.Role == home.AccountRegulator {
			k, err := keys.Load(a.KeyFile)
			if err != nil {
				tn.t.Fatal(err)
			}
			return k
		}
	}
	tn.t.Fatal("no regulator account")
	return nil
}

// deviceKey loads the i-th generated meter's key.
func (tn *testNet) deviceKey(i int) *chain.PrivateKey {
	tn.t.Helper()
	k, err := keys.Load(tn.nw.Devices[i].KeyFile)
	if err != nil {
		tn.t.Fatal(err)
	}
	return k
}

// nodeKey is the node key kept in the home directory dir.
func nodeKey(t testing.TB, dir string) *chain.PrivateKey {
	t.Helper()
	h, err := home.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	k, err := h.LoadNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startChildTest runs the test named test of this binary in a child
// process, with env (NAME=value) added to its environment, and returns the
// process and its standard output. The child is killed after limit, so
// that one that hangs does not hang the test.
func startChildTest(t *testing.T, test, env string, limit time.Duration) (*exec.Cmd, io.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.AfterFunc(limit, func() { cmd.Process.Kill() })
	t.Cleanup(func() { deadline.Stop() })
	return cmd, out
}
