package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// Fault is a defect that can be switched on for one meter.
type Fault string

// The faults a meter can simulate; see the package documentation for what
// each does and how soon the alert rules catch it.
const (
	FaultLeak        Fault = "leak"
	FaultStuck       Fault = "stuck"
	FaultMissed      Fault = "missed"
	FaultBackwards   Fault = "backwards"
	FaultClockSkew   Fault = "clock-skew"
	FaultLimitBreach Fault = "limit-breach"
	FaultForgedSig   Fault = "forged-sig"
)

// Faults lists every fault, in a fixed order.
var Faults = []Fault{FaultLeak, FaultStuck, FaultMissed, FaultBackwards, FaultClockSkew, FaultLimitBreach, FaultForgedSig}

// ErrConfig is wrapped by the errors of NewFleet and ParseFault.
var ErrConfig = errors.New("invalid simulator config")

// ParseFault parses a fault name as written in Faults.
func ParseFault(s string) (Fault, error) {
	for _, f := range Faults {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(Faults))
	for i, f := range Faults {
		names[i] = string(f)
	}
	return "", fmt.Errorf("%w: fault %q: want one of %s", ErrConfig, s, strings.Join(names, ", "))
}

// Config configures a fleet.
type Config struct {
	// ChainID is the network the readings are signed for. Required.
	ChainID string
	// Seed makes everything deterministic: keys (unless Keys is set),
	// each meter's profile and its noise.
	Seed int64
	// Devices is the number of meters (1 to 100,000).
	Devices int
	// Interval is the time between a meter's readings (default 1h); the
	// interval volume is the flow over it.
	Interval time.Duration
	// DayLength is the length of the simulated day (default 24h). A devnet
	// shortens it so that nights and weekends come by in minutes; the alert
	// rules must then use the same day length (alerts.Thresholds.DayLength).
	DayLength time.Duration
	// ClockSkew is what FaultClockSkew adds to a reading's time (default
	// 20s). Choose it above the alert threshold (alerts: half the reading
	// window by default) and below the reading window, or the node refuses
	// the readings outright.
	ClockSkew time.Duration
	// Keys, when set, are the meters' keys (len(Keys) == Devices), such as
	// keys loaded from files; otherwise keys derive from Seed.
	Keys []*chain.PrivateKey
	// Images, when set, makes every delivered reading carry a synthetic
	// camera frame (see sim/images.go).
	Images *ImageConfig
}

func (c *Config) setDefaults() error {
	switch {
	case c.ChainID == "":
		return fmt.Errorf("%w: no chain id", ErrConfig)
	case c.Devices < 1 || c.Devices > 100_000:
		return fmt.Errorf("%w: devices %d: want 1 to 100000", ErrConfig, c.Devices)
	case c.Keys != nil && len(c.Keys) != c.Devices:
		return fmt.Errorf("%w: %d keys for %d devices", ErrConfig, len(c.Keys), c.Devices)
	case c.Interval < 0 || c.DayLength < 0 || c.ClockSkew < 0:
		return fmt.Errorf("%w: negative duration", ErrConfig)
	}
	if c.Interval == 0 {
		c.Interval = time.Hour
	}
	if c.DayLength == 0 {
		c.DayLength = 24 * time.Hour
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = 20 * time.Second
	}
	if c.Interval.Milliseconds() < 1 || c.DayLength.Milliseconds() < 1 {
		return fmt.Errorf("%w: interval and day length must be at least 1ms", ErrConfig)
	}
	if c.Images != nil {
		ic := *c.Images // the caller's value is left as it was
		if err := ic.setDefaults(); err != nil {
			return err
		}
		c.Images = &ic
	}
	return nil
}

// Profile is a meter's plant: its flow pattern and typical water quality,
// on the chain's scales (chain.Measures).
type Profile struct {
	NightFlow     int64 // mL/h, between shifts and at weekends' nights
	DayFlow       int64 // mL/h, weekday production plateau
	WeekendPermil int64 // weekend day flow above night, in permille of the weekday's
	ShiftStart    int   // hour of the day production ramps up (over one hour)
	ShiftEnd      int   // hour it ramps down (over one and a half hours)

	Conductivity    int64 // 0.1 µS/cm
	SuspendedSolids int64 // 0.1 mg/L
	Absorbance      int64 // mAU
	Turbidity       int64 // 0.01 NTU
}

