package node

import (
	"fmt"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/api"
)

// When a lane proposes (see chain.Params.IdleInterval): at once when
// entries wait; otherwise when the time its schedule gives has come — the
// idle interval after its last block, or a settlement boundary that comes
// first. nextBlockDue is that schedule, a pure function of the lane's and
// the other lane's heads: the loop starts heights by it and the status call
// reports it, so what /v1/status says a lane waits for is what the loop
// waits for.

// scheduleInput is what a lane's schedule depends on.
type scheduleInput struct {
	lane    chain.Lane
	periods chain.Period
	window  chain.Time // reading window, ms
	idle    chain.Time // idle interval, ms
	// head and other are the times of this lane's and the other lane's
	// last blocks (the genesis time before the first).
	head, other chain.Time
	// unsettled is the first closed period not yet settled (tx lane), or
	// -1 when every closed period is settled.
	unsettled int64
}

// blockDue is when a lane with no entries waiting makes its next block at
// the latest, and why then.
type blockDue struct {
	at  chain.Time
	why string
}

// nextBlockDue gives the lane's schedule. The boundaries, each at most once
// per settlement period:
//
//   - tx lane, End(p) of the period its last block is in: the next tx block
//     closes p.
//   - data lane, End(p) + window for the first such time after its last
//     block: the next data block lets every later tx block settle p.
//   - tx lane, End(u) + window for its first unsettled period u, once the
//     data lane has a block timed then or later: the next tx block, which
//     anchors that data block, settles u. Before, the tx lane waits for the
//     data lane, whose own boundary comes at that time.
//
// A block made before its boundary by a proposer whose clock is behind
// leaves the boundary in place, so the lane proposes again at once.
func nextBlockDue(in scheduleInput) blockDue {
	due := blockDue{at: in.head + in.idle, why: fmt.Sprintf("the idle interval %s since the last block", time.Duration(in.idle)*time.Millisecond)}
	earlier := func(at chain.Time, why string) {
		if at < due.at {
			due = blockDue{at: at, why: why}
		}
	}
	if in.lane == chain.LaneTx {
		p := in.periods.Index(in.head)
		earlier(in.periods.End(p), fmt.Sprintf("period %s ends: the next tx block closes it", in.periods.Label(p)))
		if u := in.unsettled; u >= 0 {
			if b := in.periods.End(u) + in.window; in.other >= b {
				earlier(b, fmt.Sprintf("the data chain is past period %s's reading window: the next tx block settles it", in.periods.Label(u)))
			}
		}
		return due
	}
	// The first End(p) + window after head: head − window lies in period p
	// (or before period 0), and every earlier boundary is at or before head.
	p := in.periods.Index(in.head - in.window)
	earlier(in.periods.End(p)+in.window, fmt.Sprintf("period %s's reading window ends: a data block then lets the tx lane settle it", in.periods.Label(p)))
	return due
}

// schedule is the schedule of lane from the node's committed heads. Its
// inputs change only with a commit, so the loop keeps the answer per pair
// of heights (driver.due). Safe from any goroutine.
func (n *Node) schedule(lane chain.Lane) (blockDue, error) {
	in := scheduleInput{
		lane:      lane,
		periods:   n.gen.Period(),
		window:    chain.Time(n.gen.Params.ReadingWindow.Std().Milliseconds()),
		idle:      chain.Time(n.gen.Params.IdleInterval.Std().Milliseconds()),
		head:      n.gen.GenesisTime,
		other:     n.gen.GenesisTime,
		unsettled: -1,
	}
	if h, ok := n.tip(lane); ok {
		in.head = h.Time
	}
	if h, ok := n.tip(lane.Other()); ok {
		in.other = h.Time
	}
	if lane == chain.LaneTx {
		meta, err := state.GetTxMeta(n.state)
		if err != nil {
			return blockDue{}, fmt.Errorf("schedule of the tx lane: %w", err)
		}
		if meta.Unsettled > 0 {
			in.unsettled = meta.FirstUnsettled()
		}
	}
	return nextBlockDue(in), nil
}

// overdueAfter is how long past its due time a lane may go without a block
// before the status calls it overdue (stalled, not quiet): a few rounds
// whose proposers time out.
func overdueAfter(p *chain.Params) time.Duration {
	return 2*p.TimeoutPropose.Std() + 10*p.TimeoutDelta.Std() + maxClockDrift
}

// laneLiveness fills the schedule fields of a lane's status: when its next
// block is due, why it is quiet until then, and whether it is overdue.
func (n *Node) laneLiveness(ls *api.LaneStatus, lane chain.Lane, waiting int, now chain.Time) error {
	due, err := n.schedule(lane)
	if err != nil {
		return err
	}
	ls.NextBlockDue = due.at
	late := now.Sub(due.at)
	switch {
	case late > overdueAfter(&n.gen.Params):
		ls.Overdue = true
	case waiting == 0 && late < 0:
		layout := "15:04:05"
		if due.at.Std().YearDay() != now.Std().YearDay() {
			layout = "2006-01-02 15:04:05"
		}
		ls.QuietReason = fmt.Sprintf("idle: no entries waiting; next block by %s UTC at the latest (%s)",
			due.at.Std().Format(layout), due.why)
	}
	return nil
}
