package node

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/events"
)

// replayContextsBlocks bounds the data blocks a replay memoizes state
// reads over (stateContexts).
const replayContextsBlocks = 1024

// maxAlertsKept bounds the alerts a node keeps in memory for the API.
const maxAlertsKept = 20_000

// startAlerts builds the alert rules and brings them to the head of the
// finalized data chain, so this node derives the same alerts as every
// other node (the rules keep per-device state from genesis on): from the
// alert checkpoint when there is a usable one, replaying only the blocks
// after it, else from genesis. The alert log is refilled with the last
// maxAlertsKept chain alerts, read back from the per-block alert records
// up to the checkpoint and replayed after it.
func (n *Node) startAlerts() error {
	if !n.cfg.Alerts.Enabled {
		return nil
	}
	newEngine := func() error {
		eng, err := alerts.NewEngine(alerts.Config{
			ReadingInterval: n.gen.Params.ReadingInterval.Std(),
			ReadingWindow:   n.gen.Params.ReadingWindow.Std(),
			Thresholds:      n.cfg.Alerts.Thresholds,
		})
		if err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
		n.alerts, n.alertLog = eng, alerts.NewLog(maxAlertsKept)
		return nil
	}
	if err := newEngine(); err != nil {
		return err
	}
	head := n.Height(chain.LaneData)
	start := time.Now()
	from, err := n.loadAlertCheckpoint(head)
	if err == nil {
		err = n.refillAlertLog(from)
	}
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		if head > 0 {
			n.log.Warn("no alert checkpoint: rebuilding the alert state from the data chain", "blocks", head)
		}
	case errors.Is(err, ErrAlertCheckpoint):
		n.log.Warn("alert checkpoint unusable: rebuilding the alert state from the data chain", "err", err, "blocks", head)
		from = 0
		if err := newEngine(); err != nil {
			return err
		}
		if err := n.dropAlertRecords(); err != nil {
			return err
		}
	default:
		return err // the store failed
	}
	eng := n.alerts
	n.alertCk = alertCheckpointer{height: from}
	// The state does not change during the replay: its reads are
	// memoized, afresh every replayContextsBlocks blocks (the permits are
	// memoized per tx height).
	ctxs := newStateContexts(n)
	for h := from + 1; h <= head; h++ {
		b, err := n.store.Block(chain.LaneData, h)
		if err != nil {
			return fmt.Errorf("alerts: replaying data/%d: %w", h, err)
		}
		if (h-from)%replayContextsBlocks == 0 {
			ctxs = newStateContexts(n)
		}
		as := eng.ObserveBlock(b, ctxs.at(b.Header.Anchor.Height))
		n.alertLog.Add(as...)
		if err := n.alertCk.observed(n, h, as); err != nil {
			return err
		}
	}
	if err := n.saveAlertCheckpoint(); err != nil {
		return err
	}
	n.replayImageAlerts() // image alerts are not chain-derived; see node/images
	if head > 0 {
		n.log.Info("alerts replayed from the data chain", "from_checkpoint", from, "blocks", head-from, "alerts", n.alertLog.Len(), "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// deviceContext is what the tx chain says of a device's industry as of tx
// height txHeight: its owner, the owner's name, and the discharge limits of
// the permit it held then (state.PermitAt), so that replaying the chain
// after a permit change judges old readings by the old permit, as the nodes
// that saw them live did.
func (n *Node) deviceContext(dev chain.PubKey, txHeight uint64) alerts.DeviceContext {
	return newStateContexts(n).at(txHeight)(dev)
}

// stateContexts memoizes the state reads of deviceContext for as long as
// n.state's tx namespace does not change: the data blocks finalized while
// the tx chain stands still (loopContexts), or the blocks of a sync batch
// (all applied to n.state before their alerts are observed), whose data
// blocks name many anchors but the same devices and industries.
// Device owners are memoized longer, in n.owners: a device's owner never
// changes once it is registered. Used on the loop.
type stateContexts struct {
	n          *Node
	industries map[chain.Address]string // name; "" when there is no record
	limits     map[permitAt]chain.Limits
	// txTip is the tx height n.state held when the loop's contexts were
	// made (loopContexts).
	txTip uint64
}

// maxContextLimits bounds the permits a stateContexts keeps.
const maxContextLimits = 4096

// loopContexts returns the loop's stateContexts for the blocks it
// finalizes now. Industries and permits are tx state, so the contexts stay
// valid across data blocks until the tx chain moves: kept, they spare each
// data block the industry and permit reads of its devices' owners (about
// 1% of the CPU of 16 validators at 500 readings/s, where each block
// names most industries). Called on the loop.
func (n *Node) loopContexts() *stateContexts {
	tip := n.tipHeight(chain.LaneTx)
	if c := n.alertContexts; c != nil && c.txTip == tip && len(c.limits) < maxContextLimits {
		return c
	}
	n.alertContexts = newStateContexts(n)
	n.alertContexts.txTip = tip
	return n.alertContexts
}

type permitAt struct {
	industry chain.Address
	txHeight uint64
}

func newStateContexts(n *Node) *stateContexts {
	return &stateContexts{n: n, industries: map[chain.Address]string{}, limits: map[permitAt]chain.Limits{}}
}

// at is deviceContext as of txHeight.
func (c *stateContexts) at(txHeight uint64) func(chain.PubKey) alerts.DeviceContext {
	return func(dev chain.PubKey) alerts.DeviceContext {
		owner, ok := c.n.owners.get(c.n.state, dev)
		if !ok {
			return alerts.DeviceContext{}
		}
		name, ok := c.industries[owner]
		if !ok {
			if ind, err := state.GetIndustry(c.n.state, owner); err == nil {
				name = ind.Name
			}
			c.industries[owner] = name
		}
		k := permitAt{owner, txHeight}
		limits, ok := c.limits[k]
		if !ok {
			if p, err := state.PermitAt(c.n.state, owner, txHeight); err == nil {
				limits = p.Permit.Limits
			}
			c.limits[k] = limits
		}
		return alerts.DeviceContext{Industry: owner, IndustryName: name, Limits: limits}
	}
}

// maxCachedOwners bounds ownerCache (about 100 bytes an entry): more
// registered devices than a basin has meters, and the cache starts over.
const maxCachedOwners = 1 << 18

// ownerCache remembers the owners of registered devices, which never
// change (a revoked device keeps its record, and its key is never
// registered again), so that the alert rules do not read and decode a
// device record for every reading of every block. A device without a
// record is not remembered: it may be registered later. Safe for
// concurrent use (door rejections look owners up off the loop).
type ownerCache struct {
	mu     sync.RWMutex
	owners map[chain.PubKey]chain.Address
}

// get returns dev's owner from the cache or else from sr, and whether dev
// has a record there.
func (c *ownerCache) get(sr state.Reader, dev chain.PubKey) (chain.Address, bool) {
	c.mu.RLock()
	owner, ok := c.owners[dev]
	c.mu.RUnlock()
	if ok {
		return owner, true
	}
	d, err := state.GetDevice(sr, dev)
	if err != nil {
		return chain.Address{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owners == nil || len(c.owners) >= maxCachedOwners {
		c.owners = make(map[chain.PubKey]chain.Address)
	}
	c.owners[dev] = d.Owner
	return d.Owner, true
}

// observeAlerts feeds a finalized data block to the alert rules. Called on
// the loop, in height order.
func (n *Node) observeAlerts(b *chain.Block, ctxs *stateContexts) {
	if n.alerts == nil {
		return
	}
	as := n.alerts.ObserveBlock(b, ctxs.at(b.Header.Anchor.Height))
	n.raise(as)
	if err := n.alertCk.observed(n, b.Header.Height, as); err != nil {
		// The checkpoint is a cache: a failed write costs a longer replay
		// at the next start, not an alert.
		n.log.Warn("alert checkpoint not written", "height", b.Header.Height, "err", err)
	}
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
