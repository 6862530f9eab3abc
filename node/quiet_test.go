package node

import (
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/api"
)

// idleSim drives nextBlockDue with a fixed clock: each step makes the block
// whose due time comes first, timed at that due time (plus skew for a
// proposer whose clock is behind), and applies the closing and settling
// rules of chain/state (see its doc: period p closes at the first tx block
// timed at or after End(p), and settles at the first tx block whose anchor
// data block is timed at or after End(p) + window) to the tx lane's
// bookkeeping. No entries arrive: it is an idle network.
type idleSim struct {
	t                testing.TB
	periods          chain.Period
	window, idle     chain.Time
	head             [3]chain.Time // by lane
	open             int64         // the tx state's open period
	unsettled        []int64
	closedAt         map[int64]chain.Time // period → time of the tx block that closed it
	settledAt        map[int64]chain.Time // period → time of the tx block that settled it
	settledAnchor    map[int64]chain.Time // period → time of that block's anchor data block
	blocks           [3]int
	skew             chain.Time // how far behind the proposer's clock is, for the next block only
	lastLane         chain.Lane
	lastDue, lastWhy string
}

func newIdleSim(t testing.TB, g *genesis.Genesis, from chain.Time) *idleSim {
	s := &idleSim{
		t: t, periods: g.Period(),
		window:   chain.Time(g.Params.ReadingWindow.Std().Milliseconds()),
		idle:     chain.Time(g.Params.IdleInterval.Std().Milliseconds()),
		closedAt: map[int64]chain.Time{}, settledAt: map[int64]chain.Time{}, settledAnchor: map[int64]chain.Time{},
	}
	s.head[chain.LaneTx], s.head[chain.LaneData] = from, from
	s.open = s.periods.Index(from)
	return s
}

func (s *idleSim) due(lane chain.Lane) blockDue {
	u := int64(-1)
	if len(s.unsettled) > 0 {
		u = s.unsettled[0]
	}
	return nextBlockDue(scheduleInput{
		lane: lane, periods: s.periods, window: s.window, idle: s.idle,
		head: s.head[lane], other: s.head[lane.Other()], unsettled: u,
	})
}

// run makes blocks until the next one would be after until.
func (s *idleSim) run(until chain.Time) {
	for {
		// The data lane first on a tie: the settling tx block is due
		// when the data block at the reading window's end is made. (On a
		// network a tx block started at the same instant may anchor the
		// data block before; the next one settles.)
		lane, d := chain.LaneTx, s.due(chain.LaneTx)
		if dd := s.due(chain.LaneData); dd.at <= d.at {
			lane, d = chain.LaneData, dd
		}
		if d.at > until {
			return
		}
		if d.at < s.head[lane] {
			s.t.Fatalf("%s lane due at %s, before its last block at %s", lane, d.at, s.head[lane])
		}
		s.commit(lane, max(d.at-s.skew, s.head[lane]+1))
		s.skew = 0
		s.lastLane, s.lastDue, s.lastWhy = lane, d.at.String(), d.why
	}
}

func (s *idleSim) commit(lane chain.Lane, at chain.Time) {
	s.head[lane] = at
	s.blocks[lane]++
	if lane == chain.LaneData {
		return
	}
	for s.open < s.periods.Index(at) {
		s.closedAt[s.open] = at
		s.unsettled = append(s.unsettled, s.open)
		s.open++
	}
	anchor := s.head[chain.LaneData]
	for len(s.unsettled) > 0 && anchor >= s.periods.End(s.unsettled[0])+s.window {
		p := s.unsettled[0]
		s.settledAt[p], s.settledAnchor[p] = at, anchor
		s.unsettled = s.unsettled[1:]
	}
}

func defaultGenesis(start time.Time) *genesis.Genesis {
	return &genesis.Genesis{GenesisTime: chain.TimeOf(start), Params: genesis.DefaultParams()}
}

