package node

import (
	"fmt"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/events"
)

// maxAlertsKept bounds the alerts a node keeps in memory for the API.
const maxAlertsKept = 20_000

// startAlerts builds the alert rules and replays the finalized data chain
// through them, so this node derives the same alerts as every other node
// (the rules keep per-device state from genesis on).
func (n *Node) startAlerts() error {
	if !n.cfg.Alerts.Enabled {
		return nil
	}
	eng, err := alerts.NewEngine(alerts.Config{
		ReadingInterval: n.gen.Params.ReadingInterval.Std(),
		ReadingWindow:   n.gen.Params.ReadingWindow.Std(),
		Thresholds:      n.cfg.Alerts.Thresholds,
	})
	if err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	n.alerts, n.alertLog = eng, alerts.NewLog(maxAlertsKept)
	head := n.Height(chain.LaneData)
	start := time.Now()
	for h := uint64(1); h <= head; h++ {
		b, err := n.store.Block(chain.LaneData, h)
		if err != nil {
			return fmt.Errorf("alerts: replaying data/%d: %w", h, err)
		}
		n.alertLog.Add(eng.ObserveBlock(b, n.blockDeviceContexts(b))...)
	}
	n.replayImageAlerts() // image alerts are not chain-derived; see node/images
	if head > 0 {
		n.log.Info("alerts replayed from the data chain", "blocks", head, "alerts", n.alertLog.Len(), "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// deviceContext is what the tx chain says of a device's industry as of tx
// height txHeight: its owner, the owner's name, and the discharge limits of
// the permit it held then (state.PermitAt), so that replaying the chain
// after a permit change judges old readings by the old permit, as the nodes
// that saw them live did.
func (n *Node) deviceContext(dev chain.PubKey, txHeight uint64) alerts.DeviceContext {
	return n.contextsAt(txHeight)(dev)
}

// contextsAt returns deviceContext as of txHeight, memoized per device and
// per industry: a block has many readings per device and many devices per
// industry, and each lookup is several state reads.
func (n *Node) contextsAt(txHeight uint64) func(chain.PubKey) alerts.DeviceContext {
	devices := map[chain.PubKey]alerts.DeviceContext{}
	industries := map[chain.Address]alerts.DeviceContext{}
	return func(dev chain.PubKey) alerts.DeviceContext {
		if dc, ok := devices[dev]; ok {
			return dc
		}
		d, err := state.GetDevice(n.state, dev)
		if err != nil {
			return alerts.DeviceContext{}
		}
		dc, ok := industries[d.Owner]
		if !ok {
			dc = alerts.DeviceContext{Industry: d.Owner}
			if ind, err := state.GetIndustry(n.state, d.Owner); err == nil {
				dc.IndustryName = ind.Name
			}
			if p, err := state.PermitAt(n.state, d.Owner, txHeight); err == nil {
				dc.Limits = p.Permit.Limits
			}
			industries[d.Owner] = dc
		}
		devices[dev] = dc
		return dc
	}
}

// observeAlerts feeds a finalized data block to the alert rules. Called on
// the loop, in height order.
func (n *Node) observeAlerts(b *chain.Block) {
	if n.alerts == nil {
		return
	}
	n.raise(n.alerts.ObserveBlock(b, n.blockDeviceContexts(b)))
}

// blockDeviceContexts is deviceContext for data block b's readings, as of
// its anchor.
func (n *Node) blockDeviceContexts(b *chain.Block) func(chain.PubKey) alerts.DeviceContext {
	return n.contextsAt(b.Header.Anchor.Height)
}

// noteDoorReject records a reading refused at the door for a bad
// signature: a tamper signal (a local alert, rate-limited per device).
func (n *Node) noteDoorReject(r *chain.Reading, err error) {
	if n.alerts == nil {
		return
	}
	if a, ok := n.alerts.DoorReject(r.Device, r.Seq, err.Error(), chain.TimeOf(n.now()), n.deviceContext(r.Device, n.Height(chain.LaneTx))); ok {
		n.raise([]alerts.Alert{a})
	}
}

// raise stores new alerts and streams them.
func (n *Node) raise(as []alerts.Alert) {
	for _, a := range as {
		if n.alertLog.Add(a) == 0 {
			continue // already known
		}
		n.metrics.alerts.WithLabelValues(string(a.Kind)).Inc()
		n.hub.PublishAbout(events.KindAlert, a.Device, a)
	}
}
