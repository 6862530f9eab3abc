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

// TestLateReadingFillsItsGap: a meter's reading 2 reaches the chain before
// its reading 1 (a partition longer than seqGapWait), so 1 is recorded as
// missing; when 1 arrives, within the reading window, it fills the gap and
// is final, and sending it again is a replay.
func TestLateReadingFillsItsGap(t *testing.T) {
	tn := startTestNet(t, 1, 0, 1)
	n := tn.nodes[0]
	dev := tn.deviceKey(0)
	now := time.Now()
	first := signedReading(n.ChainID(), dev, 1, now.Add(-2*time.Second))
	second := signedReading(n.ChainID(), dev, 2, now.Add(-time.Second))
	post := func(r any, want int) api.SubmitReadingsResult {
		t.Helper()
		var res api.SubmitReadingsResult
		if code := httpJSON(t, n, http.MethodPost, "/v1/readings", r, &res); code != want {
			t.Fatalf("POST: %d, want %d: %+v", code, want, res)
		}
		return res
	}
	data := func() state.DeviceData {
		d, err := state.GetDevice(n.state, dev.Public())
		if err != nil {
			t.Fatal(err)
		}
		return d.Data
	}
	post(second, http.StatusAccepted)
	waitFor(t, 20*time.Second, "reading 2 final, 1 missing", func() bool { d := data(); return d.LastSeq == 2 && d.Missing == 1 })
	post(first, http.StatusAccepted)
	waitFor(t, 20*time.Second, "the late reading 1 final", func() bool { return data().Missing == 0 })
	if d := data(); d.Readings != 2 || d.LastSeq != 2 || len(d.Gaps) != 0 {
		t.Fatalf("device record after the late reading: %+v", d)
	}
	var got api.Reading
	if code := httpJSON(t, n, http.MethodGet, "/v1/readings?device="+dev.Public().String()+"&seq=1", nil, &got); code != http.StatusOK {
		t.Fatalf("GET the late reading: %d", code)
	}
	res := post(first, http.StatusConflict)
	if len(res.Results) != 1 || res.Results[0].Code != api.CodeReplayed {
		t.Fatalf("the late reading again: %+v", res)
	}
}
