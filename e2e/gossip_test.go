package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/p2p"
)

// wireReadings is the node's gossip encoding of a batch of readings
// (node/gossip.go), rebuilt here to make well-formed batches with a bad
// signature.
type wireReadings struct {
	Readings []*chain.Reading `cbor:"1,keyasint"`
}

// TestGarbageGossipRejectedAndScoredDown: a peer admitted by genesis (an
// observer key) that gossips garbage on the readings topic — bytes that do
// not decode, and well-formed batches whose signature is wrong — has every
// message rejected at each validator's gossip door, falls below the
// graylist threshold of their peer scores and is disconnected, while the
// validators keep finalizing honest readings and keep each other.
func TestGarbageGossipRejectedAndScoredDown(t *testing.T) {
	c := newCluster(t, clusterOptions{validators: 4, devices: 1, observer: true})
	vals := c.validators()
	c.startAll(vals...)
	c.waitPeers(vals, 3)

	var boot []string
	for _, i := range vals {
		boot = append(boot, c.nw.Nodes[i].P2PAddr)
	}
	logLevel := slog.LevelWarn
	if os.Getenv("WATERCHAIN_TEST_LOG") != "" {
		logLevel = slog.LevelDebug
	}
	host, err := p2p.New(context.Background(), p2p.Config{
		PrivateKey:  c.observer.Ed25519(),
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Bootstrap:   boot,
		AllowedKeys: c.genesis.PeerKeys(),
		NetworkID:   c.chainID + "/" + c.genesis.Hash().String(),
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	topic, err := host.Join("readings", func(chain.PubKey, []byte) (p2p.Result, any) { return p2p.Accept, nil })
	if err != nil {
		t.Fatal(err)
	}
	c.waitFor(60*time.Second, "the observer host connected and every validator subscribed", func() (bool, string) {
		subscribed := map[chain.PubKey]bool{}
		for _, k := range topic.Peers() {
			subscribed[k] = true
		}
		for _, i := range vals {
			k := c.nw.Nodes[i].NodeKey
			if !host.Connected(k) || !subscribed[k] {
				return false, fmt.Sprintf("%s: connected %v, subscribed %v", c.nodes[i].name, host.Connected(k), subscribed[k])
			}
		}
		return true, ""
	})

	rejectedBefore := c.sumMetric(vals, "waterchain_gossip_rejected_total", `topic="readings"`)
	graylistedBefore := c.sumMetric(vals, "waterchain_p2p_disconnects_total", `reason="graylisted"`)
	var garbage [][]byte
	for range 4 {
		b := make([]byte, 200)
		rand.Read(b)
		garbage = append(garbage, b)
	}
	for k := range 4 {
		// A genesis meter's reading, signed by someone else.
		m := c.meters[k%len(c.meters)]
		r := m.next(c.chainID, 1)[0]
		forger, err := chain.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Sign(c.chainID, forger)
		garbage = append(garbage, chain.MustEncode(&wireReadings{Readings: []*chain.Reading{r}}))
	}
	for _, g := range garbage {
		if err := topic.Publish(context.Background(), g); err != nil {
			t.Fatal(err)
		}
	}
	// -10·n² per invalid message: three put a fresh peer below the
	// graylist threshold (-80), after which gossipsub ignores the rest of
	// what it sends, so a validator may reject no more than three.
	const enough = 3
	c.waitFor(30*time.Second, "every validator rejecting the garbage", func() (bool, string) {
		var seen []string
		ok := true
		for _, i := range vals {
			n := c.metricOf(i, "waterchain_gossip_rejected_total", `topic="readings"`) - rejectedBefore[i]
			seen = append(seen, fmt.Sprintf("%s %v", c.nodes[i].name, n))
			ok = ok && n >= enough
		}
		return ok, strings.Join(seen, ", ")
	})
	// Scores are sampled every 10 s; a graylisted peer is disconnected.
	c.waitFor(60*time.Second, "every validator graylisting the observer", func() (bool, string) {
		var seen []string
		ok := true
		for _, i := range vals {
			n := c.metricOf(i, "waterchain_p2p_disconnects_total", `reason="graylisted"`) - graylistedBefore[i]
			seen = append(seen, fmt.Sprintf("%s %v", c.nodes[i].name, n))
			ok = ok && n >= 1
		}
		return ok, strings.Join(seen, ", ")
	})
	observer := c.observer.Public().Short()
	for _, i := range vals {
		mine := 0
		for _, line := range strings.Split(tail(c.nodes[i].logPath, 10_000), "\n") {
			if !strings.Contains(line, "graylisted") || !strings.Contains(line, "disconnecting") {
				continue
			}
			if !strings.Contains(line, "peer="+observer) {
				t.Errorf("%s graylisted a peer other than the observer %s: %s", c.nodes[i].name, observer, line)
			}
			mine++
		}
		if mine == 0 {
			t.Errorf("%s logged no graylisting of the observer %s", c.nodes[i].name, observer)
		}
	}

	// The honest network goes on: readings sent now are final everywhere,
	// and the validators still hold each other.
	c.waitFinal(vals, c.sendAll(1, 5), 60*time.Second)
	for _, i := range vals {
		st, err := c.status(i)
		if err != nil {
			t.Fatal(err)
		}
		if st.Peers < 3 {
			t.Errorf("%s has %d peers after the attack", c.nodes[i].name, st.Peers)
		}
	}
}
