package chain

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration written as Go duration text ("5s", "1h") in
// JSON and as integer nanoseconds in CBOR.
type Duration time.Duration

func (d Duration) Std() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want text such as \"5s\" or \"1h\", got %s", b)
	}
	p, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(p)
	return nil
}

// Period is the settlement period: a calendar month (UTC) when Length is
// zero, which is what production uses, or a fixed length counted from the
// genesis time, for devnets where a period lasts minutes.
//
// Periods are numbered from 0, the period containing the genesis time. Each
// has a label: "2026-11" for calendar months, "2026-11-29T05:10" (the start,
// UTC, to the minute) for fixed lengths.
type Period struct {
	Genesis Time     // start of numbering
	Length  Duration // 0: calendar month
}

// Index returns the number of the period that contains t (t ≥ genesis).
func (p Period) Index(t Time) int64 {
	if t < p.Genesis {
		return 0
	}
	if p.Length == 0 {
		g, u := p.Genesis.Std(), t.Std()
		return int64((u.Year()-g.Year())*12 + int(u.Month()) - int(g.Month()))
	}
	return int64(t-p.Genesis) / Duration(p.Length).Std().Milliseconds()
}

// Start returns the first instant of period n. Period 0 starts at the
// beginning of the genesis month (calendar) or at genesis (fixed).
func (p Period) Start(n int64) Time {
	if p.Length == 0 {
		g := p.Genesis.Std()
		return TimeOf(time.Date(g.Year(), g.Month()+time.Month(n), 1, 0, 0, 0, 0, time.UTC))
	}
	return p.Genesis + Time(n*time.Duration(p.Length).Milliseconds())
}

// End returns the first instant after period n.
func (p Period) End(n int64) Time { return p.Start(n + 1) }

// Label names period n for people and for report and API queries.
func (p Period) Label(n int64) string {
	if p.Length == 0 {
		return p.Start(n).Std().Format("2006-01")
	}
	return p.Start(n).Std().Format("2006-01-02T15:04")
}

// ParseLabel returns the period number of a label made by Label.
func (p Period) ParseLabel(label string) (int64, error) {
	layout, what := "2006-01-02T15:04", "YYYY-MM-DDThh:mm"
	if p.Length == 0 {
		layout, what = "2006-01", "YYYY-MM"
	}
	t, err := time.Parse(layout, label)
	if err != nil {
		return 0, fmt.Errorf("period %q: want %s", label, what)
	}
	n := p.Index(TimeOf(t))
	if TimeOf(t) < p.Start(0) || p.Label(n) != label {
		return 0, fmt.Errorf("period %q is not a period boundary of this chain (periods start at %s, every %s)", label, p.Start(0), p.describe())
	}
	return n, nil
}

func (p Period) describe() string {
	if p.Length == 0 {
		return "calendar month"
	}
	return p.Length.Std().String()
}

// RewardRules say how many drops an industry earns for a settled period.
// The formula is implemented and documented by the tx state machine; all
// amounts are in smallest drop units, shares in permille.
type RewardRules struct {
	// Base is minted to an industry that keeps its limits, delivers its
	// readings and stays within its allowance.
	Base uint64 `json:"base"`
	// PerLitreSaved is minted per litre of allowance (after trades) left
	// unused.
	PerLitreSaved uint64 `json:"per_litre_saved"`
	// MaxSavedShare caps the litres that earn PerLitreSaved, in permille of
	// the allowance, so a plant that stopped earns no windfall.
	MaxSavedPermille uint32 `json:"max_saved_permille"`
	// MinCompliancePermille is the share of readings within discharge limits
	// (per measure) below which nothing is minted.
	MinCompliancePermille uint32 `json:"min_compliance_permille"`
	// MinDeliveryPermille is the share of expected readings delivered below
	// which nothing is minted.
	MinDeliveryPermille uint32 `json:"min_delivery_permille"`
	// PenaltyPerLitreOver is subtracted from the reward per litre used above
	// the allowance; the reward does not go below zero.
	PenaltyPerLitreOver uint64 `json:"penalty_per_litre_over"`
}

// Params are the chain parameters set in genesis.
type Params struct {
	// IdleInterval is how long a lane with nothing to do stays quiet: a lane
	// proposes its next block at once when entries wait, when a settlement
	// boundary has passed (see below), and otherwise only once IdleInterval
	// has passed since its last block. An idle network thus makes about
	// one block per lane per IdleInterval (6 an hour at the production 10
	// minutes) instead of a stream of empty blocks.
	//
	// It replaced the heartbeat (an empty block every 5 s on an idle lane),
	// which nothing needs any more: a reading waits for no block (the data
	// lane proposes as soon as readings wait, anchoring the latest tx
	// block, so a device registered in a quiet hour reports at once), and
	// settlement makes its own blocks. Period p closes at the first tx
	// block timed at or after End(p), so the tx lane proposes once End(p)
	// has passed; p settles at the first tx block whose anchor data block
	// is timed at or after End(p) + ReadingWindow, so the data lane
	// proposes once that time has passed, and then the tx lane once more.
	// Liveness is judged against the same schedule: a lane with no block
	// long after its next block was due is stalled, a quiet one is not.
	// Validators need not agree on it: it decides when a lane starts a
	// height, not which blocks are valid.
	IdleInterval Duration `json:"idle_interval"`
	// ReadingInterval is how often each meter is expected to report.
	ReadingInterval Duration `json:"reading_interval"`
	// SettlementPeriod is "month" (calendar month, production) or a fixed
	// length such as "10m" (devnets).
	SettlementPeriod string `json:"settlement_period"`
	// ReadingWindow is how far a reading's time may be from its block's time.
	ReadingWindow Duration `json:"reading_window"`
	// TimeoutPropose and TimeoutDelta set the consensus round timeouts:
	// base + round·delta.
	TimeoutPropose Duration    `json:"timeout_propose"`
	TimeoutDelta   Duration    `json:"timeout_delta"`
	Reward         RewardRules `json:"reward"`
}

// PeriodLength parses SettlementPeriod: 0 for "month".
func (p *Params) PeriodLength() (Duration, error) {
	if p.SettlementPeriod == "month" {
		return 0, nil
	}
	d, err := time.ParseDuration(p.SettlementPeriod)
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("settlement_period %q: want \"month\" or a duration of at least 1m such as \"10m\"", p.SettlementPeriod)
	}
	return Duration(d), nil
}
