package alerts

import (
	"errors"
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// ErrInvalidThresholds is wrapped by the errors of Thresholds.Validate and
// NewEngine.
var ErrInvalidThresholds = errors.New("invalid alert thresholds")

// Range is an inclusive physical range of a measure, on the chain's scale.
type Range struct {
	Min int64 `toml:"min" json:"min"`
	Max int64 `toml:"max" json:"max"`
}

// Thresholds tune the rules. All are integers: the rules run on every node
// and must agree to the bit. DefaultThresholds documents each default.
type Thresholds struct {
	// MissedGapIntervals: a gap between two readings of more than this many
	// reading intervals is a missed-readings alert (a jump in seq always
	// is).
	MissedGapIntervals int64 `toml:"missed_gap_intervals" json:"missed_gap_intervals"`

	// FlatLineCount: this many consecutive identical values of a measure
	// that has varied before is a flat line (a stuck sensor). A flow of
	// exactly 0 is a stopped plant, not a stuck sensor, and is exempt.
	FlatLineCount int `toml:"flat_line_count" json:"flat_line_count"`

	// DayLength (ms) is the length of a day for the night window (86,400,000;
	// a devnet whose simulator runs short days sets the same length).
	DayLength int64 `toml:"day_length_ms" json:"day_length_ms"`
	// NightStart and NightEnd (ms after midnight UTC of a 24-hour day,
	// scaled to DayLength) bound the night window of the leak rule. Set them
	// for the plants' time zone; a window may wrap midnight.
	NightStart int64 `toml:"night_start_ms" json:"night_start_ms"`
	NightEnd   int64 `toml:"night_end_ms" json:"night_end_ms"`
	// LeakRisePermille and LeakMinRise (mL/h): a night whose minimum flow
	// exceeds the baseline by more than max(baseline × permille / 1000,
	// min rise) is a leak.
	LeakRisePermille int64 `toml:"leak_rise_permille" json:"leak_rise_permille"`
	LeakMinRise      int64 `toml:"leak_min_rise" json:"leak_min_rise"`
	// LeakLearnNights: nights needed before a baseline exists;
	// LeakBaselineNights: the baseline is the (lower) median minimum of the
	// last this-many nights without a leak.
	LeakLearnNights    int `toml:"leak_learn_nights" json:"leak_learn_nights"`
	LeakBaselineNights int `toml:"leak_baseline_nights" json:"leak_baseline_nights"`
	// LeakMinNightReadings: a night with fewer readings is not judged.
	LeakMinNightReadings int `toml:"leak_min_night_readings" json:"leak_min_night_readings"`

	// SpikeWindow: recent values the spike rule takes the median and MAD
	// (median absolute deviation) of. A reading is a spike when it departs
	// from both neighbours, in the same direction, by more than
	// max(SpikeMADs × MAD, neighbour level × SpikeFloorPermille / 1000),
	// where the neighbour level is the larger magnitude of the two, and the
	// neighbours agree within half that departure.
	SpikeWindow        int   `toml:"spike_window" json:"spike_window"`
	SpikeMADs          int64 `toml:"spike_mads" json:"spike_mads"`
	SpikeFloorPermille int64 `toml:"spike_floor_permille" json:"spike_floor_permille"`

	// SkewPermille: a reading timed more than this share (permille) of the
	// chain's reading window from its block's time is a clock-skew alert.
	SkewPermille int64 `toml:"skew_permille" json:"skew_permille"`

	// Ranges are the physical bounds of the measures (gross range rule).
	// Negative flow has its own rule; volumes are checked by the chain
	// (volume ≥ 0) and by the counter rule.
	Ranges map[string]Range `toml:"ranges" json:"ranges"`

	// DoorEvery (ms): at most one bad-signature alert per device per this
	// interval (of the node's clock), so a flood is one alert a minute.
	DoorEvery int64 `toml:"door_every_ms" json:"door_every_ms"`
}

// DefaultThresholds are the defaults:
//
//   - MissedGapIntervals 3: one late reading is jitter, three intervals of
//     silence is an outage.
//   - FlatLineCount 6: the measures carry sensor noise finer than their
//     last digit, so six identical values in a row (6 hours at the
//     production interval) do not happen by chance on a working sensor.
//   - Night 01:00–05:00 of a 24 h day: the hours of minimum night flow in
//     water-loss practice (IWA minimum night flow, typically 02:00–04:00),
//     widened by an hour each side so hourly meters give 4 readings.
//   - LeakRisePermille 250, LeakMinRise 100,000 mL/h (100 L/h): night
//     minima of a healthy plant vary by a few percent; a quarter above the
//     baseline, and at least 100 L/h, is water going somewhere.
//   - LeakLearnNights 3, LeakBaselineNights 7: a week of nights makes a
//     baseline that a single odd night (or a weekend) does not move.
//   - LeakMinNightReadings 2.
//   - SpikeWindow 12, SpikeMADs 6, SpikeFloorPermille 500: six MADs is
//     about four standard deviations of Gaussian noise; and at least half
//     the neighbours' level, on both sides of the reading, because over a
//     day the window mixes night and production values (its MAD can be
//     small while a lunch dip moves the flow by 20%). Sensor glitches are
//     jumps by factors, not percents.
//   - SkewPermille 500: half the reading window, so the alert fires well
//     before the chain refuses the meter's readings.
//   - Ranges: conductivity 0–200 mS/cm (2,000,000; seawater is 55),
//     suspended solids 0–100 g/L (1,000,000), absorbance 0–10 AU (10,000;
//     photometers saturate near 4), turbidity 0–4,000 NTU (400,000, the
//     range of process turbidimeters), flow up to 10,000 m³/h (1e10 mL/h).
//   - DoorEvery 60,000 ms.
func DefaultThresholds() Thresholds {
	return Thresholds{
		MissedGapIntervals:   3,
		FlatLineCount:        6,
		DayLength:            86_400_000,
		NightStart:           1 * 3_600_000,
		NightEnd:             5 * 3_600_000,
		LeakRisePermille:     250,
		LeakMinRise:          100_000,
		LeakLearnNights:      3,
		LeakBaselineNights:   7,
		LeakMinNightReadings: 2,
		SpikeWindow:          12,
		SpikeMADs:            6,
		SpikeFloorPermille:   500,
		SkewPermille:         500,
		Ranges: map[string]Range{
			"flow_rate":        {Min: 0, Max: 10_000_000_000},
			"conductivity":     {Min: 0, Max: 2_000_000},
			"suspended_solids": {Min: 0, Max: 1_000_000},
			"absorbance":       {Min: 0, Max: 10_000},
			"turbidity":        {Min: 0, Max: 400_000},
		},
		DoorEvery: 60_000,
	}
}

// Night returns the night of the leak rule a time belongs to (numbered by
// the day its window starts in) and whether it is in the night window.
func (t *Thresholds) Night(at chain.Time) (int64, bool) {
	day := floorDiv(int64(at), t.DayLength)
	phase := (int64(at) - day*t.DayLength) * 86_400_000 / t.DayLength // ms of a 24 h day
	s, end := t.NightStart, t.NightEnd
	if s < end {
		return day, phase >= s && phase < end
	}
	// The window wraps midnight: its early-morning part belongs to the
	// night that began the day before.
	switch {
	case phase >= s:
		return day, true
	case phase < end:
		return day - 1, true
	}
	return day, false
}

// NightBounds returns the first instant of night n and the first instant
// after it, in the time Night judges by: Night(at) is (n, true) exactly
// for start ≤ at < end. A devnet's script times a leak with it.
func (t *Thresholds) NightBounds(n int64) (start, end chain.Time) {
	at := func(day, ms int64) chain.Time {
		// The first instant whose phase (scaled, rounded down) reaches ms.
		return chain.Time(day*t.DayLength + (ms*t.DayLength+86_400_000-1)/86_400_000)
	}
	start = at(n, t.NightStart)
	if t.NightStart < t.NightEnd {
		return start, at(n, t.NightEnd)
	}
	return start, at(n+1, t.NightEnd)
}

// maxRangeBound keeps values the rules do arithmetic on far from int64
// overflow (differences and products by small factors).
const maxRangeBound = 1 << 50

// Validate names the first bad field.
func (t *Thresholds) Validate() error {
	bad := func(field string, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidThresholds, field, fmt.Sprintf(format, args...))
	}
	const day = 86_400_000
	switch {
	case t.MissedGapIntervals < 1:
		return bad("missed_gap_intervals", "want at least 1, got %d", t.MissedGapIntervals)
	case t.FlatLineCount < 2:
		return bad("flat_line_count", "want at least 2, got %d", t.FlatLineCount)
	case t.DayLength < 1:
		return bad("day_length_ms", "want a positive length, got %d", t.DayLength)
	case t.NightStart < 0 || t.NightStart >= day:
		return bad("night_start_ms", "want 0 to %d, got %d", day-1, t.NightStart)
	case t.NightEnd < 0 || t.NightEnd >= day || t.NightEnd == t.NightStart:
		return bad("night_end_ms", "want 0 to %d and not the start, got %d", day-1, t.NightEnd)
	case t.LeakRisePermille < 0 || t.LeakRisePermille > 1_000_000:
		return bad("leak_rise_permille", "want 0 to 1000000, got %d", t.LeakRisePermille)
	case t.LeakMinRise < 0 || t.LeakMinRise > maxRangeBound:
		return bad("leak_min_rise", "want 0 to %d, got %d", int64(maxRangeBound), t.LeakMinRise)
	case t.LeakLearnNights < 1:
		return bad("leak_learn_nights", "want at least 1, got %d", t.LeakLearnNights)
	case t.LeakBaselineNights < t.LeakLearnNights || t.LeakBaselineNights > 366:
		return bad("leak_baseline_nights", "want leak_learn_nights (%d) to 366, got %d", t.LeakLearnNights, t.LeakBaselineNights)
	case t.LeakMinNightReadings < 1:
		return bad("leak_min_night_readings", "want at least 1, got %d", t.LeakMinNightReadings)
	case t.SpikeWindow < 3 || t.SpikeWindow > 1000:
		return bad("spike_window", "want 3 to 1000, got %d", t.SpikeWindow)
	case t.SpikeMADs < 1 || t.SpikeMADs > 1000:
		return bad("spike_mads", "want 1 to 1000, got %d", t.SpikeMADs)
	case t.SpikeFloorPermille < 0 || t.SpikeFloorPermille > 1_000_000:
		return bad("spike_floor_permille", "want 0 to 1000000, got %d", t.SpikeFloorPermille)
	case t.SkewPermille < 1 || t.SkewPermille > 1000:
		return bad("skew_permille", "want 1 to 1000, got %d", t.SkewPermille)
	case t.DoorEvery < 0:
		return bad("door_every_ms", "want 0 or more, got %d", t.DoorEvery)
	}
	for _, m := range rangedMeasures {
		r, ok := t.Ranges[m]
		if !ok {
			return bad("ranges."+m, "missing")
		}
		if r.Min > r.Max || r.Min < -maxRangeBound || r.Max > maxRangeBound {
			return bad("ranges."+m, "want min ≤ max within ±%d, got %d to %d", int64(maxRangeBound), r.Min, r.Max)
		}
	}
	for m := range t.Ranges {
		if !contains(rangedMeasures, m) {
			return bad("ranges."+m, "not a ranged measure (%v)", rangedMeasures)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
