package node

import (
	"sync"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
)

// syncProgressEvery is how often the log reports block sync progress.
const syncProgressEvery = 5 * time.Second

// syncProgress is what block sync reports while it runs: the target heads,
// the rate over the last few seconds and the time left. The sync stages
// and the loop write it; Status reads it.
type syncProgress struct {
	mu        sync.Mutex // guards everything below
	active    bool
	target    syncStatusResp
	started   time.Time
	synced    uint64 // blocks applied since started
	entries   uint64
	rate      float64 // blocks/s, smoothed
	lastAt    time.Time
	lastCount uint64
	loggedAt  time.Time
}

// begin records a sync towards target.
func (p *syncProgress) begin(n *Node, target syncStatusResp) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
	if p.active {
		return
	}
	now := time.Now()
	p.active, p.started, p.synced, p.entries, p.rate = true, now, 0, 0, 0
	p.lastAt, p.lastCount, p.loggedAt = now, 0, now
	behind := target.Data + target.Tx - min(target.Data, n.Height(chain.LaneData)) - min(target.Tx, n.Height(chain.LaneTx))
	n.log.Info("block sync started", "data", n.Height(chain.LaneData), "tx", n.Height(chain.LaneTx),
		"target_data", target.Data, "target_tx", target.Tx, "blocks_behind", behind)
}

// note records blocks (with entries) applied, and logs progress every
// syncProgressEvery. Called on the loop.
func (p *syncProgress) note(n *Node, blocks, entries int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active {
		return
	}
	p.synced += uint64(blocks)
	p.entries += uint64(entries)
	now := time.Now()
	if dt := now.Sub(p.lastAt).Seconds(); dt >= 1 {
		r := float64(p.synced-p.lastCount) / dt
		if p.rate == 0 {
			p.rate = r
		} else {
			p.rate = 0.5*p.rate + 0.5*r
		}
		p.lastAt, p.lastCount = now, p.synced
	}
	if now.Sub(p.loggedAt) >= syncProgressEvery {
		p.loggedAt = now
		st := p.statusLocked(n)
		n.log.Info("block sync", "data", n.Height(chain.LaneData), "tx", n.Height(chain.LaneTx),
			"target_data", p.target.Data, "target_tx", p.target.Tx,
			"blocks_per_s", int(st.BlocksPerSecond), "eta", time.Duration(st.ETASeconds*float64(time.Second)).Round(time.Second))
	}
}

// stop ends the report of a sync: the node has caught up.
func (p *syncProgress) stop(n *Node) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active {
		return
	}
	p.active = false
	took := time.Since(p.started)
	n.log.Info("block sync caught up", "data", n.Height(chain.LaneData), "tx", n.Height(chain.LaneTx),
		"blocks", p.synced, "entries", p.entries, "took", took.Round(time.Millisecond),
		"blocks_per_s", int(float64(p.synced)/max(took.Seconds(), 1e-3)))
}

// status is the progress for Status, nil when not syncing.
func (p *syncProgress) status(n *Node) *api.SyncStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active {
		return nil
	}
	st := p.statusLocked(n)
	return &st
}

func (p *syncProgress) statusLocked(n *Node) api.SyncStatus {
	st := api.SyncStatus{TargetData: p.target.Data, TargetTx: p.target.Tx, Synced: p.synced, SyncedEntries: p.entries}
	rate := p.rate
	if rate == 0 {
		if el := time.Since(p.started).Seconds(); el > 0 {
			rate = float64(p.synced) / el
		}
	}
	st.BlocksPerSecond = rate
	left := p.target.Data + p.target.Tx - min(p.target.Data, n.Height(chain.LaneData)) - min(p.target.Tx, n.Height(chain.LaneTx))
	st.Remaining = left
	if rate > 0 {
		st.ETASeconds = float64(left) / rate
	}
	return st
}
