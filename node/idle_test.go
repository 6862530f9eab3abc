package node

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/home"
)

// TestIdleNetworkServesEntriesAndSettles: a validator whose idle interval
// is an hour makes no block until something needs one. A register-device
// tx starts a tx block at once; the new meter's reading starts a data
// block at once, anchored to the registration, so the meter reports in a
// quiet hour. Period 0 then ends (devnet periods are 5 minutes; genesis is
// put in the past so that it ends seconds into the test): the tx lane closes
// it with a block timed at its end, the data lane makes a block when its
// reading window ends, and the next tx block settles it, counting the
// reading. Nothing else: every block before the boundary carries entries,
// and /v1/status says the lanes are idle until period 1's boundaries.
func TestIdleNetworkServesEntriesAndSettles(t *testing.T) {
	boundary := time.Now().Add(15 * time.Second).Truncate(time.Second)
	const window = 2 * time.Second
	tn := startTestNetWith(t, 1, 0, 0, testNetOptions{
		network: func(o *home.NetworkOptions) { o.GenesisTime = boundary.Add(-5 * time.Minute) },
		genesis: func(g *genesis.Genesis) {
			g.Params.IdleInterval = chain.Duration(time.Hour)
			g.Params.ReadingWindow = chain.Duration(window)
		},
	})
	n := tn.nodes[0]
	end := chain.TimeOf(boundary)

	st, err := n.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tx := st.Lanes["tx"]; tx.Height != 0 || tx.NextBlockDue != end || !strings.Contains(tx.QuietReason, "ends: the next tx block closes it") {
		t.Fatalf("tx lane at start: %+v; want height 0, quiet until period 0 ends at %s", tx, end)
	}
	if data := st.Lanes["data"]; data.Height != 0 || data.NextBlockDue != end.Add(window) || !strings.Contains(data.QuietReason, "reading window ends") {
		t.Fatalf("data lane at start: %+v; want height 0, quiet until %s", data, end.Add(window))
	}

	industry := tn.account(0)
	dev, err := chain.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	submitTx(t, n, industry, &chain.Tx{RegisterDevice: &chain.RegisterDevice{Device: dev.Public(), Label: "registered in a quiet hour"}})
	waitFor(t, 10*time.Second, "the registration final", func() bool { return n.Height(chain.LaneTx) >= 1 })
	var res api.SubmitReadingsResult
	if code := httpJSON(t, n, http.MethodPost, "/v1/readings", signedReading(n.ChainID(), dev, 1, time.Now()), &res); code != http.StatusAccepted {
		t.Fatalf("reading of the new meter: %d %+v", code, res)
	}
	waitFor(t, 10*time.Second, "the reading final", func() bool { return n.Height(chain.LaneData) >= 1 })
	if b, err := n.store.Block(chain.LaneData, 1); err != nil || len(b.Readings) != 1 || b.Header.Anchor.Height < 1 {
		t.Fatalf("data block 1 (%v): want the reading, anchored to the registration's tx block 1: %+v", err, b)
	}

	industryAddr := industry.Public().Address()
	var rec state.Settlement
	waitFor(t, 40*time.Second, "period 0 settled", func() bool {
		recs, err := state.Settlements(n.state, 0)
		for _, s := range recs {
			if s.Industry == industryAddr {
				rec = s
			}
		}
		return err == nil && rec.Industry == industryAddr
	})
	if rec.Readings != 1 || rec.DataTime < end.Add(window) {
		t.Fatalf("period 0 settled with %d readings, data to %s; want 1, to at least %s", rec.Readings, rec.DataTime, end.Add(window))
	}

	// The chains: blocks before the boundary carry entries; after it, the
	// closing tx block, the data block at the window's end and the
	// settling tx block, and nothing more.
	var empty []string
	for _, lane := range chain.Lanes {
		for h := uint64(1); h <= n.Height(lane); h++ {
			b, err := n.store.Block(lane, h)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Readings)+len(b.Txs) > 0 {
				continue
			}
			if b.Header.Time < end {
				t.Errorf("empty %s block %d timed %s, before the boundary %s: made for nothing", lane, h, b.Header.Time, end)
			}
			empty = append(empty, lane.String())
		}
	}
	if len(empty) > 3 {
		t.Errorf("%d empty blocks (%v); want at most the closing, window and settling ones", len(empty), empty)
	}

	st, err = n.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Period 1 ends five minutes after period 0, well before the hour.
	next := end.Add(5 * time.Minute)
	if tx := st.Lanes["tx"]; tx.NextBlockDue != next || !strings.HasPrefix(tx.QuietReason, "idle: no entries waiting") || tx.Overdue {
		t.Errorf("tx lane after settling: %+v; want quiet until period 1 ends at %s", tx, next)
	}
	if data := st.Lanes["data"]; data.NextBlockDue != next.Add(window) || !strings.HasPrefix(data.QuietReason, "idle: no entries waiting") || data.Overdue {
		t.Errorf("data lane after settling: %+v; want quiet until period 1's window ends at %s", data, next.Add(window))
	}
}