// TestIdleHourAtDefaults: an idle hour with the production params makes
// one block per lane per idle interval: 12 blocks, where the former 5 s
// heartbeat made 1,440 (720 a lane). The target is at most a tenth.
func TestIdleHourAtDefaults(t *testing.T) {
	g := defaultGenesis(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	from := chain.TimeOf(time.Date(2026, 1, 14, 9, 0, 0, 0, time.UTC)) // mid-month: no boundary
	s := newIdleSim(t, g, from)
	s.run(from.Add(time.Hour))

	const heartbeat = 5 * time.Second // the former genesis default
	before := 2 * int(time.Hour/heartbeat)
	got := s.blocks[chain.LaneTx] + s.blocks[chain.LaneData]
	if got > before/10 {
		t.Fatalf("an idle hour made %d blocks, more than a tenth of the %d the heartbeat made", got, before)
	}
	if s.blocks[chain.LaneTx] != 6 || s.blocks[chain.LaneData] != 6 {
		t.Fatalf("an idle hour made %d tx and %d data blocks, want 6 each (one per %s)", s.blocks[chain.LaneTx], s.blocks[chain.LaneData], g.Params.IdleInterval.Std())
	}
	if !strings.Contains(s.lastWhy, "idle interval 10m0s") {
		t.Errorf("last block made for %q, want the idle interval", s.lastWhy)
	}
}

// TestIdleMonthEndSettles: across a month's end on an idle network, the tx
// lane closes the month with a block timed at the boundary, the data lane
// makes a block when the reading window ends, and the tx lane settles the
// month with the next block, anchored to it: three extra blocks, on time.
func TestIdleMonthEndSettles(t *testing.T) {
	g := defaultGenesis(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	end := chain.TimeOf(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	window := g.Params.ReadingWindow.Std()
	from := end.Add(-(2*time.Hour + 7*time.Minute)) // an odd phase of the idle timers
	s := newIdleSim(t, g, from)
	s.run(end.Add(4 * time.Hour))

	if s.closedAt[0] != end {
		t.Errorf("January closed by a tx block at %s, want %s (its end)", s.closedAt[0], end)
	}
	settled, ok := s.settledAt[0]
	if !ok {
		t.Fatalf("January not settled by %s (closed at %s, unsettled %v)", end.Add(4*time.Hour), s.closedAt[0], s.unsettled)
	}
	if want := end.Add(window); settled != want || s.settledAnchor[0] != want {
		t.Errorf("January settled at %s with data to %s, want both at %s (end + reading window)", settled, s.settledAnchor[0], want)
	}
	// 6 h of idle lanes, plus the closing, window and settling blocks
	// (each restarts its lane's idle timer, so at most three more).
	total := s.blocks[chain.LaneTx] + s.blocks[chain.LaneData]
	if idle := 2 * 6 * 6; total < idle || total > idle+3 {
		t.Errorf("%d blocks in 6 h across the month's end, want %d to %d", total, idle, idle+3)
	}
	if len(s.unsettled) != 0 || s.open != 1 {
		t.Errorf("after the month: open period %d, unsettled %v; want 1 and none", s.open, s.unsettled)
	}
}

// TestSlowProposerClockKeepsTheBoundary: a tx block timed just before the
// period's end (its proposer's clock is behind) does not close it, so the
// boundary stays due and the next block closes it.
func TestSlowProposerClockKeepsTheBoundary(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	g := &genesis.Genesis{GenesisTime: chain.TimeOf(start), Params: genesis.DevnetParams()}
	g.Params.IdleInterval = chain.Duration(time.Hour)
	s := newIdleSim(t, g, g.GenesisTime)
	end := s.periods.End(0)
	s.skew = 500 // the first block, which is the closing one, comes 500 ms early
	s.run(end)
	if s.blocks[chain.LaneTx] != 2 || s.closedAt[0] != end {
		t.Fatalf("%d tx blocks, period 0 closed at %s; want 2 blocks (one early, one closing) and the close at %s",
			s.blocks[chain.LaneTx], s.closedAt[0], end)
	}
	if s.blocks[chain.LaneData] != 0 {
		t.Fatalf("%d data blocks before the reading window ended", s.blocks[chain.LaneData])
	}
}

// TestIdleDevnetSettlesEveryPeriod: with the devnet params every 5-minute
// period of an idle day is closed at its end and settled at its end plus
// the 30 s window.
func TestIdleDevnetSettlesEveryPeriod(t *testing.T) {
	g := &genesis.Genesis{GenesisTime: chain.TimeOf(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)), Params: genesis.DevnetParams()}
	s := newIdleSim(t, g, g.GenesisTime)
	s.run(g.GenesisTime.Add(24 * time.Hour))
	window := g.Params.ReadingWindow.Std()
	for p := range int64(24*12 - 1) { // the last one settles after the day
		end := s.periods.End(p)
		if s.closedAt[p] != end {
			t.Fatalf("period %d closed at %s, want %s", p, s.closedAt[p], end)
		}
		if s.settledAnchor[p] < end.Add(window) || s.settledAt[p] > end.Add(window+3*time.Second) {
			t.Fatalf("period %d settled at %s with data to %s, want by %s with data to %s", p, s.settledAt[p], s.settledAnchor[p], end.Add(window+3*time.Second), end.Add(window))
		}
	}
}

// TestLaneLivenessSaysWhyQuiet: the status of an idle data lane names
// when its next block is due and why, calls it neither quiet nor overdue
// while a block is being made, and overdue once the due time is long past.
func TestLaneLivenessSaysWhyQuiet(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	g := &genesis.Genesis{GenesisTime: chain.TimeOf(start), Params: genesis.DefaultParams()}
	n := &Node{gen: g}
	last := chain.TimeOf(start.Add(10*24*time.Hour + 9*time.Hour)) // 10 March, 09:00
	n.heads[chain.LaneData].Store(&chain.Header{Lane: chain.LaneData, Height: 7, Time: last})
	want := last.Add(10 * time.Minute)
	grace := overdueAfter(&g.Params)

	for _, tt := range []struct {
		name    string
		now     chain.Time
		waiting int
		quiet   string // in QuietReason; "" for none
		overdue bool
	}{
		{"idle", last.Add(time.Minute), 0, "idle: no entries waiting; next block by 09:10:00 UTC at the latest (the idle interval 10m0s since the last block)", false},
		{"entries waiting", last.Add(time.Minute), 3, "", false},
		{"due, being made", want.Add(time.Second), 0, "", false},
		{"overdue", want.Add(grace + time.Second), 0, "", true},
		{"overdue with entries", want.Add(grace + time.Second), 5, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var st api.LaneStatus
			if err := n.laneLiveness(&st, chain.LaneData, tt.waiting, tt.now); err != nil {
				t.Fatal(err)
			}
			if st.NextBlockDue != want {
				t.Errorf("next block due %s, want %s", st.NextBlockDue, want)
			}
			if (tt.quiet == "") != (st.QuietReason == "") || !strings.Contains(st.QuietReason, tt.quiet) {
				t.Errorf("quiet reason %q, want %q", st.QuietReason, tt.quiet)
			}
			if st.Overdue != tt.overdue {
				t.Errorf("overdue %v, want %v", st.Overdue, tt.overdue)
			}
		})
	}
}
