package node

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/events"
)

// BlockEvent is the payload of a "block" event.
type BlockEvent struct {
	Lane       chain.Lane   `json:"lane"`
	Height     uint64       `json:"height"`
	Hash       chain.Hash   `json:"hash"`
	Time       chain.Time   `json:"time"`
	Entries    int          `json:"entries"`
	Proposer   chain.PubKey `json:"proposer"`
	Round      uint32       `json:"round"`
	Signers    int          `json:"signers"`
	Validators int          `json:"validators"`
}

// submitted remembers when readings entered this node's door, to measure
// submit-to-final latency. Guarded by its mutex; bounded by the mempool.
type submitted struct {
	mu sync.Mutex // guards at
	at map[chain.Hash]time.Time
}

func (n *Node) noteSubmitted(hashes []chain.Hash) {
	now := time.Now()
	n.submitted.mu.Lock()
	defer n.submitted.mu.Unlock()
	if n.submitted.at == nil {
		n.submitted.at = make(map[chain.Hash]time.Time)
	}
	if len(n.submitted.at) > 4*n.cfg.Mempool.MaxReadings {
		clear(n.submitted.at)
	}
	for _, h := range hashes {
		n.submitted.at[h] = now
	}
}

// afterCommit runs on the loop after a block is stored: mempool clean-up,
// latency, alerts, events, metrics.
func (n *Node) afterCommit(b *chain.Block, took time.Duration) {
	lane := b.Header.Lane
	ls := lane.String()
	n.metrics.height.WithLabelValues(ls).Set(float64(b.Header.Height))
	n.metrics.entries.WithLabelValues(ls).Add(float64(b.NumEntries()))
	n.metrics.commitSeconds.WithLabelValues(ls).Observe(took.Seconds())
	sr := n.state
	var hashes []chain.Hash // of the readings of a data block
	if lane == chain.LaneData {
		n.images.Index(b) // before the mempool forgets the readings: an upload finds them in one or the other
		hashes = make([]chain.Hash, len(b.Readings))
		now := time.Now()
		n.submitted.mu.Lock()
		for i, r := range b.Readings {
			hashes[i] = r.Hash()
			if at, ok := n.submitted.at[hashes[i]]; ok {
				n.metrics.finality.Observe(now.Sub(at).Seconds())
				delete(n.submitted.at, hashes[i])
			}
		}
		n.submitted.mu.Unlock()
		n.readings.FinalizedBlock(hashes, now)
		if n.readings.Len() > 0 {
			// Waiting readings of the block's devices that their device
			// record no longer admits (at or below its last seq, and not
			// in an open gap) can never be final now.
			data := map[chain.PubKey]*state.DeviceData{}
			for _, r := range b.Readings {
				if _, ok := data[r.Device]; !ok {
					if d, err := state.GetDevice(sr, r.Device); err == nil {
						data[r.Device] = &d.Data
					}
				}
			}
			n.readings.RemoveIf(func(r *chain.Reading) bool {
				d, ok := data[r.Device]
				return ok && !d.CanRecord(r.Seq)
			})
		}
		n.observeAlerts(b)
	} else {
		hashes := make([]chain.Hash, len(b.Txs))
		for i, tx := range b.Txs {
			hashes[i] = tx.Hash()
		}
		n.txs.Remove(hashes)
		if n.txs.Len() > 0 {
			n.txs.RemoveIf(func(tx *chain.Tx) bool {
				a, err := state.GetAccount(sr, tx.From.Address())
				return err == nil && tx.Nonce <= a.Nonce
			})
		}
	}
	n.metrics.mempool.WithLabelValues("data").Set(float64(n.readings.Len()))
	n.metrics.mempool.WithLabelValues("tx").Set(float64(n.txs.Len()))
	ev := BlockEvent{
		Lane: lane, Height: b.Header.Height, Hash: b.Hash(), Time: b.Header.Time,
		Entries: b.NumEntries(), Proposer: b.Header.Proposer,
	}
	if b.Cert != nil {
		ev.Round, ev.Signers = b.Cert.Round, len(b.Cert.Sigs)
	}
	if vs, err := n.validatorSet(lane, b.Header.Height); err == nil {
		ev.Validators = vs.Size()
	}
	n.hub.Publish(events.KindBlock, ev)
	if lane == chain.LaneData && n.hub.Wants(events.KindFinal) {
		for i, r := range b.Readings {
			n.hub.PublishAbout(events.KindFinal, r.Device, api.FinalEvent{
				Hash: hashes[i], Device: r.Device, Seq: r.Seq, Time: r.Time, Height: b.Header.Height, Index: uint32(i),
			})
		}
	}
	n.log.Debug("block final", "lane", lane, "height", b.Header.Height, "hash", b.Hash().Short(), "entries", b.NumEntries(), "took", took)
}

// submitEvidence records an equivocation on the tx chain with a
// transaction signed by this node's key (validators only; the state
// machine deduplicates evidence, so several nodes submitting is harmless).
func (n *Node) submitEvidence(ev *chain.Evidence) {
	if n.role != RoleValidator {
		return
	}
	sr := n.state
	acct, err := state.GetAccount(sr, n.key.Public().Address())
	if err != nil {
		n.log.Warn("cannot submit evidence", "err", err)
		return
	}
	nonce := acct.Nonce + 1 + uint64(len(n.txs.Pending(n.key.Public())))
	tx := &chain.Tx{From: n.key.Public(), Nonce: nonce, Evidence: ev}
	tx.Sign(n.chainID, n.key)
	if err := n.admitTx(tx); err != nil {
		n.log.Debug("evidence not submitted", "err", err)
		return
	}
	n.publish(n.topics.txs, chain.MustEncode(tx))
}

// httpHandler is the API with the dashboard and metrics mounted.
func (n *Node) httpHandler() http.Handler {
	return api.NewHandler(n, api.Options{
		Logger:        n.log,
		MaxImageBytes: n.cfg.Images.MaxBytes,
		MaxBodyBytes:  n.cfg.API.Limits.MaxBodyBytes,
		Extra: func(r chi.Router) {
			r.Handle("/metrics", promhttp.HandlerFor(lintedGatherer{n.registry}, promhttp.HandlerOpts{}))
			if n.dashboard != nil {
				r.Handle("/*", n.dashboard)
			} else {
				r.Get("/", func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					_ = json.NewEncoder(w).Encode(map[string]string{"waterchain": Version, "api": "/v1/status"})
				})
			}
		},
	})
}

// startBackground starts the goroutines beside the loop: block sync and
// image fetching.
func (n *Node) startBackground() {
	n.wg.Add(1)
	go n.syncLoop()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.images.Run(n.ctx)
	}()
}
