package node

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/home"
)

// TestLateReadingSettledInItsPeriod: on a live network (a validator and an
// auditor), a reading timed half a second before period 0 ends reaches the
// chain after the tx block that closed period 0 (still inside the 30 s
// reading window, so the door and the data lane accept it). Period 0's
// settlement, made once the data chain is past the window, counts its
// volume, and the auditor, re-executing every block, has the same record.
func TestLateReadingSettledInItsPeriod(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a settlement period to end and its 30 s reading window (about 50 s)")
	}
	// Devnet periods last 5 minutes from genesis; genesis is put in the
	// past so that period 0 ends a few seconds into the test.
	boundary := time.Now().Add(12 * time.Second).Truncate(time.Second)
	tn := startTestNetWith(t, 1, 1, 1, testNetOptions{network: func(o *home.NetworkOptions) {
		o.GenesisTime = boundary.Add(-5 * time.Minute)
	}})
	n, auditor := tn.nodes[0], tn.nodes[1]
	dev := tn.deviceKey(0)
	industry := tn.account(0).Public().Address()
	send := func(seq uint64, at time.Time, volumeML int64) {
		t.Helper()
		r := signedReading(n.ChainID(), dev, seq, at)
		r.Volume = volumeML
		r.Sign(n.ChainID(), dev)
		var res api.SubmitReadingsResult
		if code := httpJSON(t, n, http.MethodPost, "/v1/readings", r, &res); code != http.StatusAccepted {
			t.Fatalf("reading %d: %d %+v", seq, code, res)
		}
		waitFor(t, 20*time.Second, "the reading final", func() bool {
			d, err := state.GetDevice(n.state, dev.Public())
			return err == nil && d.Data.LastSeq == seq
		})
	}

	send(1, time.Now(), 1_000_000)
	waitFor(t, 30*time.Second, "a tx block closing period 0", func() bool {
		m, err := state.GetTxMeta(n.state)
		return err == nil && m.Period >= 1
	})
	meta, err := state.GetTxMeta(n.state)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Unsettled != 1 {
		t.Fatalf("period 0 settled by the tx block that closed it (tx meta %+v)", meta)
	}
	closingAnchor := meta.Anchor // the closing block's anchor or a later one

	late := boundary.Add(-500 * time.Millisecond)
	send(2, late, 7_000_000)
	if _, loc, err := n.store.Reading(dev.Public(), 2); err != nil || loc.Height <= closingAnchor {
		t.Fatalf("the late reading is in data block %d (%v), not after the closing tx block's anchor %d", loc.Height, err, closingAnchor)
	}

	var rec state.Settlement
	waitFor(t, 60*time.Second, "period 0 settled", func() bool {
		recs, err := state.Settlements(n.state, 0)
		for _, s := range recs {
			if s.Industry == industry {
				rec = s
			}
		}
		return err == nil && len(recs) > 0
	})
	if rec.UsedML != 8_000_000 || rec.Readings != 2 || rec.DataTime < chain.TimeOf(boundary.Add(30*time.Second)) {
		t.Fatalf("period 0 settled with %d mL in %d readings, counted to data time %s; want 8000000 mL in 2 readings, to at least %s",
			rec.UsedML, rec.Readings, rec.DataTime, chain.TimeOf(boundary.Add(30*time.Second)))
	}
	waitFor(t, 20*time.Second, "the auditor to settle period 0", func() bool {
		_, err := state.Settlements(auditor.state, 0)
		return err == nil
	})
	recs, err := state.Settlements(auditor.state, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range recs {
		if s.Industry == industry && !reflect.DeepEqual(s, rec) {
			t.Errorf("the auditor's record differs:\n auditor   %+v\n validator %+v", s, rec)
		}
	}
}
