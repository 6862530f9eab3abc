package node

import (
	"context"
	"encoding/json"
	"log/slog"
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
// latency, alerts, metrics, and the events of a block not announced at
// its decision (block sync's).
func (n *Node) afterCommit(b *chain.Block, took time.Duration) {
	n.afterCommits([]committed{{block: b, took: took}})
}

// committed is a block just stored, with what verifying it learned: the
// hashes of a data block's readings (nil: afterCommits computes them) and
// the size of the validator set that certified it (0: looked up when an
// event needs it).
type committed struct {
	block      *chain.Block
	took       time.Duration
	hashes     []chain.Hash
	validators int
	// announced: the block's events went out when consensus decided it
	// (announce), before the write.
	announced bool
}

// afterCommits is afterCommit for blocks stored in order (one block
// committed by consensus, or a batch of block sync), once n.state holds
// the state after the last of them. What each block needs is done block
// by block, in order: image index, finality and the mempool's rate, alert
// rules, events. What depends only on the state after the last block
// (dropping waiting entries it makes stale, gauges) is done once: for a
// sync batch of thousands of blocks, once rather than per block, with the
// same outcome since every block's afterCommit would read that same
// state.
func (n *Node) afterCommits(cs []committed) {
	if len(cs) == 0 {
		return
	}
	sr := n.state
	var entries [3]int
	var tops [3]uint64
	var dataBlocks []*chain.Block
	var txHashes []chain.Hash
	ctxs := n.loopContexts()
	wantBlocks, wantFinal := n.hub.Wants(events.KindBlock), n.hub.Wants(events.KindFinal)
	debug := n.log.Enabled(context.Background(), slog.LevelDebug)
	for i := range cs {
		c := &cs[i]
		b := c.block
		lane := b.Header.Lane
		tops[lane] = b.Header.Height
		entries[lane] += b.NumEntries()
		n.metrics.commitSeconds.WithLabelValues(lane.String()).Observe(c.took.Seconds())
		if lane == chain.LaneData {
			dataBlocks = append(dataBlocks, b)
			n.images.Index(b) // before the mempool forgets the readings: an upload finds them in one or the other
			if c.hashes == nil {
				c.hashes = readingHashes(b.Readings)
			}
			now := time.Now()
			n.submitted.mu.Lock()
			if len(n.submitted.at) > 0 {
				for _, h := range c.hashes {
					if at, ok := n.submitted.at[h]; ok {
						n.metrics.finality.Observe(now.Sub(at).Seconds())
						delete(n.submitted.at, h)
					}
				}
			}
			n.submitted.mu.Unlock()
			n.readings.FinalizedBlock(c.hashes, b.Header.Time.Std(), now)
			n.observeAlerts(b, ctxs)
		} else {
			for _, tx := range b.Txs {
				txHashes = append(txHashes, tx.Hash())
			}
		}
		if !c.announced {
			n.publishBlockEvents(c, wantBlocks, wantFinal)
		}
		if debug {
			n.log.Debug("block final", "lane", lane, "height", b.Header.Height, "hash", b.Hash().Short(), "entries", b.NumEntries(), "took", c.took)
		}
	}
	for _, lane := range chain.Lanes {
		if tops[lane] > 0 {
			ls := lane.String()
			n.metrics.height.WithLabelValues(ls).Set(float64(tops[lane]))
			n.metrics.entries.WithLabelValues(ls).Add(float64(entries[lane]))
		}
	}
	if len(dataBlocks) > 0 && n.readings.Len() > 0 {
		// Waiting readings of the blocks' devices that their device
		// record no longer admits (at or below its last seq, and not in
		// an open gap) can never be final now.
		// The device records are read only for devices with readings
		// waiting, mostly none of a block's (a meter sends every few
		// seconds, a block is final in a fraction of one).
		data := map[chain.PubKey]*state.DeviceData{}
		for _, b := range dataBlocks {
			for _, r := range b.Readings {
				data[r.Device] = nil
			}
		}
		// n.state may hold a block not written yet (commitwriter.go):
		// its readings stay until it is.
		n.readings.RemoveIf(func(r *chain.Reading) bool {
			d, ok := data[r.Device]
			if !ok {
				return false
			}
			if d == nil {
				dev, err := state.GetDevice(sr, r.Device)
				if err != nil {
					return false
				}
				d = &dev.Data
				data[r.Device] = d
			}
			return !d.CanRecord(r.Seq) && !n.queuedReading(r.Device, r.Seq)
		})
	}
	if tops[chain.LaneTx] > 0 {
		n.txs.Remove(txHashes)
		if n.txs.Len() > 0 {
			n.txs.RemoveIf(func(tx *chain.Tx) bool {
				a, err := state.GetAccount(sr, tx.From.Address())
				return err == nil && tx.Nonce <= a.Nonce
			})
		}
	}
	n.metrics.mempool.WithLabelValues("data").Set(float64(n.readings.Len()))
	n.metrics.mempool.WithLabelValues("tx").Set(float64(n.txs.Len()))
}

// publishBlockEvents sends the block and final events of c's block to
// the event hub's subscribers (wantBlocks, wantFinal: whether any wants
// them). c.hashes must be set for a data block with readings.
func (n *Node) publishBlockEvents(c *committed, wantBlocks, wantFinal bool) {
	b := c.block
	lane := b.Header.Lane
	if wantBlocks {
		ev := BlockEvent{
			Lane: lane, Height: b.Header.Height, Hash: b.Hash(), Time: b.Header.Time,
			Entries: b.NumEntries(), Proposer: b.Header.Proposer, Validators: c.validators,
		}
		if b.Cert != nil {
			ev.Round, ev.Signers = b.Cert.Round, len(b.Cert.Sigs)
		}
		if ev.Validators == 0 {
			if vs, err := n.validatorSet(lane, b.Header.Height); err == nil {
				ev.Validators = vs.Size()
			}
		}
		n.hub.Publish(events.KindBlock, ev)
	}
	if lane == chain.LaneData && wantFinal {
		for i, r := range b.Readings {
			n.hub.PublishAbout(events.KindFinal, r.Device, api.FinalEvent{
				Hash: c.hashes[i], Device: r.Device, Seq: r.Seq, Time: r.Time, Height: b.Header.Height, Index: uint32(i),
			})
		}
	}
}

// announce sends the events of a block consensus decided, queued for the
// commit writer (commit): it is final, and until it is written the API
// serves it, its readings' status and their proofs from the queue
// (commitwriter.go), so a subscriber told of it finds it. Waiting for the
// write instead kept a large block's events a write (and the loop's
// taking it back) behind its decision: at twice the peak, half of a
// block of 8,000 readings' way from its building to its events
// (docs/performance-log.md, "Overload held for 30 seconds"). hashes are
// the block's readings' (commit has them). Called on the loop, in commit
// order.
func (n *Node) announce(b *chain.Block, hashes []chain.Hash) {
	wantBlocks, wantFinal := n.hub.Wants(events.KindBlock), n.hub.Wants(events.KindFinal)
	if !wantBlocks && !wantFinal {
		return
	}
	n.publishBlockEvents(&committed{block: b, hashes: hashes}, wantBlocks, wantFinal)
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
