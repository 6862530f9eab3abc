package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/home/hometest"
)

const commitKillHomeEnv = "WATERCHAIN_COMMIT_KILL_HOME"

// TestCommitKillChild is the validator TestValidatorKilledWithBlocksQueued
// kills: it runs the node of $WATERCHAIN_COMMIT_KILL_HOME and prints, as
// they move, its tips (committed in memory) and its store's heads (written,
// so on disk).
func TestCommitKillChild(t *testing.T) {
	dir := os.Getenv(commitKillHomeEnv)
	if dir == "" {
		t.Skip("run by TestValidatorKilledWithBlocksQueued")
	}
	n := openUnstarted(t, dir)
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var last [4]uint64
	for {
		now := [4]uint64{n.tipHeight(chain.LaneData), n.tipHeight(chain.LaneTx), n.Height(chain.LaneData), n.Height(chain.LaneTx)}
		if now != last {
			fmt.Printf("tips %d %d written %d %d\n", now[0], now[1], now[2], now[3])
			last = now
		}
		time.Sleep(time.Millisecond)
	}
}

// TestValidatorKilledWithBlocksQueued kills a validator (SIGKILL, its own
// process) while consensus commits blocks of readings, at a moment it
// reported blocks committed in memory and not yet written when it can,
// then opens its store: every block it reported written is there, the
// store's state is its heads' (state roots), and the state in memory
// loaded from it is the store's. Started again, it catches up, its blocks
// are the network's, and it goes on finalizing with the others.
func TestValidatorKilledWithBlocksQueued(t *testing.T) {
	if testing.Short() {
		t.Skip("network test with a child process")
	}
	const devices = 8
	nw, err := home.WriteNetwork(t.TempDir(), home.NetworkOptions{
		Validators: 4, DevnetParams: true, DevicesPerIndustry: devices / 4,
		BasePort: hometest.FreeBasePort(t, 4),
	})
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNet{t: t, nw: nw}
	defer tn.close()
	for i := 0; i < 3; i++ {
		tn.nodes = append(tn.nodes, tn.start(i))
	}
	const victim = 3
	cmd, out := startChildTest(t, "TestCommitKillChild", commitKillHomeEnv+"="+nw.Nodes[victim].Home, 3*time.Minute)

	// Readings, a batch every 20 ms, so that the blocks take writing.
	src := tn.nodes[0]
	keys := make([]*chain.PrivateKey, devices)
	for i := range keys {
		keys[i] = tn.deviceKey(i)
	}
	stopFeed := make(chan struct{})
	fed := make(chan uint64)
	go func() {
		seq := uint64(0)
		defer func() { fed <- seq }()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopFeed:
				return
			case <-tick.C:
			}
			at := time.Now().Add(-time.Second)
			var batch []*chain.Reading
			for _, k := range keys {
				batch = append(batch, signedReading(src.ChainID(), k, seq+1, at))
			}
			var res api.SubmitReadingsResult
			// A batch refused as overload is sent again at the next tick.
			if code := httpJSON(t, src, http.MethodPost, "/v1/readings", batch, &res); code == http.StatusAccepted {
				seq++
			}
		}
	}()

	// Kill it at the first report, after a few blocks of readings, of a
	// block committed in memory and not written; or after enough blocks.
	var tips, written [2]uint64 // data, tx
	queued := false
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if _, err := fmt.Sscanf(lines.Text(), "tips %d %d written %d %d", &tips[0], &tips[1], &written[0], &written[1]); err != nil {
			continue
		}
		if written[0] < 4 {
			continue
		}
		if queued = tips != written; queued || written[0] >= 40 {
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if written[0] < 4 {
		t.Fatalf("the validator reported only %d data blocks written", written[0])
	}
	t.Logf("killed with data %d/%d and tx %d/%d written/committed (blocks queued: %v)", written[0], tips[0], written[1], tips[1], queued)

	// Its store: a prefix of the chain, each head with its state.
	n := openUnstarted(t, nw.Nodes[victim].Home)
	waitFor(t, time.Minute, "the network at the killed validator's heights", func() bool {
		return src.Height(chain.LaneData) >= n.Height(chain.LaneData) && src.Height(chain.LaneTx) >= n.Height(chain.LaneTx)
	})
	for i, lane := range []chain.Lane{chain.LaneData, chain.LaneTx} {
		if got := n.Height(lane); got < written[i] {
			t.Fatalf("after the kill %s is at %d, below the %d reported written", lane, got, written[i])
		}
		if got := n.Height(lane); got > tips[i]+1 {
			// Reported before the kill: at most a write in flight more.
			t.Logf("%s at %d after the kill (last reported tip %d)", lane, got, tips[i])
		}
		top := n.Height(lane)
		for h := uint64(1); h <= top; h++ {
			b, err := n.store.Block(lane, h)
			if err != nil {
				t.Fatalf("stored %s/%d: %v", lane, h, err)
			}
			if err := n.store.CheckBlockIndexes(b); err != nil {
				t.Fatalf("stored %s/%d: %v", lane, h, err)
			}
			want, err := src.Block(lane, h)
			if err != nil {
				t.Fatal(err)
			}
			if b.Hash() != want.Hash() {
				t.Fatalf("stored %s/%d differs from the network's", lane, h)
			}
		}
		head, _ := n.Head(lane)
		prefix := state.DataPrefix
		if lane == chain.LaneTx {
			prefix = state.TxPrefix
		}
		root, _, err := n.state.PendingRoot([]byte(prefix), nil)
		if err != nil {
			t.Fatal(err)
		}
		if top > 0 && root != head.StateRoot {
			t.Fatalf("the stored %s state is not that of its head %d", lane, top)
		}
	}
	if err := checkStateCache(n.state, n.store); err != nil {
		t.Fatal(err)
	}
	n.Close()

	// Started again: it catches up and finalizes with the others.
	close(stopFeed)
	sent := <-fed
	n = tn.start(victim)
	tn.nodes = append(tn.nodes, n)
	waitFor(t, 2*time.Minute, "every reading sent final on the network", func() bool {
		var d api.Device
		httpJSON(t, src, http.MethodGet, "/v1/devices/"+keys[devices-1].Public().String(), nil, &d)
		return d.LastSeq >= sent
	})
	target := src.Height(chain.LaneData) + 3
	// Readings keep the data lane moving.
	for seq := sent + 1; n.Height(chain.LaneData) < target && n.Err() == nil; seq++ {
		var batch []*chain.Reading
		for _, k := range keys[:1] {
			batch = append(batch, signedReading(src.ChainID(), k, seq, time.Now().Add(-time.Second)))
		}
		var res api.SubmitReadingsResult
		httpJSON(t, src, http.MethodPost, "/v1/readings", batch, &res)
		if seq > sent+6000 {
			t.Fatalf("the restarted validator is at data %d, the network at %d", n.Height(chain.LaneData), src.Height(chain.LaneData))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := n.Err(); err != nil {
		t.Fatalf("restarted validator stopped: %v", err)
	}
	for _, lane := range chain.Lanes {
		top := min(n.Height(lane), src.Height(lane))
		for h := uint64(1); h <= top; h++ {
			got, err := n.Block(lane, h)
			if err != nil {
				t.Fatalf("%s/%d: %v", lane, h, err)
			}
			want, err := src.Block(lane, h)
			if err != nil {
				t.Fatal(err)
			}
			if got.Hash() != want.Hash() {
				t.Fatalf("restarted validator's %s/%d differs from the network's", lane, h)
			}
		}
	}
	// Every reading sent is final on the restarted validator.
	for i, k := range keys {
		var d api.Device
		if code := httpJSON(t, n, http.MethodGet, "/v1/devices/"+k.Public().String(), nil, &d); code != http.StatusOK {
			t.Fatalf("device %d: %d", i, code)
		}
		if d.LastSeq < sent {
			t.Fatalf("device %d: last seq %d on the restarted validator, %d sent", i, d.LastSeq, sent)
		}
	}
}

// TestEventsAfterBlocksAreReadable: with blocks written off the loop, a
// block's event goes out only once the API serves it, and a reading is
// pending or final to GET /v1/readings/{hash} at every moment, never
// unknown, while its block waits to be written.
func TestEventsAfterBlocksAreReadable(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	const devices = 4
	tn := startTestNet(t, 1, 0, devices)
	n := tn.nodes[0]
	events := subscribeSSE(t, n, "/v1/events")
	waitFor(t, 5*time.Second, "the subscription open", func() bool { return n.Events().Subscribers() >= 1 })
	keys := make([]*chain.PrivateKey, devices)
	for i := range keys {
		keys[i] = tn.deviceKey(i)
	}
	const batches = 40
	var sent []chain.Hash
	for seq := uint64(1); seq <= batches; seq++ {
		var batch []*chain.Reading
		for _, k := range keys {
			r := signedReading(n.ChainID(), k, seq, time.Now().Add(-time.Second))
			batch = append(batch, r)
			sent = append(sent, r.Hash())
		}
		var res api.SubmitReadingsResult
		if code := httpJSON(t, n, http.MethodPost, "/v1/readings", batch, &res); code != http.StatusAccepted {
			t.Fatalf("submit: %d %+v", code, res)
		}
		// Every reading sent so far is known, waiting or final.
		for _, h := range sent {
			var st api.ReadingStatus
			if code := httpJSON(t, n, http.MethodGet, "/v1/readings/"+h.String(), nil, &st); code != http.StatusOK {
				t.Fatalf("reading %s: %d while its block is being committed", h.Short(), code)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	final := 0
	timeout := time.After(30 * time.Second)
	for final < len(sent) {
		var ev sseEvent
		select {
		case ev = <-events:
		case <-timeout:
			t.Fatalf("%d of %d readings final after 30 s", final, len(sent))
		}
		switch ev.kind {
		case "block":
			var be BlockEvent
			if err := json.Unmarshal(ev.data, &be); err != nil {
				t.Fatal(err)
			}
			var b chain.Block
			if code := httpJSON(t, n, http.MethodGet, fmt.Sprintf("/v1/blocks/%s/%d", be.Lane, be.Height), nil, &b); code != http.StatusOK {
				t.Fatalf("block event for %s/%d, and GET answers %d", be.Lane, be.Height, code)
			}
			if h := cborBlockHash(t, n, be.Lane, be.Height); h != b.Hash() {
				t.Fatalf("%s/%d: the CBOR answer hashes to %s, the JSON block to %s", be.Lane, be.Height, h.Short(), b.Hash().Short())
			}
			for _, r := range b.Readings {
				var st api.ReadingStatus
				if code := httpJSON(t, n, http.MethodGet, "/v1/readings/"+r.Hash().String(), nil, &st); code != http.StatusOK || st.Status != "final" {
					t.Fatalf("block event for %s/%d, and its reading %s is %d %q", be.Lane, be.Height, r.Hash().Short(), code, st.Status)
				}
				final++
			}
		}
	}
}

// cborBlockHash gets a block from n's API as CBOR (Accept:
// application/cbor) and returns the hash of the block it decodes to.
func cborBlockHash(t *testing.T, n *Node, lane chain.Lane, height uint64) chain.Hash {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v1/blocks/%s/%d", n.APIAddr(), lane, height), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", api.ContentTypeCBOR)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as CBOR: %d %v %.200s", req.URL.Path, resp.StatusCode, err, raw)
	}
	var b chain.Block
	if err := chain.Decode(raw, &b); err != nil {
		t.Fatalf("GET %s as CBOR: %v", req.URL.Path, err)
	}
	return b.Hash()
}

// A data block's events go out when consensus decides it, before the
// commit writer stores it, and a subscriber told of it finds the block, its
// readings final and their proofs through the API, served from the
// writer's queue; once written, from the store, the same. (With the
// events at the decision and the API reading only the store, each of
// these answered 404 until the write.)
func TestAnnouncedBlockServedBeforeWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	const devices = 3
	tn := startTestNet(t, 1, 0, devices)
	n := tn.nodes[0]
	hold := make(chan struct{})
	n.writer.holdReadings.Store(&hold)
	released := false
	release := func() {
		if !released {
			released = true
			n.writer.holdReadings.Store(nil)
			close(hold)
		}
	}
	defer release()
	events := subscribeSSE(t, n, "/v1/events")
	waitFor(t, 5*time.Second, "the subscription open", func() bool { return n.Events().Subscribers() >= 1 })
	var batch []*chain.Reading
	for i := range devices {
		batch = append(batch, signedReading(n.ChainID(), tn.deviceKey(i), 1, time.Now().Add(-time.Second)))
	}
	var res api.SubmitReadingsResult
	if code := httpJSON(t, n, http.MethodPost, "/v1/readings", batch, &res); code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, res)
	}
	var be BlockEvent
	timeout := time.After(30 * time.Second)
	for be.Lane != chain.LaneData || be.Entries == 0 {
		select {
		case ev := <-events:
			if ev.kind != "block" {
				continue
			}
			if err := json.Unmarshal(ev.data, &be); err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("no data block with readings announced in 30 s")
		}
	}
	if _, err := n.store.Block(chain.LaneData, be.Height); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("data/%d in the store while its write is held: %v", be.Height, err)
	}
	var genesisKeys []chain.PubKey
	for _, v := range tn.nw.Genesis.Validators {
		genesisKeys = append(genesisKeys, v.NodeKey)
	}
	check := func(when string) {
		t.Helper()
		var b chain.Block
		if code := httpJSON(t, n, http.MethodGet, fmt.Sprintf("/v1/blocks/data/%d", be.Height), nil, &b); code != http.StatusOK {
			t.Fatalf("%s: GET data/%d answers %d", when, be.Height, code)
		}
		if b.Hash() != be.Hash || len(b.Readings) != be.Entries {
			t.Fatalf("%s: GET data/%d: block %s with %d readings, the event named %s with %d", when, be.Height, b.Hash().Short(), len(b.Readings), be.Hash.Short(), be.Entries)
		}
		if h := cborBlockHash(t, n, chain.LaneData, be.Height); h != be.Hash {
			t.Fatalf("%s: data/%d as CBOR hashes to %s, the event named %s", when, be.Height, h.Short(), be.Hash.Short())
		}
		for i, r := range b.Readings {
			var st api.ReadingStatus
			if code := httpJSON(t, n, http.MethodGet, "/v1/readings/"+r.Hash().String(), nil, &st); code != http.StatusOK || st.Status != "final" ||
				st.Height != be.Height || st.Index == nil || int(*st.Index) != i {
				t.Fatalf("%s: reading %d of data/%d: %d %+v", when, i, be.Height, code, st)
			}
			var one struct{ Readings []api.Reading }
			if code := httpJSON(t, n, http.MethodGet, fmt.Sprintf("/v1/readings?device=%s&seq=%d", r.Device, r.Seq), nil, &one); code != http.StatusOK ||
				len(one.Readings) != 1 || one.Readings[0].Hash != r.Hash() || one.Readings[0].Height != be.Height {
				t.Fatalf("%s: reading %d of data/%d by device and seq: %d %+v", when, i, be.Height, code, one)
			}
			var proof chain.ReadingProof
			if code := httpJSON(t, n, http.MethodGet, fmt.Sprintf("/v1/proofs/readings/%s/%d", r.Device, r.Seq), nil, &proof); code != http.StatusOK {
				t.Fatalf("%s: proof of reading %d of data/%d: %d", when, i, be.Height, code)
			}
			if err := proof.Verify(n.ChainID(), n.GenesisHash(), genesisKeys); err != nil {
				t.Fatalf("%s: proof of reading %d of data/%d: %v", when, i, be.Height, err)
			}
		}
	}
	check("announced, not written")
	release()
	waitFor(t, 10*time.Second, "the block written", func() bool {
		_, err := n.store.Block(chain.LaneData, be.Height)
		return err == nil
	})
	check("written")
}