// Fleet is a set of simulated meters. It is not safe for concurrent use.
type Fleet struct {
	cfg    Config
	meters []*Meter
	images map[chain.Hash][]byte // of the readings the last Next returned
}

// Meter is one simulated meter.
type Meter struct {
	index   int
	chainID string
	seed    int64
	cfg     *Config
	key     *chain.PrivateKey
	forger  *chain.PrivateKey
	profile Profile
	faults  map[Fault]bool

	seq      uint64
	total    int64
	produced int            // readings produced, delivered or not
	stuck    *chain.Reading // values frozen by FaultStuck
	last     *chain.Reading // last reading produced (before faults of delivery)
	scene    *Scene         // set by SetScene
	image    []byte         // frame of the reading Next last returned
}

// NewFleet makes cfg.Devices meters.
func NewFleet(cfg Config) (*Fleet, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	f := &Fleet{cfg: cfg}
	for i := 0; i < cfg.Devices; i++ {
		m := &Meter{index: i, chainID: cfg.ChainID, seed: cfg.Seed, cfg: &f.cfg, faults: map[Fault]bool{}}
		var err error
		if cfg.Keys != nil {
			m.key = cfg.Keys[i]
		} else if m.key, err = chain.NewPrivateKey(m.hash("key", 0)); err != nil {
			return nil, err
		}
		if m.forger, err = chain.NewPrivateKey(m.hash("forger", 0)); err != nil {
			return nil, err
		}
		m.profile = m.makeProfile()
		m.total = m.profile.DayFlow * 24 * int64(m.uniform("total", 0)*365) // a plausible totalizer
		f.meters = append(f.meters, m)
	}
	return f, nil
}

// Meters returns the meters, in index order.
func (f *Fleet) Meters() []*Meter { return f.meters }

// Config returns the fleet's configuration with defaults applied.
func (f *Fleet) Config() Config { return f.cfg }

// Next returns the readings of every meter measured at t (nominal time),
// signed, in meter order. A meter with FaultMissed skips some; others
// distort their reading as their faults say.
func (f *Fleet) Next(t chain.Time) []*chain.Reading {
	out := make([]*chain.Reading, 0, len(f.meters))
	if f.cfg.Images != nil {
		f.images = make(map[chain.Hash][]byte, len(f.meters))
	}
	for _, m := range f.meters {
		if r := m.Next(t); r != nil {
			out = append(out, r)
			if r.ImageHash != nil {
				f.images[*r.ImageHash] = m.image
			}
		}
	}
	return out
}

// Index is the meter's position in the fleet (0-based).
func (m *Meter) Index() int { return m.index }

// Key is the meter's signing key.
func (m *Meter) Key() *chain.PrivateKey { return m.key }

// Public is the meter's device key.
func (m *Meter) Public() chain.PubKey { return m.key.Public() }

// Profile is the meter's plant profile.
func (m *Meter) Profile() Profile { return m.profile }

// Seq is the sequence number of the last reading produced.
func (m *Meter) Seq() uint64 { return m.seq }

// VolumeTotal is the meter's totalizer (mL).
func (m *Meter) VolumeTotal() int64 { return m.total }

// Resume continues after a recorded reading: the next reading has seq
// lastSeq+1 and the totalizer goes on from volumeTotal (if higher).
func (m *Meter) Resume(lastSeq uint64, volumeTotal int64) {
	m.seq = lastSeq
	if volumeTotal > m.total {
		m.total = volumeTotal
	}
}

// Limits are discharge limits that suit the meter's plant: 1.6 times its
// typical quality values, so that its normal readings stay under them (the
// highest normal values are about 1.25 times typical) and FaultLimitBreach
// exceeds them.
func (m *Meter) Limits() chain.Limits { return m.profile.Limits() }

// Limits are discharge limits that fit a meter of profile p: 1.6 times its
// typical values (see Meter.Limits).
func (p Profile) Limits() chain.Limits {
	lim := func(v int64) int64 { return v * 16 / 10 }
	return chain.Limits{
		Conductivity:    lim(p.Conductivity),
		SuspendedSolids: lim(p.SuspendedSolids),
		Absorbance:      lim(p.Absorbance),
		Turbidity:       lim(p.Turbidity),
	}
}

