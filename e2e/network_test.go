package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// TestReadingsFinalOnEveryNode: readings submitted to one validator are
// finalized on all four validators and the auditor, which serve the very
// same readings and identical blocks at every height of both lanes.
func TestReadingsFinalOnEveryNode(t *testing.T) {
	c := newCluster(t, clusterOptions{validators: 4, auditors: 1, devices: 2})
	c.startAll()
	c.waitPeers(c.all(), 4)

	var sent []*chain.Reading
	want := map[chain.PubKey]uint64{}
	for _, m := range c.meters {
		rs := m.next(c.chainID, 10)
		sent = append(sent, rs...)
		want[m.pub()] = m.seq
	}
	c.submit(0, sent)
	c.waitFinal(c.all(), want, 60*time.Second)

	for i := range c.nodes {
		for _, m := range c.meters {
			var got struct {
				Readings []struct {
					Hash   chain.Hash `json:"hash"`
					Seq    uint64     `json:"seq"`
					Height uint64     `json:"height"`
				} `json:"readings"`
			}
			if err := c.getJSON(fmt.Sprintf("%s/v1/readings?device=%s", c.nodes[i].api, m.pub()), &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Readings) != 10 {
				t.Fatalf("%s serves %d readings of %s, want 10", c.nodes[i].name, len(got.Readings), m.pub().Short())
			}
			for _, r := range got.Readings {
				if r.Seq < 1 || r.Seq > 10 {
					t.Fatalf("%s serves seq %d", c.nodes[i].name, r.Seq)
				}
				var wantHash chain.Hash
				for _, s := range sent {
					if s.Device == m.pub() && s.Seq == r.Seq {
						wantHash = s.Hash()
					}
				}
				if r.Hash != wantHash {
					t.Fatalf("%s: reading %s/%d has hash %s, submitted %s", c.nodes[i].name, m.pub().Short(), r.Seq, r.Hash.Short(), wantHash.Short())
				}
			}
		}
	}
	c.waitHeights(c.all(), 3, 3, 60*time.Second)
	data, tx := c.sameChain(c.all())
	t.Logf("identical blocks on %d nodes: data 1..%d, tx 1..%d", len(c.nodes), data, tx)
}

