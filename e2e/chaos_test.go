package e2e

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// TestRepeatedKillsUnderLoad (long: WATERCHAIN_E2E_LONG=1): for several
// rounds, a random validator is killed with SIGKILL while readings stream
// into another, the other three finalize them, and the victim is restarted
// and catches up before the next round. At the end every validator holds
// the same chain and every reading accepted is final everywhere.
func TestRepeatedKillsUnderLoad(t *testing.T) {
	if os.Getenv("WATERCHAIN_E2E_LONG") == "" {
		t.Skip("long scenario; set WATERCHAIN_E2E_LONG=1")
	}
	c := newCluster(t, clusterOptions{validators: 4, devices: 2})
	c.startAll()
	c.waitPeers(c.all(), 3)
	const target = 0 // the load's node is never killed
	ld := c.startLoad(target, 100*time.Millisecond, 1)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := range 6 {
		victim := 1 + rng.IntN(3)
		c.kill(victim)
		var rest []int
		for i := range c.nodes {
			if i != victim {
				rest = append(rest, i)
			}
		}
		h, _ := c.heights(target)
		ld.waitBatches(c, 10)
		c.waitFinal(rest, ld.snapshot(), 60*time.Second)
		c.waitHeights(rest, h+3, 0, 60*time.Second)
		c.start(victim)
		top, _ := c.heights(target)
		c.waitHeights([]int{victim}, top, 0, 60*time.Second)
		t.Logf("round %d: killed %s at data height %d, it caught up to %d", round, c.nodes[victim].name, h, top)
	}
	ld.waitBatches(c, 5)
	c.waitFinal(c.all(), ld.snapshot(), 60*time.Second)
	ld.stop()
	if err := ld.err(); err != nil {
		t.Fatalf("%s refused readings: %v", c.nodes[target].name, err)
	}
	data, tx := c.sameChain(c.all())
	for i := range c.nodes {
		if ev := c.metricOf(i, "waterchain_equivocations_seen_total"); ev != 0 {
			t.Errorf("%s saw %v equivocations", c.nodes[i].name, ev)
		}
	}
	t.Logf("identical blocks on every validator: data 1..%d, tx 1..%d", data, tx)
}
