package node

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/home/hometest"
)

// syncNetwork writes a network of 4 validators and an auditor with
// devicesPerIndustry meters per industry and a chain of blocks blocks
// (alternating lanes) in validators 1 and 2's stores.
func syncNetwork(t *testing.T, blocks, devicesPerIndustry int) *home.Network {
	t.Helper()
	nw, err := home.WriteNetwork(t.TempDir(), home.NetworkOptions{
		Validators: 4, Auditors: 1, DevicesPerIndustry: devicesPerIndustry,
		BasePort:    hometest.FreeBasePort(t, 5),
		GenesisTime: time.Now().Add(-10 * time.Minute).Truncate(time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	buildSyncChain(t, nw, blocks)
	return nw
}

// storedBlocks reads every block of the store in dir, in the order they
// were built (alternating lanes, data first).
func storedBlocks(t *testing.T, dir string) []*chain.Block {
	t.Helper()
	kv, err := store.OpenBadger(dir, store.BadgerOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	st, err := store.Open(kv)
	if err != nil {
		t.Fatal(err)
	}
	var out []*chain.Block
	for h := uint64(1); h <= st.Height(chain.LaneData); h++ {
		for _, lane := range chain.Lanes {
			if h > st.Height(lane) {
				continue
			}
			b, err := st.Block(lane, h)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

// TestSyncRefusesTamperedBlockInBatch hands block sync's stages (the batch
// check off the loop, then the apply on the loop) a batch of 40 valid
// blocks with one tampered in the middle: the batch is refused at that
// block, every block before it is committed, none after it, and the node
// does not stop (a peer sent a bad block; its state is fine). The
// untampered rest then applies on top.
func TestSyncRefusesTamperedBlockInBatch(t *testing.T) {
	nw := syncNetwork(t, 40, 1)
	valid := storedBlocks(t, dataDir(t, nw.Nodes[0].Home))
	if len(valid) != 40 {
		t.Fatalf("%d blocks built, want 40", len(valid))
	}
	const at = 21 // tx/11: index 21 in data/1, tx/1, data/2, ...
	cases := []struct {
		name   string
		index  int
		tamper func(b *chain.Block) *chain.Block
	}{
		{"reading value", at - 1, func(b *chain.Block) *chain.Block {
			c := *b
			r := *c.Readings[0]
			r.Volume++
			c.Readings = append([]*chain.Reading{&r}, c.Readings[1:]...)
			return &c
		}},
		{"reading signature", at - 1, func(b *chain.Block) *chain.Block {
			// The reading's bytes and so the entries root stay; only the
			// signature is wrong.
			c := *b
			r := *c.Readings[0]
			r.Sig = append(chain.Signature{}, r.Sig...)
			r.Sig[5] ^= 1
			c.Readings = append([]*chain.Reading{&r}, c.Readings[1:]...)
			c.Header.EntriesRoot = c.ComputeEntriesRoot()
			return &c
		}},
		{"certificate signature", at, func(b *chain.Block) *chain.Block {
			c := *b
			cert := *c.Cert
			cert.Sigs = append([]chain.CommitSig{}, cert.Sigs...)
			cert.Sigs[1].Sig = append(chain.Signature{}, cert.Sigs[1].Sig...)
			cert.Sigs[1].Sig[7] ^= 1
			c.Cert = &cert
			return &c
		}},
		{"state root", at, func(b *chain.Block) *chain.Block {
			c := *b
			c.Header.StateRoot[0] ^= 1
			return &c
		}},
		{"no certificate", at, func(b *chain.Block) *chain.Block {
			c := *b
			c.Cert = nil
			return &c
		}},
	}
	auditor := nw.Nodes[len(nw.Nodes)-1].Home
	// Each case twice: the batch written in one chunk, and in chunks of
	// three blocks (the store writing some while the loop executes the
	// next, the tampered block's chunk cut short).
	defer func(v int) { syncWriteBlocks = v }(syncWriteBlocks)
	for _, chunk := range []int{syncWriteBlocks, 3} {
		syncWriteBlocks = chunk
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/chunks of %d", tc.name, chunk), func(t *testing.T) {
				testSyncRefusesTampered(t, auditor, valid, tc.index, tc.tamper)
			})
		}
	}
}

// testSyncRefusesTampered is one case of TestSyncRefusesTamperedBlockInBatch:
// valid with block index tampered, applied on a fresh auditor.
func testSyncRefusesTampered(t *testing.T, auditor string, valid []*chain.Block, index int, tamper func(*chain.Block) *chain.Block) {
	if err := os.RemoveAll(dataDir(t, auditor)); err != nil {
		t.Fatal(err)
	}
	n := openUnstarted(t, auditor)
	defer n.Close()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.startEngines(); err != nil {
		t.Fatal(err)
	}
	batch := append([]*chain.Block{}, valid...)
	batch[index] = tamper(valid[index])
	good, _, err := n.checkSync(batch)
	if applyErr := n.applySync(batch[:good], nil); err == nil {
		err = applyErr
	}
	if err == nil {
		t.Fatal("a batch with a tampered block was applied without error")
	}
	t.Logf("refused: %v", err)
	bad := batch[index].Header
	if !strings.Contains(err.Error(), fmt.Sprintf("%s/%d", bad.Lane, bad.Height)) {
		t.Errorf("the error does not name the tampered block %s/%d", bad.Lane, bad.Height)
	}
	if err := n.Err(); err != nil {
		t.Fatalf("a peer's bad block stopped the node: %v", err)
	}
	// Exactly the blocks before the tampered one are committed.
	want := map[chain.Lane]uint64{}
	for _, b := range valid[:index] {
		want[b.Header.Lane] = b.Header.Height
	}
	for _, lane := range chain.Lanes {
		if got := n.Height(lane); got != want[lane] {
			t.Errorf("%s height %d after the refused batch, want %d", lane, got, want[lane])
		}
		if _, err := n.store.Header(lane, want[lane]+1); err == nil {
			t.Errorf("%s/%d, after the tampered block, is stored", lane, want[lane]+1)
		}
	}
	if err := checkStateCache(n.state, n.store); err != nil {
		t.Fatalf("state in memory differs from the store after the refused batch: %v", err)
	}
	// The untampered rest applies on top.
	rest := valid[index:]
	if good, _, err := n.checkSync(rest); err != nil || good != len(rest) {
		t.Fatalf("untampered rest: %d good, %v", good, err)
	}
	if err := n.applySync(rest, nil); err != nil {
		t.Fatalf("untampered rest: %v", err)
	}
	if d, x := n.Height(chain.LaneData), n.Height(chain.LaneTx); d != 20 || x != 20 {
		t.Fatalf("heights %d/%d after the rest, want 20/20", d, x)
	}
}

const syncKillHomeEnv = "WATERCHAIN_SYNC_KILL_HOME"

// TestSyncKillChild is the auditor TestSyncKilledMidCatchUpResumes kills:
// it runs the node of $WATERCHAIN_SYNC_KILL_HOME and prints its heights
// (committed, so on disk) as they move.
func TestSyncKillChild(t *testing.T) {
	dir := os.Getenv(syncKillHomeEnv)
	if dir == "" {
		t.Skip("run by TestSyncKilledMidCatchUpResumes")
	}
	n := openUnstarted(t, dir)
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var last uint64
	for {
		d, x := n.Height(chain.LaneData), n.Height(chain.LaneTx)
		if d+x != last {
			fmt.Printf("heights %d %d\n", d, x)
			last = d + x
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSyncKilledMidCatchUpResumes kills an auditor (SIGKILL, its own
// process) while block sync is committing batches of a long chain, then
// starts it again: every block it had reported committed is there, it
// resumes from there to the head, and its chain and state are the
// sources'.
func TestSyncKilledMidCatchUpResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("network test with a child process")
	}
	const blocks = 12_000
	nw := syncNetwork(t, blocks, 1)
	tn := &testNet{t: t, nw: nw}
	defer tn.close()
	for i := 0; i < 2; i++ {
		tn.nodes = append(tn.nodes, tn.start(i))
	}
	auditor := len(nw.Nodes) - 1

	cmd, out := startChildTest(t, "TestSyncKillChild", syncKillHomeEnv+"="+nw.Nodes[auditor].Home, 5*time.Minute)
	var data, tx uint64
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if _, err := fmt.Sscanf(lines.Text(), "heights %d %d", &data, &tx); err == nil && data+tx >= blocks/4 {
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if data+tx < blocks/4 {
		t.Fatalf("the child reported only %d+%d blocks", data, tx)
	}
	if data+tx >= blocks {
		t.Fatalf("the child had synced everything (%d+%d) before the kill: nothing tested", data, tx)
	}
	t.Logf("killed at %d+%d of %d blocks", data, tx, blocks)

	n := tn.start(auditor)
	tn.nodes = append(tn.nodes, n)
	if d, x := n.Height(chain.LaneData), n.Height(chain.LaneTx); d < data || x < tx {
		t.Fatalf("after the kill the auditor is at %d/%d, below the %d/%d it had committed", d, x, data, tx)
	}
	waitFor(t, 3*time.Minute, "the auditor to sync the rest", func() bool {
		return n.Height(chain.LaneData)+n.Height(chain.LaneTx) >= blocks || n.Err() != nil
	})
	if err := n.Err(); err != nil {
		t.Fatalf("auditor stopped: %v", err)
	}
	src := tn.nodes[0]
	for _, lane := range chain.Lanes {
		top := n.Height(lane)
		for _, h := range []uint64{1, data / 2, data, data + 1, top} {
			if h == 0 || h > top {
				continue
			}
			got, err := n.Block(lane, h)
			if err != nil {
				t.Fatalf("auditor's %s/%d: %v", lane, h, err)
			}
			want, err := src.Block(lane, h)
			if err != nil {
				t.Fatal(err)
			}
			if got.Hash() != want.Hash() || len(got.Readings) != len(want.Readings) {
				t.Fatalf("auditor's %s/%d differs from the source's", lane, h)
			}
		}
	}
	// Nothing is left to sync: the state it holds in memory is its
	// store's, and its state root the source's.
	if err := checkStateCache(n.state, n.store); err != nil {
		t.Fatalf("auditor's state: %v", err)
	}
	ha, _ := n.Head(chain.LaneData)
	hs, _ := src.Head(chain.LaneData)
	if ha.StateRoot != hs.StateRoot {
		t.Fatal("auditor's data state root differs from the source's")
	}
}

// TestSyncProgressInStatus: while block sync runs, /v1/status's sync
// object gives the target heads, the blocks left and synced, and a rate;
// once the node has caught up it is gone.
func TestSyncProgressInStatus(t *testing.T) {
	nw := syncNetwork(t, 40, 1)
	valid := storedBlocks(t, dataDir(t, nw.Nodes[0].Home))
	n := openUnstarted(t, nw.Nodes[len(nw.Nodes)-1].Home)
	defer n.Close()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.startEngines(); err != nil {
		t.Fatal(err)
	}
	if st, _ := n.Status(context.Background()); st.Sync != nil {
		t.Fatalf("sync progress before any sync: %+v", st.Sync)
	}
	n.progress.begin(n, syncStatusResp{Data: 20, Tx: 20})
	if good, _, err := n.checkSync(valid[:30]); err != nil || good != 30 {
		t.Fatal(good, err)
	}
	if err := n.applySync(valid[:30], nil); err != nil {
		t.Fatal(err)
	}
	st, err := n.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := st.Sync
	if s == nil {
		t.Fatal("no sync progress in status while syncing")
	}
	if s.TargetData != 20 || s.TargetTx != 20 || s.Synced != 30 || s.Remaining != 10 || s.SyncedEntries != 15*4 {
		t.Fatalf("sync progress %+v, want targets 20/20, 30 synced (60 readings), 10 left", *s)
	}
	if s.BlocksPerSecond <= 0 || s.ETASeconds <= 0 {
		t.Fatalf("no rate or ETA: %+v", *s)
	}
	n.progress.stop(n)
	if st, _ := n.Status(context.Background()); st.Sync != nil {
		t.Fatalf("sync progress after the sync: %+v", st.Sync)
	}
}

// TestSyncAlertsMatchReplay: a node catching up by block sync, in batches
// whose after-commit work is done once per batch (afterCommits), raises
// the same alerts, with the same industries and limits, in the same order,
// as a node replaying the same chain at start (which the restart tests
// hold to the alerts raised live), and ends with the same state.
func TestSyncAlertsMatchReplay(t *testing.T) {
	nw, err := home.WriteNetwork(t.TempDir(), home.NetworkOptions{
		Validators: 4, Auditors: 1, DevicesPerIndustry: 1,
		BasePort:    hometest.FreeBasePort(t, 5),
		GenesisTime: time.Now().Add(-10 * time.Minute).Truncate(time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Faults of every kind of measure, at heights that fall in every
	// batch below: negative flow, and quality far above any limit.
	buildSyncChainWith(t, nw, 120, func(h uint64, k int, r *chain.Reading) {
		switch {
		case h%9 == 0 && k == 0:
			r.FlowRate = -1_000
		case h%7 == 0:
			r.Conductivity, r.Turbidity = 900_000, 90_000
		}
	})
	valid := storedBlocks(t, dataDir(t, nw.Nodes[0].Home))
	ref := openUnstarted(t, nw.Nodes[0].Home)
	want := ref.alertLog.List(alerts.Filter{})
	wantRoot, _ := ref.Head(chain.LaneTx)
	ref.Close()
	kinds := map[alerts.Kind]int{}
	for _, a := range want {
		kinds[a.Kind]++
	}
	if len(kinds) < 2 {
		t.Fatalf("the chain raises alerts of %d kinds (%v): too few to compare", len(kinds), kinds)
	}
	t.Logf("alerts by kind: %v", kinds)
	n := openUnstarted(t, nw.Nodes[len(nw.Nodes)-1].Home)
	defer n.Close()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.startEngines(); err != nil {
		t.Fatal(err)
	}
	// Uneven batches, as fetches cut them; the second is applied without
	// hashes (applySync computes them after the commit).
	for i, cut := range [][2]int{{0, 7}, {7, 50}, {50, len(valid)}} {
		batch := valid[cut[0]:cut[1]]
		good, hashes, err := n.checkSync(batch)
		if err != nil || good != len(batch) {
			t.Fatalf("batch %d: %d of %d good: %v", i, good, len(batch), err)
		}
		for _, b := range batch {
			if got, want := len(hashes[b]), len(b.Readings); got != want {
				t.Fatalf("batch %d: %d reading hashes for %s/%d, want %d", i, got, b.Header.Lane, b.Header.Height, want)
			}
			for k, r := range b.Readings {
				if hashes[b][k] != r.Hash() {
					t.Fatalf("batch %d: hash of reading %d of data/%d is not its hash", i, k, b.Header.Height)
				}
			}
		}
		if i == 1 {
			hashes = nil
		}
		if err := n.applySync(batch, hashes); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	got := n.alertLog.List(alerts.Filter{})
	if len(got) != len(want) {
		t.Fatalf("synced node holds %d alerts, the replaying node %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("alert %d differs:\nsynced    %+v\nreplayed  %+v", i, got[i], want[i])
		}
	}
	if h, _ := n.Head(chain.LaneTx); h.StateRoot != wantRoot.StateRoot || h.Height != wantRoot.Height {
		t.Fatalf("synced tx head %d (root %s), the replaying node's %d (%s)", h.Height, h.StateRoot.Short(), wantRoot.Height, wantRoot.StateRoot.Short())
	}
	if err := checkStateCache(n.state, n.store); err != nil {
		t.Fatal(err)
	}
}

// TestSyncAnswersFitTheDecoder: an answer to a blocks request never
// passes what the node asking decodes (syncAnswerMax), however many
// blocks it is asked for, and a late auditor catches up through answers
// so cut. The server used to stop only once an answer had passed the
// limit, and a node catching up over blocks full of readings asked for
// the same heights again and again. The limit is lowered to a few blocks
// here; at its real size the same cut is what BenchmarkSyncFullBlocks
// runs through.
func TestSyncAnswersFitTheDecoder(t *testing.T) {
	const blocks = 40 // 20 data blocks of 100 readings, 20 tx blocks
	nw := syncNetwork(t, blocks, 25)
	valid := storedBlocks(t, dataDir(t, nw.Nodes[0].Home))
	var dataBlocks []*chain.Block
	for _, b := range valid {
		if b.Header.Lane == chain.LaneData {
			dataBlocks = append(dataBlocks, b)
		}
	}
	blockSize := len(chain.MustEncode(dataBlocks[0]))
	defer func(n int) { syncAnswerMax = n }(syncAnswerMax)
	syncAnswerMax = 3*blockSize + blockSize/2 // three blocks and a half

	tn := &testNet{t: t, nw: nw}
	defer tn.close()
	for i := 0; i < 2; i++ {
		tn.nodes = append(tn.nodes, tn.start(i))
	}
	// Served from validator 1: every answer within the limit, every
	// data block served once, in order.
	var served []uint64
	answers := 0
	for from := uint64(1); from <= uint64(len(dataBlocks)); {
		raw, err := tn.nodes[0].syncBlocksAnswer(syncBlocksReq{Lane: chain.LaneData, From: from, Max: maxSyncBatch})
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) > syncAnswerMax {
			t.Fatalf("answer from data/%d is %d bytes, limit %d", from, len(raw), syncAnswerMax)
		}
		var resp syncBlocksResp
		if err := chain.Decode(raw, &resp); err != nil {
			t.Fatalf("answer from data/%d: %v", from, err)
		}
		if len(resp.Blocks) == 0 {
			t.Fatalf("answer from data/%d carries no block", from)
		}
		for _, b := range resp.Blocks {
			served = append(served, b.Header.Height)
		}
		from += uint64(len(resp.Blocks))
		answers++
	}
	if len(served) != len(dataBlocks) || served[0] != 1 || served[len(served)-1] != uint64(len(dataBlocks)) {
		t.Fatalf("served data heights %v, want 1 to %d", served, len(dataBlocks))
	}
	if answers < 6 {
		t.Fatalf("%d data blocks in %d answers: the limit did not cut them", len(served), answers)
	}

	// A late auditor fetches through such answers to the full height.
	auditor := tn.start(len(nw.Nodes) - 1)
	tn.nodes = append(tn.nodes, auditor)
	waitFor(t, time.Minute, "the auditor to sync every block", func() bool {
		return auditor.Height(chain.LaneData)+auditor.Height(chain.LaneTx) >= blocks || auditor.Err() != nil
	})
	if err := auditor.Err(); err != nil {
		t.Fatal(err)
	}
}

// fetchOnly starts validators 1 and 2 of nw, which hold its chain, and
// its auditor's host only (no loop, no sync of its own), and returns
// them with the validators' heads as the auditor polled them, for a
// test to run the auditor's fetch (fetchAll) by hand. All of them stop
// when the test ends.
func fetchOnly(t *testing.T, nw *home.Network) (*testNet, *Node, []peerHead) {
	t.Helper()
	tn := &testNet{t: t, nw: nw}
	t.Cleanup(tn.close)
	for i := 0; i < 2; i++ {
		tn.nodes = append(tn.nodes, tn.start(i))
	}
	n := openUnstarted(t, nw.Nodes[len(nw.Nodes)-1].Home)
	t.Cleanup(func() { n.Close() })
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.startP2P(); err != nil {
		t.Fatal(err)
	}
	var peers []peerHead
	waitFor(t, 30*time.Second, "the auditor to reach both validators", func() bool {
		peers = n.pollPeers(true)
		return len(peers) == 2
	})
	return tn, n, peers
}

// TestSyncFetchHoldsItsBound runs block sync's fetch against two
// validators holding 700 blocks a lane, with a consumer slower than the
// peers, as a catching-up node's check and apply stages are: the readings
// the peers served and the consumer has not taken, which the fetch holds,
// stay within its bounds rather than growing to the whole history.
// Answers are cut at 100 blocks, so that the lanes' first ranges
// (maxSyncBatch blocks) come back short, as a history of big blocks makes
// them. The consumer gets every block once, in order.
func TestSyncFetchHoldsItsBound(t *testing.T) {
	const blocks = 1400
	nw := syncNetwork(t, blocks, 1)
	valid := storedBlocks(t, dataDir(t, nw.Nodes[0].Home))
	perBlock := len(valid[0].Readings)
	if valid[0].Header.Lane != chain.LaneData || perBlock == 0 {
		t.Fatalf("the first block is %s/%d with %d readings, want a data block with readings", valid[0].Header.Lane, valid[0].Header.Height, perBlock)
	}
	blockSize := len(chain.MustEncode(valid[0]))
	defer func(a, r, b, m int) {
		syncAnswerMax, syncRangeBytes, syncBatchEntries, syncMaxBufferedEntries = a, r, b, m
	}(syncAnswerMax, syncRangeBytes, syncBatchEntries, syncMaxBufferedEntries)
	const firstAnswer, rangeBlocks = 100, 2
	syncAnswerMax = firstAnswer*blockSize + blockSize/2
	syncRangeBytes = rangeBlocks * syncBlockBytes(valid[0])
	syncBatchEntries = 3 * perBlock
	syncMaxBufferedEntries = 10 * perBlock

	tn, n, peers := fetchOnly(t, nw)
	target := syncTarget(peers)
	if target.Data != blocks/2 || target.Tx != blocks/2 {
		t.Fatalf("sync target %d/%d, want %d/%d", target.Data, target.Tx, blocks/2, blocks/2)
	}
	served := func() int {
		k := 0.0
		for _, v := range tn.nodes {
			var m dto.Metric
			if err := v.metrics.syncServed.WithLabelValues(chain.LaneData.String()).Write(&m); err != nil {
				t.Fatal(err)
			}
			k += m.GetCounter().GetValue()
		}
		return int(k) * perBlock
	}

	out := make(chan []*chain.Block)
	fetched := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { fetched <- n.fetchAll(ctx, peers, target, out) }()
	// What the fetch may hold: the batch it waits to hand over (up to
	// syncBatchEntries, overshot by one block), the data lane's blocks
	// not batched (syncMaxBufferedEntries, overshot by its first answer
	// of 100 blocks), and an answer of rangeBlocks for each request of
	// its window.
	bound := syncBatchEntries + perBlock + syncMaxBufferedEntries + firstAnswer*perBlock + syncWindow*rangeBlocks*perBlock
	var got []*chain.Block
	taken, most := 0, 0
	for done := false; !done; {
		select {
		case batch := <-out:
			got = append(got, batch...)
			for _, b := range batch {
				taken += len(b.Readings)
			}
			// The stages take a batch in a while.
			time.Sleep(20 * time.Millisecond)
			most = max(most, served()-taken)
		case err := <-fetched:
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			done = true
		case <-time.After(30 * time.Second):
			t.Fatal("no batch from the fetch in 30 s")
		}
	}
	t.Logf("the fetch held at most %d readings served and not taken (bound %d, history %d)", most, bound, blocks/2*perBlock)
	if most > bound {
		t.Errorf("the fetch held %d readings served and not taken, more than its bound %d (the history has %d)", most, bound, blocks/2*perBlock)
	}
	var next [3]uint64
	for _, b := range got {
		h := b.Header
		if h.Height != next[h.Lane]+1 {
			t.Fatalf("%s/%d handed over after %s/%d", h.Lane, h.Height, h.Lane, next[h.Lane])
		}
		next[h.Lane] = h.Height
	}
	if next[chain.LaneData] != blocks/2 || next[chain.LaneTx] != blocks/2 {
		t.Fatalf("handed over up to %d/%d, want %d/%d", next[chain.LaneData], next[chain.LaneTx], blocks/2, blocks/2)
	}
}

// TestSyncFetchLetsGoOfWhatItHandedOver has block sync's fetch take each
// lane's 100 blocks in one answer and hand them over in batches of three
// data blocks: the blocks of the batches handed over are free for the
// garbage collector while the fetch still holds the rest. The queue of
// fetched blocks had kept the whole answer, so a node catching up on
// blocks of 1,000 readings held most of the history it had already
// applied (177 MB of readings in `waterchain bench history --blocks 1000
// --full-blocks 1000 --readings 1000`).
func TestSyncFetchLetsGoOfWhatItHandedOver(t *testing.T) {
	const blocks, perBlock = 200, 100
	nw := syncNetwork(t, blocks, 25)
	defer func(b int) { syncBatchEntries = b }(syncBatchEntries)
	syncBatchEntries = 3 * perBlock

	_, n, peers := fetchOnly(t, nw)
	out := make(chan []*chain.Block)
	fetched := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { fetched <- n.fetchAll(ctx, peers, syncTarget(peers), out) }()

	// Take half of the data lane, keeping none of it.
	var freed atomic.Int64
	taken, takenData := 0, 0
	for takenData < blocks/4 {
		select {
		case batch := <-out:
			for _, b := range batch {
				runtime.AddCleanup(b, func(*atomic.Int64) { freed.Add(1) }, &freed)
				taken++
				if b.Header.Lane == chain.LaneData {
					takenData++
				}
			}
		case err := <-fetched:
			t.Fatalf("fetch ended with half the history to hand over: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("no batch from the fetch in 30 s")
		}
	}
	// The fetch holds the rest, waiting for its next batch to be taken;
	// what it handed over is garbage.
	waitFor(t, 5*time.Second, "the blocks handed over to be collected", func() bool {
		runtime.GC()
		return freed.Load() >= int64(taken)
	})
	t.Logf("%d blocks handed over, %d collected", taken, freed.Load())
	cancel()
	<-fetched
}