// TestKilledValidatorCatchesUp: a validator killed with SIGKILL while
// readings stream in does not stop the other three from finalizing them;
// restarted, it fetches the blocks it missed by sync, and its precommits
// appear in certificates again.
func TestKilledValidatorCatchesUp(t *testing.T) {
	c := newCluster(t, clusterOptions{validators: 4, devices: 2})
	c.startAll()
	c.waitPeers(c.all(), 3)
	const victim = 3
	victimKey := c.nw.Nodes[victim].NodeKey

	ld := c.startLoad(0, 200*time.Millisecond, 1)
	ld.waitBatches(c, 5)
	c.waitFinal(c.all(), ld.snapshot(), 60*time.Second)
	c.waitHeights(c.all(), 4, 2, 60*time.Second)

	c.kill(victim)
	atKill, _ := c.heights(0)
	rest := []int{0, 1, 2}
	// Rounds whose proposer is dead time out; the others finalize.
	ld.waitBatches(c, 10)
	c.waitFinal(rest, ld.snapshot(), 60*time.Second)
	c.waitHeights(rest, atKill+6, 0, 60*time.Second)

	atRestart, _ := c.heights(0)
	c.start(victim)
	c.waitHeights([]int{victim}, atRestart, 0, 60*time.Second)
	if synced := c.metricOf(victim, "waterchain_synced_blocks_total", `lane="data"`); synced < 1 {
		t.Fatalf("%s caught up from %d to %d without block sync (synced %v)", c.nodes[victim].name, atKill, atRestart, synced)
	}
	caughtUp, _ := c.heights(victim)

	// Votes again: a block final after the catch-up carries its
	// precommit in validator-1's certificate.
	next := caughtUp + 1
	c.waitFor(60*time.Second, "a certificate with the restarted validator's precommit", func() (bool, string) {
		top, _ := c.heights(0)
		for ; next <= top; next++ {
			b, err := c.block(0, chain.LaneData, next)
			if err != nil {
				return false, err.Error()
			}
			for _, s := range b.Cert.Sigs {
				if s.Validator == victimKey {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("no signature of %s in data blocks %d..%d", victimKey.Short(), caughtUp+1, top)
	})
	ld.waitBatches(c, 3)
	c.waitFinal(c.all(), ld.snapshot(), 60*time.Second)
	ld.stop()
	if err := ld.err(); err != nil {
		t.Fatalf("validator-1 refused readings under load: %v", err)
	}
	data, tx := c.sameChain(c.all())
	t.Logf("killed at data height %d, restarted at %d, caught up to %d; identical blocks data 1..%d, tx 1..%d", atKill, atRestart, caughtUp, data, tx)
}

// TestHalfStoppedHaltsWithoutFork: with two of four validators killed no
// block is finalized (a quorum is three), nothing forks, and finality
// resumes when one of them returns, with the readings sent meanwhile.
func TestHalfStoppedHaltsWithoutFork(t *testing.T) {
	c := newCluster(t, clusterOptions{validators: 4, devices: 1})
	c.startAll()
	c.waitPeers(c.all(), 3)
	ld := c.startLoad(0, 250*time.Millisecond, 1)
	ld.waitBatches(c, 4)
	c.waitFinal(c.all(), ld.snapshot(), 60*time.Second)
	c.waitHeights(c.all(), 3, 2, 60*time.Second)

	c.kill(2)
	c.kill(3)
	live := []int{0, 1}
	d0, x0 := c.maxHeights(live)
	// A block whose precommits were already out may still finalize; after
	// that, nothing may. Both windows are the claim, not a wait.
	settle := time.Now().Add(2 * time.Second)
	c.observe(time.Until(settle), func() {})
	d1, x1 := c.maxHeights(live)
	if d1 > d0+1 || x1 > x0+1 {
		t.Fatalf("with 2 of 4 validators down, heights went from data %d tx %d to data %d tx %d", d0, x0, d1, x1)
	}
	c.observe(5*time.Second, func() {
		if d, x := c.maxHeights(live); d != d1 || x != x1 {
			t.Fatalf("finality without a quorum: data %d→%d, tx %d→%d", d1, d, x1, x)
		}
	})
	pending := ld.snapshot() // accepted by validator-1, not final

	c.start(2)
	back := []int{0, 1, 2}
	c.waitHeights(back, d1+3, x1+1, 90*time.Second)
	c.waitFinal(back, pending, 60*time.Second)

	c.start(3)
	c.waitHeights([]int{3}, d1+3, x1+1, 60*time.Second)
	ld.waitBatches(c, 2)
	c.waitFinal(c.all(), ld.snapshot(), 60*time.Second)
	ld.stop()
	if err := ld.err(); err != nil {
		t.Fatalf("validator-1 refused readings: %v", err)
	}
	data, tx := c.sameChain(c.all())
	for i := range c.nodes {
		if ev := c.metricOf(i, "waterchain_equivocations_seen_total"); ev != 0 {
			t.Errorf("%s saw %v equivocations", c.nodes[i].name, ev)
		}
	}
	t.Logf("halted at data %d tx %d; resumed; identical blocks data 1..%d, tx 1..%d", d1, x1, data, tx)
}

// maxHeights is the highest data and tx height among idx.
func (c *cluster) maxHeights(idx []int) (data, tx uint64) {
	for _, i := range idx {
		d, x := c.heights(i)
		data, tx = max(data, d), max(tx, x)
	}
	return data, tx
}

// observe calls check every 200 ms for d, failing the test if a process
// dies meanwhile.
func (c *cluster) observe(d time.Duration, check func()) {
	c.t.Helper()
	end := time.Now().Add(d)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(end) {
		c.checkAlive()
		check()
		<-tick.C
	}
}

// TestLateAuditorSyncsAndChecksCertificates: an auditor started after the
// validators have finalized blocks of both lanes fetches them all by block
// sync, and every block it then serves carries a certificate that
// verifies against the genesis validator set, links to its parent, and is
// the validators' block.
func TestLateAuditorSyncsAndChecksCertificates(t *testing.T) {
	c := newCluster(t, clusterOptions{validators: 4, auditors: 1, devices: 1})
	vals := c.validators()
	auditor := len(c.nodes) - 1
	c.startAll(vals...)
	c.waitPeers(vals, 3)
	c.waitFinal(vals, c.sendAll(0, 20), 60*time.Second)
	c.waitHeights(vals, 6, 4, 60*time.Second)
	targetData, targetTx := c.heights(0)

	c.start(auditor)
	c.waitHeights([]int{auditor}, targetData, targetTx, 60*time.Second)
	st, err := c.status(auditor)
	if err != nil {
		t.Fatal(err)
	}
	if st.Role != "auditor" {
		t.Fatalf("%s has role %q", c.nodes[auditor].name, st.Role)
	}
	for _, lane := range chain.Lanes {
		if n := c.metricOf(auditor, "waterchain_synced_blocks_total", `lane="`+lane.String()+`"`); n < 1 {
			t.Errorf("the auditor synced no %s block (%v)", lane, n)
		}
	}

	var keys []chain.PubKey
	for _, v := range c.genesis.Validators {
		keys = append(keys, v.NodeKey)
	}
	vs, err := chain.NewValidatorSet(keys)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, lane := range chain.Lanes {
		top := map[chain.Lane]uint64{chain.LaneData: targetData, chain.LaneTx: targetTx}[lane]
		prev := c.genesis.Hash()
		for h := uint64(1); h <= top; h++ {
			b, err := c.block(auditor, lane, h)
			if err != nil {
				t.Fatal(err)
			}
			hash := b.Hash()
			if b.Header.PrevHash != prev {
				t.Fatalf("auditor's %s/%d links to %s, the block below is %s", lane, h, b.Header.PrevHash.Short(), prev.Short())
			}
			if b.Cert == nil {
				t.Fatalf("auditor's %s/%d has no certificate", lane, h)
			}
			if err := b.Cert.Verify(c.chainID, vs, lane, h, hash); err != nil {
				t.Fatalf("auditor's %s/%d: %v", lane, h, err)
			}
			ref, err := c.block(0, lane, h)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Hash() != hash {
				t.Fatalf("%s/%d: auditor has %s, validator-1 %s", lane, h, hash.Short(), ref.Hash().Short())
			}
			prev = hash
			checked++
		}
	}
	t.Logf("auditor started at data %d tx %d; %d certificates verified", targetData, targetTx, checked)
}

// TestStrangerCannotConnect: a node whose key genesis does not name,
// started with every validator as its bootstrap peer, is refused by their
// connection gaters again and again and never gets a peer or a block.
func TestStrangerCannotConnect(t *testing.T) {
	c := newCluster(t, clusterOptions{validators: 4, devices: 1})
	vals := c.validators()
	c.startAll(vals...)
	c.waitPeers(vals, 3)

	strangerHome := filepath.Join(c.dir, "stranger")
	initLog, err := runBinary("init", "--home", strangerHome, "--genesis", c.nw.GenesisFile)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, initLog)
	}
	stranger := &process{
		name: "stranger", logPath: filepath.Join(c.dir, "logs", "stranger.log"),
		api: fmt.Sprintf("http://127.0.0.1:%d", c.spare(1)),
	}
	c.extra = append(c.extra, stranger)
	args := []string{"run", "--home", strangerHome,
		"--p2p-listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", c.spare(0)),
		"--api-listen", fmt.Sprintf("127.0.0.1:%d", c.spare(1))}
	for _, i := range vals {
		args = append(args, "--bootstrap", c.nw.Nodes[i].P2PAddr)
	}
	deniedBefore := c.sumMetric(vals, "waterchain_p2p_gater_denied_total", `direction="inbound"`)
	c.spawn(stranger, args...)
	c.waitAPI(stranger)

	// Every validator refuses it at least twice: it keeps trying.
	c.waitFor(60*time.Second, "every validator's gater refusing the stranger twice", func() (bool, string) {
		var seen []string
		ok := true
		for _, i := range vals {
			n := c.metricOf(i, "waterchain_p2p_gater_denied_total", `direction="inbound"`) - deniedBefore[i]
			seen = append(seen, fmt.Sprintf("%s %v", c.nodes[i].name, n))
			ok = ok && n >= 2
		}
		return ok, strings.Join(seen, ", ")
	})
	var st struct {
		Role  string `json:"role"`
		Peers int    `json:"peers"`
		Lanes map[string]struct {
			Height uint64 `json:"height"`
		} `json:"lanes"`
	}
	if err := c.getJSON(stranger.api+"/v1/status", &st); err != nil {
		t.Fatal(err)
	}
	if st.Peers != 0 || st.Lanes["data"].Height != 0 || st.Lanes["tx"].Height != 0 || st.Role != "observer" {
		t.Fatalf("stranger: role %s, %d peers, data %d, tx %d; want an observer with no peer and no block",
			st.Role, st.Peers, st.Lanes["data"].Height, st.Lanes["tx"].Height)
	}
	for _, i := range vals {
		if s, err := c.status(i); err != nil || s.Peers != 3 {
			t.Fatalf("%s has %d peers (%v), want its 3 fellow validators only", c.nodes[i].name, s.Peers, err)
		}
	}
}

