package node

import (
	"net/http"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/api"
)

// TestLostGossipIsSentAgain: a meter's reading N reaches only the auditor
// (its gossip to the validator is lost), then its reading N+1 reaches the
// validator. Without a second copy of N, the validator would include N+1
// after seqGapWait and record N as missed, and N would be refused for good
// as a replay. The auditor gossips N again after regossipAfter, in time.
func TestLostGossipIsSentAgain(t *testing.T) {
	tn := startTestNet(t, 1, 1, 1)
	val, aud := tn.nodes[0], tn.nodes[1]
	if aud.Role() != "auditor" {
		t.Fatalf("node 1 is a %s", aud.Role())
	}
	dev := tn.deviceKey(0)
	now := time.Now()
	first := signedReading(val.ChainID(), dev, 1, now.Add(-2*time.Second))
	second := signedReading(val.ChainID(), dev, 2, now.Add(-time.Second))

	// Reading 1 enters the auditor's mempool without being gossiped, as if
	// every copy of its gossip had been lost.
	if err := aud.readings.Add(first.Hash(), first); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the meter sends its next reading a little later
	var res api.SubmitReadingsResult
	if code := httpJSON(t, val, http.MethodPost, "/v1/readings", second, &res); code != http.StatusAccepted {
		t.Fatalf("reading 2: %d %+v", code, res)
	}
	waitFor(t, 20*time.Second, "reading 2 final", func() bool {
		d, err := state.GetDevice(val.state, dev.Public())
		return err == nil && d.Data.LastSeq == 2
	})
	d, err := state.GetDevice(val.state, dev.Public())
	if err != nil {
		t.Fatal(err)
	}
	if d.Data.Missing != 0 || d.Data.Readings != 2 {
		t.Fatalf("device record %+v: reading 1 was lost (want 2 readings, 0 missing)", d.Data)
	}
}