// SetFault switches a fault on or off.
func (m *Meter) SetFault(f Fault, on bool) {
	if on {
		m.faults[f] = true
		return
	}
	delete(m.faults, f)
	if f == FaultStuck {
		m.stuck = nil
	}
}

// Faults lists the faults switched on, sorted.
func (m *Meter) Faults() []Fault {
	var out []Fault
	for f := range m.faults {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Next returns the meter's reading measured at t, or nil when FaultMissed
// swallows it (the meter still counts it: its seq is used up).
func (m *Meter) Next(t chain.Time) *chain.Reading {
	m.seq++
	m.produced++
	r := m.clean(t)
	if m.faults[FaultLeak] {
		r.FlowRate += m.leakRate()
	}
	if m.faults[FaultLimitBreach] {
		r.SuspendedSolids = r.SuspendedSolids * 25 / 10
		r.Turbidity = r.Turbidity * 25 / 10
	}
	if m.faults[FaultStuck] {
		if m.stuck == nil {
			if m.last != nil {
				m.stuck = m.last
			} else {
				m.stuck = r
			}
		}
		r.FlowRate, r.Conductivity, r.SuspendedSolids, r.Absorbance, r.Turbidity =
			m.stuck.FlowRate, m.stuck.Conductivity, m.stuck.SuspendedSolids, m.stuck.Absorbance, m.stuck.Turbidity
	}
	r.Volume = max(0, r.FlowRate) * m.cfg.Interval.Milliseconds() / 3_600_000
	if m.faults[FaultBackwards] {
		m.total -= r.Volume
		if m.total < 0 {
			m.total = 0
		}
	} else {
		m.total += r.Volume
	}
	r.VolumeTotal = m.total
	if m.faults[FaultClockSkew] {
		r.Time += chain.Time(m.cfg.ClockSkew.Milliseconds())
	}
	last := *r
	m.last = &last
	m.image = nil
	if m.faults[FaultMissed] && m.produced%3 != 0 {
		return nil // two of every three readings never arrive
	}
	if m.cfg.Images != nil {
		// Cannot fail: NewFleet checked the sizes, SetScene and NewFleet
		// the scenes.
		if err := m.attachImage(r); err != nil {
			m.image = nil
		}
	}
	if m.faults[FaultForgedSig] {
		r.Sign(m.chainID, m.forger)
	} else {
		r.Sign(m.chainID, m.key)
	}
	return r
}

// leakRate is the flow FaultLeak adds: half the night flow plus 1 m³/h.
func (m *Meter) leakRate() int64 { return m.profile.NightFlow/2 + 1_000_000 }

// clean is the fault-free measurement at t.
func (m *Meter) clean(t chain.Time) *chain.Reading {
	p := m.profile
	hour, weekend := m.clock(t)
	level := dayShape(hour, float64(p.ShiftStart), float64(p.ShiftEnd)) // 0 at night, 1 at full production
	day := float64(p.DayFlow - p.NightFlow)
	if weekend {
		day = day * float64(p.WeekendPermil) / 1000
	}
	flow := (float64(p.NightFlow) + day*level) * (1 + 0.02*m.gauss("flow", t))
	// Production raises the load of the quality measures by up to 10%.
	quality := func(typical int64, name string, sigma float64) int64 {
		v := float64(typical) * (1 + 0.1*level) * (1 + sigma*m.gauss(name, t))
		return int64(math.Round(v))
	}
	return &chain.Reading{
		Device:          m.key.Public(),
		Seq:             m.seq,
		Time:            t,
		FlowRate:        int64(math.Round(flow)),
		Conductivity:    quality(p.Conductivity, "conductivity", 0.02),
		SuspendedSolids: quality(p.SuspendedSolids, "suspended_solids", 0.04),
		Absorbance:      quality(p.Absorbance, "absorbance", 0.03),
		Turbidity:       quality(p.Turbidity, "turbidity", 0.04),
	}
}

// clock maps t to the simulated day: hour of the day in [0, 24) and
// whether it is a weekend day. Day 0 (the Unix epoch) was a Thursday.
func (m *Meter) clock(t chain.Time) (hour float64, weekend bool) {
	dayMs := m.cfg.DayLength.Milliseconds()
	day := int64(t) / dayMs
	if int64(t) < 0 && int64(t)%dayMs != 0 {
		day--
	}
	phase := int64(t) - day*dayMs
	weekday := (day + 3) % 7 // Monday 0 … Sunday 6
	if weekday < 0 {
		weekday += 7
	}
	return float64(phase) * 24 / float64(dayMs), weekday >= 5
}

// dayShape is the production level over a day: 0 at night, ramping to 1
// over the hour after start, a 20% lunch dip from 12:00 to 13:00, ramping
// back to 0 over the hour and a half after end.
func dayShape(h, start, end float64) float64 {
	smooth := func(x float64) float64 {
		x = math.Max(0, math.Min(1, x))
		return x * x * (3 - 2*x)
	}
	level := smooth(h-start) * (1 - smooth((h-end)/1.5))
	if h >= 12 && h < 13 {
		level *= 1 - 0.2*math.Sin(math.Pi*(h-12))
	}
	return level
}

// ProfileFor is the profile of meter index of a fleet with seed: what
// NewFleet gives that meter, known before the fleet (or its keys) exist,
// so that a genesis can size permits for the simulated plants.
func ProfileFor(seed int64, index int) Profile {
	m := &Meter{index: index, seed: seed}
	return m.makeProfile()
}

// MeanFlow is the profile's average flow over a simulated week, in mL/h
// (production hours at the day plateau, the rest at night flow; ramps
// ignored).
func (p Profile) MeanFlow() int64 {
	hours := int64(p.ShiftEnd - p.ShiftStart)
	above := p.DayFlow - p.NightFlow
	weekday := above * hours / 24
	weekend := weekday * p.WeekendPermil / 1000
	return p.NightFlow + (5*weekday+2*weekend)/7
}

// makeProfile draws the meter's plant from the seed.
func (m *Meter) makeProfile() Profile {
	between := func(name string, lo, hi float64) int64 {
		return int64(math.Round(lo + (hi-lo)*m.uniform(name, 0)))
	}
	night := between("night", 2e6, 6e6) // 2–6 m³/h
	return Profile{
		NightFlow:       night,
		DayFlow:         night + between("day", 15e6, 50e6), // +15–50 m³/h
		WeekendPermil:   between("weekend", 100, 350),
		ShiftStart:      int(between("shift-start", 5, 7)),
		ShiftEnd:        int(between("shift-end", 17, 20)),
		Conductivity:    between("conductivity", 8_000, 15_000), // 800–1,500 µS/cm
		SuspendedSolids: between("tss", 200, 600),               // 20–60 mg/L
		Absorbance:      between("absorbance", 100, 300),        // 0.1–0.3 AU
		Turbidity:       between("turbidity", 500, 2_000),       // 5–20 NTU
	}
}

// hash is SHA-256 of the seed, the meter, a stream name and a time.
func (m *Meter) hash(stream string, t chain.Time) []byte {
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], uint64(m.seed))
	binary.BigEndian.PutUint64(b[8:], uint64(m.index))
	binary.BigEndian.PutUint64(b[16:], uint64(t))
	h := sha256.New()
	h.Write([]byte("waterchain/sim/" + stream + "/"))
	h.Write(b[:])
	return h.Sum(nil)
}

// uniform is a deterministic number in [0, 1).
func (m *Meter) uniform(stream string, t chain.Time) float64 {
	return float64(binary.BigEndian.Uint64(m.hash(stream, t))>>11) / (1 << 53)
}

// gauss is a deterministic standard normal number, clipped at ±3.
func (m *Meter) gauss(stream string, t chain.Time) float64 {
	h := m.hash(stream, t)
	u1 := (float64(binary.BigEndian.Uint64(h[0:])>>11) + 1) / (1<<53 + 1)
	u2 := float64(binary.BigEndian.Uint64(h[8:])>>11) / (1 << 53)
	g := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	return math.Max(-3, math.Min(3, g))
}
