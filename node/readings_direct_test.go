package node

import (
	"net/http"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/config"
	"github.com/waterchain/waterchain/p2p"
)

// TestReadingsTravelDirect runs 4 validators with p2p.direct_readings_from
// lowered to 4: readings posted to one validator reach the others on the
// direct protocol, not by gossip, and are final; the door of direct
// readings refuses malformed messages, ignores held readings, and the
// batch check drops exactly the reading with a forged signature.
func TestReadingsTravelDirect(t *testing.T) {
	tn := startTestNetWith(t, 4, 0, 1, testNetOptions{configure: func(_ int, cfg *config.Config) { cfg.P2P.DirectReadingsFrom = 4 }})
	n0 := tn.nodes[0]
	waitFor(t, 2*time.Minute, "every validator connected", func() bool { return n0.readingsDirect() })

	dev := tn.deviceKey(0)
	now := time.Now()
	for seq := uint64(1); seq <= 3; seq++ {
		r := signedReading(n0.ChainID(), dev, seq, now.Add(time.Duration(seq)*time.Millisecond-3*time.Second))
		var res api.SubmitReadingsResult
		if code := httpJSON(t, n0, http.MethodPost, "/v1/readings", r, &res); code != http.StatusAccepted {
			t.Fatalf("reading %d: %d %+v", seq, code, res)
		}
	}
	for i, n := range tn.nodes {
		waitFor(t, 30*time.Second, "the readings final", func() bool {
			d, err := state.GetDevice(n.state, dev.Public())
			return err == nil && d.Data.LastSeq == 3
		})
		if i == 0 {
			continue
		}
		got := acceptedMessages(t, n)
		if direct, gossip := got["direct "+protoReadings], got["gossip "+topicReadings]; direct == 0 || gossip != 0 {
			t.Errorf("node %d took %v messages of readings directly and %v by gossip, want some directly and none by gossip", i, direct, gossip)
		}
	}

	// The door: malformed refused, held ignored, new accepted unchecked.
	n1 := tn.nodes[1]
	if res, _ := n1.validateDirectReadings(n0.key.Public(), []byte("not cbor")); res != p2p.Reject {
		t.Errorf("garbage: %s, want reject", res)
	}
	good := signedReading(n0.ChainID(), dev, 4, now.Add(-time.Second))
	forged := signedReading(n0.ChainID(), tn.deviceKey(1), 1, now.Add(-time.Second))
	forged.Sig = append(chain.Signature{}, forged.Sig...)
	forged.Sig[3] ^= 1
	res, val := n1.validateDirectReadings(n0.key.Public(), encodeWireReadings([]*chain.Reading{good, forged}, 0))
	if res != p2p.Accept {
		t.Fatalf("two new readings: %s, want accept", res)
	}
	kept := n1.checkDirectReadings(val.(hashedReadings))
	if len(kept.readings) != 1 || kept.hashes[0] != good.Hash() {
		t.Fatalf("the batch check kept %d readings, want the good one alone", len(kept.readings))
	}
	n1.admitReadings(kept)
	if res, _ := n1.validateDirectReadings(n0.key.Public(), encodeWireReadings([]*chain.Reading{good}, 0)); res != p2p.Ignore {
		t.Errorf("a held reading: %s, want ignore", res)
	}
}
