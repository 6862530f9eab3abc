package node

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
)

// alertHistory is a node (store and alert log only) whose data blocks
// 1..300 raised h%3 alerts each, of devices a and b in turn: the blocks up
// to 200 have their alert records written (the last checkpoint), the log
// holds the alerts of blocks 150..300 and two local alerts. It returns
// every chain alert, newest first.
func alertHistory(t *testing.T) (*Node, []alerts.Alert, [2]chain.PubKey) {
	t.Helper()
	st, err := store.Open(store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	devs := [2]chain.PubKey{{0xa}, {0xb}}
	n := &Node{store: st, alertLog: alerts.NewLog(maxAlertsKept)}
	n.heads[chain.LaneData].Store(&chain.Header{Lane: chain.LaneData, Height: 300})
	var all []alerts.Alert // oldest first
	var recs []store.NodeRecord
	for h := uint64(1); h <= 300; h++ {
		var as []alerts.Alert
		for i := range h % 3 {
			as = append(as, alerts.Alert{
				ID: chain.HashBytes([]byte(fmt.Sprint(h, i))), Device: devs[(h+i)%2], Kind: alerts.KindLeak,
				Time: chain.Time(h * 1000), Height: h, Message: fmt.Sprintf("data/%d #%d", h, i),
			})
		}
		all = append(all, as...)
		if h <= 200 && len(as) > 0 {
			enc, err := chain.Encode(as)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, store.NodeRecord{Name: alertBlockName(h), Value: enc})
		}
		if h >= 150 {
			n.alertLog.Add(as...)
		}
		if h == 160 || h == 299 {
			n.alertLog.Add(alerts.Alert{ID: chain.HashBytes([]byte(fmt.Sprint("local", h))), Kind: alerts.KindLeak, Local: true, Time: chain.Time(h * 1000)})
		}
	}
	if err := st.PutNodeRecords(recs...); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(all)
	return n, all, devs
}

// alertPages follows the cursors from the first page to the last.
func alertPages(t *testing.T, n *Node, f alerts.Filter) (chain, local []alerts.Alert, pages int) {
	t.Helper()
	q := api.AlertQuery{Filter: f}
	for {
		page, next, err := n.Alerts(q)
		if err != nil {
			t.Fatal(err)
		}
		if pages++; pages > 10_000 {
			t.Fatal("the cursors do not end")
		}
		if len(page) > f.Limit {
			t.Fatalf("a page of %d, limit %d", len(page), f.Limit)
		}
		for _, a := range page {
			if isChainAlert(a) {
				chain = append(chain, a)
			} else {
				local = append(local, a)
			}
		}
		if next == nil {
			return chain, local, pages
		}
		q.Before = next
	}
}

func ids(as []alerts.Alert) []chain.Hash {
	out := make([]chain.Hash, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

// TestAlertPagesReachGenesis: following the cursors from the newest page
// lists every chain alert once, newest first, from the log and from the
// per-block records (below the log's alerts and below the last
// checkpoint), with or without a filter, whatever the page size.
func TestAlertPagesReachGenesis(t *testing.T) {
	n, all, devs := alertHistory(t)
	for _, limit := range []int{1, 7, 50, 1000} {
		got, local, pages := alertPages(t, n, alerts.Filter{Limit: limit})
		if !slices.Equal(ids(got), ids(all)) {
			t.Fatalf("limit %d: %d chain alerts in %d pages, want %d", limit, len(got), pages, len(all))
		}
		// Local alerts are in the log only: the first page lists those
		// it reaches (the one of block 160 is 150 alerts down).
		wantLocal := 1
		if limit == 1000 {
			wantLocal = 2
		}
		if len(local) != wantLocal {
			t.Fatalf("limit %d: %d local alerts, want %d", limit, len(local), wantLocal)
		}
	}
	var ofB []alerts.Alert
	for _, a := range all {
		if a.Device == devs[1] {
			ofB = append(ofB, a)
		}
	}
	got, _, _ := alertPages(t, n, alerts.Filter{Device: devs[1], Limit: 9})
	if !slices.Equal(ids(got), ids(ofB)) {
		t.Fatalf("device b: %d alerts, want %d", len(got), len(ofB))
	}
}

// TestAlertPagesBoundedScan: a filter that matches nothing reads at most
// maxAlertRecordsScanned records a page, and the cursors still reach
// genesis; a cursor naming an alert its block did not raise is a 400.
func TestAlertPagesBoundedScan(t *testing.T) {
	n, _, _ := alertHistory(t)
	defer func(v int) { maxAlertRecordsScanned = v }(maxAlertRecordsScanned)
	maxAlertRecordsScanned = 10
	got, _, pages := alertPages(t, n, alerts.Filter{Device: chain.PubKey{0xc}, Limit: 100})
	// 134 records of blocks 1..200 (h%3 != 0) at 10 a page, after the
	// first page from the log.
	if len(got) != 0 || pages < 14 || pages > 16 {
		t.Fatalf("%d alerts in %d pages, want none in 15±1", len(got), pages)
	}
	_, _, err := n.Alerts(api.AlertQuery{Filter: alerts.Filter{Limit: 5}, Before: &api.AlertCursor{Height: 100, ID: chain.Hash{1}}})
	var he *api.HTTPError
	if !errors.As(err, &he) || he.Status != 400 {
		t.Fatalf("unknown alert in the cursor: %v, want a 400", err)
	}
}