// sumMetric reads one metric on each node of idx.
func (c *cluster) sumMetric(idx []int, name string, labels ...string) map[int]float64 {
	out := map[int]float64{}
	for _, i := range idx {
		out[i] = c.metricOf(i, name, labels...)
	}
	return out
}

// runBinary runs the binary to completion and returns its output.
func runBinary(args ...string) (string, error) {
	cmd := execBinary(args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestMetricParser(t *testing.T) {
	text := `# HELP waterchain_gossip_rejected_total x
# TYPE waterchain_gossip_rejected_total counter
waterchain_gossip_rejected_total{topic="readings"} 7
waterchain_gossip_rejected_total{topic="txs"} 2
waterchain_gossip_rejected_total_other 100
waterchain_height{lane="data"} 1.5e+01
waterchain_up 1
`
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"waterchain_gossip_rejected_total", nil, 9},
		{"waterchain_gossip_rejected_total", []string{`topic="readings"`}, 7},
		{"waterchain_gossip_rejected_total", []string{`topic="evidence"`}, 0},
		{"waterchain_height", []string{`lane="data"`}, 15},
		{"waterchain_up", nil, 1},
		{"waterchain_missing", nil, 0},
	} {
		if got := metric(text, tc.name, tc.labels...); got != tc.want {
			t.Errorf("metric(%s, %v) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}
