package node

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
)

// maxAlertRecordsScanned bounds the per-block alert records one page of
// GET /v1/alerts?before= reads: a filter that matches rarely ends the page
// short, with a cursor below the last block read, rather than reading
// back to genesis. A variable so that tests may lower it.
var maxAlertRecordsScanned = 5_000

// Alerts answers GET /v1/alerts. Without a cursor, the page comes from the
// alert log in memory (the newest alerts, local ones too); with one, from
// the chain alerts of the data blocks below it: their per-block records
// (alerts_checkpoint.go) and, for the blocks since the last checkpoint,
// whose records are not written yet, the log, which holds them.
func (n *Node) Alerts(q api.AlertQuery) ([]alerts.Alert, *api.AlertCursor, error) {
	if n.alertLog == nil {
		return nil, nil, api.NotFound("alerts are disabled on this node (config alerts.enabled)")
	}
	if q.Before == nil {
		page := n.alertLog.List(q.Filter)
		// The next page starts after the page's oldest chain alert, or
		// below the head when it holds none (only local alerts).
		for i := len(page) - 1; i >= 0; i-- {
			if isChainAlert(page[i]) {
				return page, &api.AlertCursor{Height: page[i].Height, ID: page[i].ID}, nil
			}
		}
		return page, &api.AlertCursor{Height: n.Height(chain.LaneData) + 1}, nil
	}
	return alertPage(n.store, n.alertLog, q)
}

// isChainAlert tells the alerts the chain's blocks raised, which the
// per-block records keep, from local ones (door rejects, images).
func isChainAlert(a alerts.Alert) bool { return a.Height > 0 && !a.Local }

func alertMatches(f alerts.Filter, a alerts.Alert) bool {
	return (f.Device.IsZero() || a.Device == f.Device) &&
		(f.Industry.IsZero() || a.Industry == f.Industry) &&
		(f.Kind == "" || a.Kind == f.Kind) && a.Time >= f.Since
}

// alertPage is a page of chain alerts below q.Before, newest first (in a
// block, the reverse of the order the rules raised them, as the log lists
// them), and the cursor of the next page.
func alertPage(st *store.Store, log *alerts.Log, q api.AlertQuery) ([]alerts.Alert, *api.AlertCursor, error) {
	c, f := *q.Before, q.Filter
	top := c.Height // the first block read: c.Height itself only after an alert of it
	if c.ID.IsZero() {
		top--
	}
	// The log's chain alerts of the blocks from top down, by block.
	type block struct {
		height uint64
		alerts []alerts.Alert // newest first
	}
	var live []block
	for _, a := range log.List(alerts.Filter{}) {
		if !isChainAlert(a) || a.Height > top {
			continue
		}
		if len(live) == 0 || live[len(live)-1].height != a.Height {
			live = append(live, block{height: a.Height})
		}
		live[len(live)-1].alerts = append(live[len(live)-1].alerts, a)
	}

	out := []alerts.Alert{}
	var next *api.AlertCursor
	// add adds the alerts of block h that f selects, after the cursor's
	// alert in block c.Height; it reports a full page.
	add := func(h uint64, as []alerts.Alert) (bool, error) {
		if h == c.Height && !c.ID.IsZero() {
			i := slices.IndexFunc(as, func(a alerts.Alert) bool { return a.ID == c.ID })
			if i < 0 {
				return false, api.BadRequest("parameter before %q: data block %d raised no alert %s; use the Link header of the previous page", c.String(), h, c.ID)
			}
			as = as[i+1:]
		}
		for _, a := range as {
			if !alertMatches(f, a) {
				continue
			}
			out = append(out, a)
			if f.Limit > 0 && len(out) == f.Limit {
				next = &api.AlertCursor{Height: h, ID: a.ID}
				return true, nil
			}
		}
		return false, nil
	}
	scanned := 0
	err := st.IterateNodeRecordsBefore(alertBlockPrefix, alertBlockName(top+1), func(name string, v []byte) error {
		h, err := strconv.ParseUint(strings.TrimPrefix(name, alertBlockPrefix), 16, 64)
		if err != nil {
			return fmt.Errorf("alert record %q: %w", name, err)
		}
		for ; len(live) > 0 && live[0].height >= h; live = live[1:] {
			if live[0].height == h {
				continue // the record is complete; the log may have lost the start of its oldest block
			}
			if full, err := add(live[0].height, live[0].alerts); full || err != nil {
				return stopOr(err)
			}
		}
		var as []alerts.Alert
		if err := chain.Decode(v, &as); err != nil {
			return fmt.Errorf("alerts of data/%d: %w", h, err)
		}
		slices.Reverse(as)
		if full, err := add(h, as); full || err != nil {
			return stopOr(err)
		}
		if scanned++; scanned == maxAlertRecordsScanned && h > 1 {
			next = &api.AlertCursor{Height: h}
			return store.ErrStop
		}
		return nil
	})
	if err != nil || next != nil {
		return out, next, err
	}
	for _, b := range live {
		if full, err := add(b.height, b.alerts); full || err != nil {
			return out, next, err
		}
	}
	return out, nil, nil
}

// stopOr ends an iteration: with err, or without one.
func stopOr(err error) error {
	if err != nil {
		return err
	}
	return store.ErrStop
}
