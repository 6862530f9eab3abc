package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
)

// alertCheckpointEvery is how many data blocks pass between two alert
// checkpoints (one is also written at start and at a clean shutdown). A
// variable so that tests may lower it.
var alertCheckpointEvery uint64 = 1000

// alertFlushAlerts bounds the alerts held for the next checkpoint write.
const alertFlushAlerts = 10_000

// Node records of the alert engine (chain/store node records):
//
//	alerts/checkpoint          version (1 byte), data height (8 bytes), engine snapshot
//	alerts/block/<height hex>  the chain alerts data block <height> raised (canonical CBOR)
//
// A checkpoint is written in one batch with the block records of the
// blocks up to its height, so the records are complete up to it.
const (
	alertCheckpointName    = "alerts/checkpoint"
	alertBlockPrefix       = "alerts/block/"
	alertCheckpointVersion = 1
)

// ErrAlertCheckpoint is returned (wrapped) for an alert checkpoint that
// cannot be used; the node then rebuilds the alert state from genesis.
var ErrAlertCheckpoint = errors.New("unusable alert checkpoint")

func alertBlockName(h uint64) string { return fmt.Sprintf("%s%016x", alertBlockPrefix, h) }

// alertCheckpointer follows the data blocks the engine observed and the
// block records not yet written. Used on the loop (and by startAlerts and
// Close, when the loop is not running).
type alertCheckpointer struct {
	height  uint64 // last data block observed
	pending []store.NodeRecord
	alerts  int  // alerts in pending
	broken  bool // a block was skipped: stop checkpointing
}

// observed notes that the engine observed data block h, which raised as,
// and writes a checkpoint every alertCheckpointEvery blocks.
func (c *alertCheckpointer) observed(n *Node, h uint64, as []alerts.Alert) error {
	if c.broken {
		return nil
	}
	if h != c.height+1 {
		c.broken, c.pending = true, nil
		return fmt.Errorf("%w: observed data/%d after data/%d; no more checkpoints until a restart", ErrAlertCheckpoint, h, c.height)
	}
	c.height = h
	if len(as) > 0 {
		enc, err := chain.Encode(as)
		if err != nil {
			return fmt.Errorf("encoding the alerts of data/%d: %w", h, err)
		}
		c.pending = append(c.pending, store.NodeRecord{Name: alertBlockName(h), Value: enc})
		c.alerts += len(as)
	}
	if h%alertCheckpointEvery == 0 || c.alerts >= alertFlushAlerts {
		return n.saveAlertCheckpoint()
	}
	return nil
}

// saveAlertCheckpoint writes the engine's state as of the last observed
// data block, with the pending block records, in one batch.
func (n *Node) saveAlertCheckpoint() error {
	c := &n.alertCk
	if n.alerts == nil || c.broken {
		return nil
	}
	snap, err := n.alerts.Snapshot()
	if err != nil {
		return fmt.Errorf("alerts: snapshot at data/%d: %w", c.height, err)
	}
	v := make([]byte, 0, 9+len(snap))
	v = append(v, alertCheckpointVersion)
	v = binary.BigEndian.AppendUint64(v, c.height)
	v = append(v, snap...)
	if err := n.store.PutNodeRecords(append(c.pending, store.NodeRecord{Name: alertCheckpointName, Value: v})...); err != nil {
		return fmt.Errorf("alerts: checkpoint at data/%d: %w", c.height, err)
	}
	c.pending, c.alerts = nil, 0
	return nil
}

// loadAlertCheckpoint restores the engine from the checkpoint and returns
// the data height it reflects. It returns an error wrapping
// store.ErrNotFound when there is none, and one wrapping
// ErrAlertCheckpoint (the engine left fresh) when it cannot be used.
func (n *Node) loadAlertCheckpoint(head uint64) (uint64, error) {
	v, err := n.store.GetNodeRecord(alertCheckpointName)
	if err != nil {
		return 0, fmt.Errorf("alerts: reading the checkpoint: %w", err)
	}
	if len(v) < 9 {
		return 0, fmt.Errorf("%w: %d bytes", ErrAlertCheckpoint, len(v))
	}
	if v[0] != alertCheckpointVersion {
		return 0, fmt.Errorf("%w: version %d, this node writes version %d", ErrAlertCheckpoint, v[0], alertCheckpointVersion)
	}
	h := binary.BigEndian.Uint64(v[1:9])
	if h > head {
		return 0, fmt.Errorf("%w: it reflects data/%d, above the data head %d", ErrAlertCheckpoint, h, head)
	}
	if err := n.alerts.Restore(v[9:]); err != nil {
		return 0, fmt.Errorf("%w: data/%d: %w", ErrAlertCheckpoint, h, err)
	}
	return h, nil
}

// refillAlertLog adds to the alert log the last maxAlertsKept chain alerts
// of the blocks up to height upTo, from their block records, oldest first.
// Its cost is bounded by maxAlertsKept, not by the length of the chain.
func (n *Node) refillAlertLog(upTo uint64) error {
	var chunks [][]alerts.Alert // newest first
	total := 0
	err := n.store.IterateNodeRecords(alertBlockPrefix, true, func(name string, v []byte) error {
		h, err := strconv.ParseUint(strings.TrimPrefix(name, alertBlockPrefix), 16, 64)
		if err != nil {
			return fmt.Errorf("%w: record %q: %v", ErrAlertCheckpoint, name, err)
		}
		if h > upTo {
			return nil
		}
		var as []alerts.Alert
		if err := chain.Decode(v, &as); err != nil {
			return fmt.Errorf("%w: alerts of data/%d: %w", ErrAlertCheckpoint, h, err)
		}
		chunks = append(chunks, as)
		if total += len(as); total >= maxAlertsKept {
			return store.ErrStop
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("alerts: reading the alert records: %w", err)
	}
	for i := len(chunks) - 1; i >= 0; i-- {
		n.alertLog.Add(chunks[i]...)
	}
	return nil
}

// dropAlertRecords deletes the alert checkpoint and block records, before
// a rebuild from genesis (which writes them anew).
func (n *Node) dropAlertRecords() error {
	var dels []store.NodeRecord
	if err := n.store.IterateNodeRecords("alerts/", false, func(name string, _ []byte) error {
		dels = append(dels, store.NodeRecord{Name: name, Delete: true})
		return nil
	}); err != nil {
		return fmt.Errorf("alerts: listing the alert records: %w", err)
	}
	for len(dels) > 0 {
		k := min(len(dels), 10_000)
		if err := n.store.PutNodeRecords(dels[:k]...); err != nil {
			return fmt.Errorf("alerts: deleting the alert records: %w", err)
		}
		dels = dels[k:]
	}
	return nil
}

// closeAlerts writes a last checkpoint at a clean shutdown, once the loop
// has stopped.
func (n *Node) closeAlerts() {
	if err := n.saveAlertCheckpoint(); err != nil {
		n.log.Warn("alert checkpoint not written at shutdown", "err", err)
	}
}
