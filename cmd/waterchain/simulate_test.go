package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/imaging"
	"github.com/waterchain/waterchain/node/ingest"
	"github.com/waterchain/waterchain/node/keys"
)

const simTestChain = "waterchain-simtest"

// fakeNode is the part of a node's API that `waterchain simulate` uses:
// status, devices, accounts, transactions (final at once) and readings
// with the door's checks (registered device, signature, rising seq).
type fakeNode struct {
	t        *testing.T
	industry chain.PubKey

	mu       sync.Mutex // guards the fields below
	nonce    uint64
	devices  map[chain.PubKey]*api.Device
	txs      map[chain.Hash]bool
	batches  int
	accepted int
	rejected int
	// referred are the image hashes of accepted readings; images the
	// uploaded files.
	referred map[chain.Hash]bool
	images   map[chain.Hash][]byte
}

func newFakeNode(t *testing.T, industry chain.PubKey) (*fakeNode, *httptest.Server) {
	n := &fakeNode{t: t, industry: industry, devices: map[chain.PubKey]*api.Device{}, txs: map[chain.Hash]bool{},
		referred: map[chain.Hash]bool{}, images: map[chain.Hash][]byte{}}
	srv := httptest.NewServer(n)
	t.Cleanup(srv.Close)
	return n, srv
}

func (n *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	path := r.URL.Path
	switch {
	case path == "/v1/status":
		reply(200, api.Status{ChainID: simTestChain})
	case strings.HasPrefix(path, "/v1/devices/"):
		k, err := chain.ParsePubKey(strings.TrimPrefix(path, "/v1/devices/"))
		if err != nil {
			reply(400, api.Error{Message: err.Error(), Code: api.CodeBadRequest})
			return
		}
		if d := n.devices[k]; d != nil {
			reply(200, d)
			return
		}
		reply(404, api.Error{Message: "no such device", Code: api.CodeNotFound})
	case strings.HasPrefix(path, "/v1/accounts/"):
		reply(200, api.Account{Address: n.industry.Address(), Nonce: n.nonce})
	case path == "/v1/txs" && r.Method == http.MethodPost:
		var tx chain.Tx
		if err := json.NewDecoder(r.Body).Decode(&tx); err != nil || tx.VerifySignature(simTestChain) != nil ||
			tx.From != n.industry || tx.Nonce != n.nonce+1 || tx.RegisterDevice == nil {
			reply(400, api.Error{Message: "bad register-device transaction", Code: api.CodeBadRequest})
			return
		}
		n.nonce++
		n.devices[tx.RegisterDevice.Device] = &api.Device{Key: tx.RegisterDevice.Device, Status: "active"}
		n.txs[tx.Hash()] = true
		reply(202, api.SubmitTxResult{Hash: tx.Hash()})
	case strings.HasPrefix(path, "/v1/txs/"):
		reply(200, api.TxStatus{Status: "final"})
	case path == "/v1/readings" && r.Method == http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		rs, err := ingest.Decode(r.Header.Get("Content-Type"), body)
		if err != nil {
			reply(400, api.Error{Message: err.Error(), Code: api.CodeBadRequest})
			return
		}
		n.batches++
		res := api.SubmitReadingsResult{}
		for _, rd := range rs {
			er := api.EntryResult{Hash: rd.Hash(), Seq: rd.Seq}
			d := n.devices[rd.Device]
			switch {
			case d == nil:
				er.Error, er.Code = "unknown device", api.CodeUnknownDevice
			case rd.VerifySignature(simTestChain) != nil:
				er.Error, er.Code = "bad signature", api.CodeBadSignature
			case rd.Seq <= d.LastSeq:
				er.Error, er.Code = "replayed", api.CodeReplayed
			default:
				d.LastSeq = rd.Seq
				if rd.ImageHash != nil {
					n.referred[*rd.ImageHash] = true
				}
			}
			if er.Error != "" {
				res.Rejected++
			} else {
				res.Accepted++
			}
			res.Results = append(res.Results, er)
		}
		n.accepted += res.Accepted
		n.rejected += res.Rejected
		status := http.StatusAccepted
		if res.Accepted == 0 {
			status = http.StatusConflict // like the node: the first error's status, with the results
		} else if res.Rejected > 0 {
			status = http.StatusMultiStatus
		}
		reply(status, res)
	case strings.HasPrefix(path, "/v1/images/") && r.Method == http.MethodPut:
		h, err := chain.ParseHash(strings.TrimPrefix(path, "/v1/images/"))
		body, _ := io.ReadAll(r.Body)
		switch {
		case err != nil:
			reply(400, api.Error{Message: err.Error(), Code: api.CodeBadRequest})
		case r.Header.Get("Content-Type") != "image/jpeg":
			reply(415, api.Error{Message: "not image/jpeg", Code: api.CodeBadImage})
		case chain.HashBytes(body) != h:
			reply(422, api.Error{Message: "hash mismatch", Code: api.CodeHashMismatch})
		case !n.referred[h]:
			reply(422, api.Error{Message: "no reading refers to the image", Code: api.CodeRejected})
		default:
			n.images[h] = body
			reply(201, api.ImageStored{Hash: h, Bytes: len(body)})
		}
	default:
		reply(404, api.Error{Message: "no route " + path, Code: api.CodeNotFound})
	}
}

func (n *fakeNode) counts() (batches, accepted, rejected int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.batches, n.accepted, n.rejected
}

func TestSimulateCommand(t *testing.T) {
	dir := t.TempDir()
	industryFile := filepath.Join(dir, "industry.json")
	industry, err := keys.New(industryFile)
	if err != nil {
		t.Fatal(err)
	}
	node, srv := newFakeNode(t, industry.Public())
	meters := filepath.Join(dir, "meters")
	args := []string{"simulate", "--node", srv.URL, "--chain-id", simTestChain, "--devices", "3", "--interval", "5ms",
		"--count", "4", "--keys-dir", meters, "--register-key", industryFile, "--fault", "2:forged-sig", "--fault", "3:missed@1"}
	out, err := runSetupCmd(t, newSimulateCmd(), args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Keys were made, printed and registered.
	keyRE := regexp.MustCompile(`meter-(\d) ([0-9a-f]{64})`)
	printed := keyRE.FindAllStringSubmatch(out, -1)
	if len(printed) != 3 {
		t.Fatalf("want 3 meter keys printed:\n%s", out)
	}
	for _, p := range printed {
		k, err := keys.Load(filepath.Join(meters, "meter-"+p[1]+".json"))
		if err != nil || k.Public().String() != p[2] {
			t.Fatalf("meter-%s key file: %v", p[1], err)
		}
	}
	if !strings.Contains(out, "registered 3 meters") {
		t.Fatalf("no registration:\n%s", out)
	}
	// Batch 0: 3 readings, meter-2 forged. Batches 1–3: meter-3 loses two
	// of every three readings.
	for _, want := range []string{
		"batch 0: 2 accepted, 1 rejected (meter-2 seq 1: bad signature)",
		"batch 1: meter-3 fault missed on",
		"batch 1: 1 accepted, 1 rejected",
		"batch 2: 2 accepted, 1 rejected",
		"batch 3: 1 accepted, 1 rejected",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	batches, accepted, rejected := node.counts()
	if batches != 4 || accepted != 2+1+2+1 || rejected != 4 {
		t.Errorf("node saw %d batches, %d accepted, %d rejected", batches, accepted, rejected)
	}

	// A second run reuses the keys and continues the sequences: nothing is
	// refused as a replay.
	out2, err := runSetupCmd(t, newSimulateCmd(), "simulate", "--node", srv.URL, "--devices", "3", "--interval", "5ms",
		"--count", "2", "--keys-dir", meters)
	if err != nil {
		t.Fatalf("%v\n%s", err, out2)
	}
	if got := keyRE.FindAllStringSubmatch(out2, -1); len(got) != 3 || got[0][2] != printed[0][2] || got[2][2] != printed[2][2] {
		t.Fatalf("second run did not reuse the keys:\n%s", out2)
	}
	if strings.Contains(out2, "replayed") || strings.Count(out2, "3 accepted, 0 rejected") != 2 {
		t.Fatalf("second run:\n%s", out2)
	}
}

// TestSimulateImages: with --images every accepted reading's frame is
// uploaded after it, and each frame shows its meter's scene: set by
// --image-scene, turbid with floating solids under limit-breach, clear
// otherwise.
func TestSimulateImages(t *testing.T) {
	dir := t.TempDir()
	industryFile := filepath.Join(dir, "industry.json")
	industry, err := keys.New(industryFile)
	if err != nil {
		t.Fatal(err)
	}
	node, srv := newFakeNode(t, industry.Public())
	out, err := runSetupCmd(t, newSimulateCmd(), "simulate", "--node", srv.URL, "--devices", "4", "--interval", "5ms",
		"--count", "2", "--register-key", industryFile, "--images", "--image-scene", "2:coloured", "--image-scene", "3:clear+4",
		"--fault", "4:limit-breach", "--fault", "1:forged-sig@1")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"batch 0: 4 accepted, 0 rejected; 4 images stored", "batch 1: 3 accepted, 1 rejected (meter-1 seq 2: bad signature); 3 images stored"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if len(node.images) != 7 || len(node.referred) != 7 {
		t.Fatalf("%d images uploaded for %d accepted readings with images", len(node.images), len(node.referred))
	}
	classes := map[string]int{}
	for h, data := range node.images {
		img, _, err := imaging.DecodeVerified(data, h, imaging.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := imaging.Analyze(img)
		if err != nil {
			t.Fatal(err)
		}
		classes[fmt.Sprintf("%s+%d", a.Class, a.ObjectCount)]++
	}
	// meter-1 clear (its second reading refused), meter-2 coloured,
	// meter-3 clear with 4 objects, meter-4 turbid with 3.
	want := map[string]int{"clear+0": 1, "coloured+0": 2, "clear+4": 2, "turbid+3": 2}
	if fmt.Sprint(classes) != fmt.Sprint(want) {
		t.Fatalf("frames show %v, want %v", classes, want)
	}
}

func TestSimulateErrors(t *testing.T) {
	// Nothing listens on port 1: one line saying what to check.
	_, err := runSetupCmd(t, newSimulateCmd(), "simulate", "--node", "http://127.0.0.1:1", "--count", "1")
	if err == nil || !strings.Contains(err.Error(), "cannot reach a node at http://127.0.0.1:1") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("unreachable node: %v", err)
	}
	_, srv := newFakeNode(t, chain.PubKey{})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--chain-id", "other"}, `on "waterchain-simtest"`},
		{[]string{"--fault", "9:leak"}, "meter 9"},
		{[]string{"--fault", "1:flood"}, "flood"},
		{[]string{"--fault", "leak"}, "METER:KIND"},
		{[]string{"--fault", "1:leak@x"}, "batch number"},
		{[]string{"--fault", "zzzz:leak"}, "no meter"},
		{[]string{"--devices", "0"}, "--devices 0"},
		{[]string{"--image-scene", "clear"}, "needs --images"},
		{[]string{"--images", "--image-scene", "muddy"}, "muddy"},
		{[]string{"--images", "--image-scene", "5:clear"}, "meter \"5\""},
		{[]string{"--images", "--image-size", "10x10"}, "--image-size"},
	} {
		args := append([]string{"simulate", "--node", srv.URL, "--count", "1", "--interval", "1ms"}, c.args...)
		_, err := runSetupCmd(t, newSimulateCmd(), args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", c.args, err, c.want)
		}
	}
}
