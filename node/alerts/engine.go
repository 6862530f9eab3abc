package alerts

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// rangedMeasures are the measures the gross-range, flat-line and spike
// rules watch: the ones a sensor measures directly. Volumes are derived
// from flow, and the totalizer has its own rule.
var rangedMeasures = []string{"flow_rate", "conductivity", "suspended_solids", "absorbance", "turbidity"}

// maxRefs bounds the readings an alert names.
const maxRefs = 32

// doorCapacity bounds the devices whose last door alert is remembered.
const doorCapacity = 10_000

// Config is what an Engine needs: the chain's reading interval and window
// (genesis params) and the thresholds.
type Config struct {
	ReadingInterval time.Duration
	ReadingWindow   time.Duration
	Thresholds      Thresholds
}

// DeviceContext is what the tx chain says about a reading's device at the
// reading's block anchor: its industry and the industry's discharge limits.
type DeviceContext struct {
	Industry     chain.Address
	IndustryName string
	Limits       chain.Limits
}

// BlockInfo places a reading: the height and time of its data block.
type BlockInfo struct {
	Height uint64
	Time   chain.Time
}

// Engine derives alerts from finalized readings. Feed it every finalized
// reading in chain order, from genesis: its alerts are then a function of
// the chain alone, the same on every node and auditor. Observe and
// ObserveBlock must be called from one goroutine; DoorReject may be called
// from any goroutine at any time.
type Engine struct {
	th         Thresholds
	intervalMs int64
	skewMs     int64
	devices    map[chain.PubKey]*deviceState

	doorMu sync.Mutex                  // guards door
	door   map[chain.PubKey]chain.Time // last door alert per device
}

// NewEngine makes an engine.
func NewEngine(cfg Config) (*Engine, error) {
	if err := cfg.Thresholds.Validate(); err != nil {
		return nil, err
	}
	if cfg.ReadingInterval.Milliseconds() < 1 || cfg.ReadingWindow.Milliseconds() < 1 {
		return nil, fmt.Errorf("%w: reading interval %s and window %s must be at least 1ms", ErrInvalidThresholds, cfg.ReadingInterval, cfg.ReadingWindow)
	}
	return &Engine{
		th:         cfg.Thresholds,
		intervalMs: cfg.ReadingInterval.Milliseconds(),
		skewMs:     cfg.ReadingWindow.Milliseconds() * cfg.Thresholds.SkewPermille / 1000,
		devices:    map[chain.PubKey]*deviceState{},
		door:       map[chain.PubKey]chain.Time{},
	}, nil
}

// measureTrack is the history of one measure of one device.
type measureTrack struct {
	run    int64 // value of the current run of identical values
	count  int   // its length
	varied bool  // the measure has changed value at least once
	hist   []int64
}

type deviceState struct {
	seen      bool
	lastSeq   uint64
	lastTime  chain.Time
	lastTotal int64
	recent    []ReadingRef // the last readings, oldest first
	tracks    [5]measureTrack
	active    map[string]bool // open episodes: kind + "/" + measure

	nightOpen bool
	nightID   int64
	nightMin  int64
	nightN    int
	nightRefs []ReadingRef
	nightMins []int64 // minima of the last nights without a leak
}

// ObserveBlock observes the readings of a finalized data block in order.
// lookup gives each device's context as of the block's anchor.
func (e *Engine) ObserveBlock(b *chain.Block, lookup func(chain.PubKey) DeviceContext) []Alert {
	var out []Alert
	at := BlockInfo{Height: b.Header.Height, Time: b.Header.Time}
	for _, rd := range b.Readings {
		out = append(out, e.Observe(rd, at, lookup(rd.Device))...)
	}
	return out
}

// Observe takes the next finalized reading and returns the alerts it
// raises, in the order of Kinds.
//
// A late reading, recorded after a later one of its device (it filled a
// gap in the sequence), is judged on its own values only (negative flow,
// gross range, discharge limits), each raising an alert whenever it holds;
// the rules that follow a device's readings in order (clock, totalizer,
// missed readings, flat line, spike, night flow) and the episodes are
// left as they are.
func (e *Engine) Observe(rd *chain.Reading, at BlockInfo, dc DeviceContext) []Alert {
	st := e.devices[rd.Device]
	if st == nil {
		st = &deviceState{active: map[string]bool{}}
		e.devices[rd.Device] = st
	}
	o := &observation{
		e: e, st: st, rd: rd, at: at, dc: dc,
		ref:  ReadingRef{Device: rd.Device, Seq: rd.Seq},
		late: st.seen && rd.Seq < st.lastSeq,
	}
	o.negativeFlow()
	o.grossRange()
	o.limitExceeded()
	if o.late {
		return o.out
	}
	o.clockSkew()
	if st.seen {
		o.counterBackwards()
		o.missedReadings()
	}
	o.flatLine()
	o.spike()
	o.nightFlow()
	st.record(o.ref, rd, max(e.th.FlatLineCount, 3))
	return o.out
}

// observation is one reading being observed: what the rules judge it by
// and the alerts they raise. Each rule kind is one method, run in the
// order of Kinds.
type observation struct {
	e    *Engine
	st   *deviceState
	rd   *chain.Reading
	at   BlockInfo
	dc   DeviceContext
	ref  ReadingRef
	late bool // recorded after a later reading of its device
	out  []Alert
}

func (o *observation) emit(kind Kind, measure string, value, threshold int64, refs []ReadingRef, format string, args ...any) {
	a := Alert{
		Device: o.rd.Device, Industry: o.dc.Industry, IndustryName: o.dc.IndustryName,
		Kind: kind, Severity: severities[kind], Measure: measure,
		Time: o.rd.Time, Height: o.at.Height, Value: value, Threshold: threshold,
		Message: fmt.Sprintf(format, args...), Readings: refs,
	}
	a.computeID()
	o.out = append(o.out, a)
}

// raises reports whether a condition raises an alert now: for a reading
// in order, when it has just begun (a condition that persists raises one
// alert, not one per reading); for a late reading, whenever it holds,
// leaving the episode as it is.
func (o *observation) raises(kind Kind, measure string, on bool) bool {
	if o.late {
		return on
	}
	// The key is built on the stack: most observations change nothing,
	// and a string for each would be an allocation per rule per reading.
	var buf [64]byte
	key := append(append(append(buf[:0], kind...), '/'), measure...)
	was := o.st.active[string(key)]
	switch {
	case on && !was:
		o.st.active[string(key)] = true
	case !on && was:
		delete(o.st.active, string(key))
	}
	return on && !was
}

// lateNote marks the message of a late reading.
func (o *observation) lateNote() string {
	if o.late {
		return fmt.Sprintf(" (late reading seq %d)", o.rd.Seq)
	}
	return ""
}

func (o *observation) one() []ReadingRef { return []ReadingRef{o.ref} }

// lastAndThis names the device's previous reading and this one.
func (o *observation) lastAndThis() []ReadingRef {
	return []ReadingRef{o.st.lastRef(o.rd.Device), o.ref}
}

func (o *observation) negativeFlow() {
	if o.raises(KindNegativeFlow, "flow_rate", o.rd.FlowRate < 0) {
		o.emit(KindNegativeFlow, "flow_rate", o.rd.FlowRate, 0, o.one(),
			"flow rate %d mL/h is negative%s: the meter is mounted backwards, miswired or faulty", o.rd.FlowRate, o.lateNote())
	}
}

func (o *observation) grossRange() {
	for _, m := range rangedMeasures {
		v, _ := o.rd.MeasureValue(m)
		r := o.e.th.Ranges[m]
		if o.raises(KindGrossRange, m, v > r.Max || (v < r.Min && m != "flow_rate")) {
			limit := r.Max
			if v < r.Min {
				limit = r.Min
			}
			o.emit(KindGrossRange, m, v, limit, o.one(), "%s %d is outside its physical range %d to %d%s: a sensor fault", m, v, r.Min, r.Max, o.lateNote())
		}
	}
}

func (o *observation) limitExceeded() {
	for _, m := range chain.QualityMeasures {
		v, _ := o.rd.MeasureValue(m)
		lim := o.dc.Limits.Limit(m)
		if o.raises(KindLimitExceeded, m, lim > 0 && v > lim) {
			o.emit(KindLimitExceeded, m, v, lim, o.one(), "%s %d exceeds the permit's discharge limit %d%s", m, v, lim, o.lateNote())
		}
	}
}

// clockSkew: far from the block time, or not after the last reading.
func (o *observation) clockSkew() {
	rd, st, skewMs := o.rd, o.st, o.e.skewMs
	skew := int64(rd.Time - o.at.Time)
	backwards := st.seen && rd.Time <= st.lastTime
	if !o.raises(KindClockSkew, "", skew > skewMs || -skew > skewMs || backwards) {
		return
	}
	if backwards {
		o.emit(KindClockSkew, "", int64(rd.Time-st.lastTime), 0, o.lastAndThis(),
			"reading seq %d is timed %s, not after the previous reading (%s): the meter's clock went back", rd.Seq, rd.Time, st.lastTime)
		return
	}
	o.emit(KindClockSkew, "", skew, skewMs, o.one(),
		"reading time %s is %s from its block's time %s (threshold %s): the meter's clock is off",
		rd.Time, time.Duration(skew)*time.Millisecond, o.at.Time, time.Duration(skewMs)*time.Millisecond)
}

// counterBackwards: the totalizer went back. Needs a previous reading.
func (o *observation) counterBackwards() {
	rd, st := o.rd, o.st
	if o.raises(KindCounterBackwards, "volume_total", rd.VolumeTotal < st.lastTotal) {
		o.emit(KindCounterBackwards, "volume_total", rd.VolumeTotal, st.lastTotal, o.lastAndThis(),
			"volume counter went back from %d mL to %d mL: tampering or a replaced meter", st.lastTotal, rd.VolumeTotal)
	}
}

// missedReadings: a jump in seq, or a long silence. Needs a previous
// reading.
func (o *observation) missedReadings() {
	rd, st := o.rd, o.st
	missing := rd.Seq - st.lastSeq - 1
	gap := int64(rd.Time - st.lastTime)
	maxGap := o.e.th.MissedGapIntervals * o.e.intervalMs
	switch {
	case rd.Seq > st.lastSeq+1:
		o.emit(KindMissedReadings, "", int64(min(missing, 1<<62)), 0, o.lastAndThis(),
			"%d readings missing between seq %d and %d (%s apart)", missing, st.lastSeq, rd.Seq, time.Duration(gap)*time.Millisecond)
	case gap > maxGap:
		o.emit(KindMissedReadings, "", gap, maxGap, o.lastAndThis(),
			"no reading for %s between seq %d and %d (expected every %s)", time.Duration(gap)*time.Millisecond, st.lastSeq, rd.Seq, time.Duration(o.e.intervalMs)*time.Millisecond)
	}
}

// flatLine tracks each measure's run of identical values and raises one
// alert for the measures whose run reaches FlatLineCount after having
// varied (a meter at rest reads flow 0 for hours: not stuck).
func (o *observation) flatLine() {
	th, st := &o.e.th, o.st
	var flat []string
	var flatValue int64
	for i, m := range rangedMeasures {
		v, _ := o.rd.MeasureValue(m)
		v = clamp(v)
		tr := &st.tracks[i]
		if tr.count > 0 && v == tr.run {
			tr.count++
		} else {
			if tr.count > 0 {
				tr.varied = true
			}
			tr.run, tr.count = v, 1
		}
		if tr.count == th.FlatLineCount && tr.varied && !(m == "flow_rate" && v == 0) {
			flat = append(flat, m)
			flatValue = v
		}
	}
	if len(flat) > 0 {
		refs := append(append([]ReadingRef{}, st.recent[max(0, len(st.recent)-th.FlatLineCount+1):]...), o.ref)
		o.emit(KindFlatLine, strings.Join(flat, ","), flatValue, int64(th.FlatLineCount), refs,
			"%s unchanged for %d readings in a row: a stuck sensor", strings.Join(flat, ", "), th.FlatLineCount)
	}
}

// spike judges, per measure, the previous reading's value against its
// neighbours (see Engine.spike), then adds this one to the window.
func (o *observation) spike() {
	st, window := o.st, o.e.th.SpikeWindow
	for i, m := range rangedMeasures {
		tr := &st.tracks[i]
		v, _ := o.rd.MeasureValue(m)
		if len(tr.hist) == window+1 && len(st.recent) >= 2 {
			if dev, scale, ok := o.e.spike(tr.hist, clamp(v)); ok {
				b := tr.hist[len(tr.hist)-1]
				refs := []ReadingRef{st.recent[len(st.recent)-2], st.recent[len(st.recent)-1], o.ref}
				o.emit(KindSpike, m, b, scale, refs,
					"%s %d at seq %d departs by %d from both neighbours (threshold %d): a spike", m, b, refs[1].Seq, dev, scale)
			}
		}
		tr.hist = append(tr.hist, clamp(v))
		if len(tr.hist) > window+1 {
			tr.hist = tr.hist[1:]
		}
	}
}

// nightFlow judges a night once it is over (closeNight), then tracks this
// reading's flow in the night it falls in.
func (o *observation) nightFlow() {
	e, st, rd := o.e, o.st, o.rd
	id, inNight := e.night(rd.Time)
	if st.nightOpen && (!inNight || id != st.nightID) {
		o.closeNight()
	}
	if inNight && rd.FlowRate >= 0 && rd.FlowRate <= e.th.Ranges["flow_rate"].Max {
		if !st.nightOpen {
			st.nightOpen, st.nightID, st.nightMin, st.nightN, st.nightRefs = true, id, rd.FlowRate, 0, nil
		}
		st.nightN++
		st.nightMin = min(st.nightMin, rd.FlowRate)
		if len(st.nightRefs) < maxRefs {
			st.nightRefs = append(st.nightRefs, o.ref)
		}
	}
}

// record makes rd the device's last reading, keeping the last keep refs.
func (st *deviceState) record(ref ReadingRef, rd *chain.Reading, keep int) {
	st.seen, st.lastSeq, st.lastTime, st.lastTotal = true, rd.Seq, rd.Time, rd.VolumeTotal
	st.recent = append(st.recent, ref)
	if len(st.recent) > keep {
		st.recent = st.recent[len(st.recent)-keep:]
	}
}

func (st *deviceState) lastRef(dev chain.PubKey) ReadingRef {
	return ReadingRef{Device: dev, Seq: st.lastSeq}
}

// spike checks the last value of hist (b) against its neighbours a (before
// it) and c, with the median and MAD of the window before b.
func (e *Engine) spike(hist []int64, c int64) (dev, scale int64, ok bool) {
	window := hist[:len(hist)-1]
	a, b := window[len(window)-1], hist[len(hist)-1]
	d1, d2 := b-a, b-c
	if d1 == 0 || d2 == 0 || (d1 > 0) != (d2 > 0) {
		return 0, 0, false
	}
	dev = min(abs(d1), abs(d2))
	med := median(window)
	var buf [32]int64
	devs := buf[:0]
	for _, x := range window {
		devs = append(devs, abs(x-med))
	}
	scale = max(e.th.SpikeMADs*median(devs), max(abs(a), abs(c))*e.th.SpikeFloorPermille/1000, 1)
	return dev, scale, dev > scale && abs(a-c) <= dev/2
}

// night returns the night a time belongs to (Thresholds.Night).
func (e *Engine) night(t chain.Time) (int64, bool) { return e.th.Night(t) }

// closeNight judges the night just ended against the device's baseline.
func (o *observation) closeNight() {
	e, st := o.e, o.st
	st.nightOpen = false
	if st.nightN < e.th.LeakMinNightReadings {
		return
	}
	leak := false
	if len(st.nightMins) >= e.th.LeakLearnNights {
		base := median(st.nightMins)
		limit := base + max(base*e.th.LeakRisePermille/1000, e.th.LeakMinRise)
		if st.nightMin > limit {
			leak = true
			key := string(KindLeak) + "/flow_rate"
			if !st.active[key] {
				st.active[key] = true
				o.emit(KindLeak, "flow_rate", st.nightMin, limit, st.nightRefs,
					"minimum night flow %d mL/h over %d readings is above the baseline %d mL/h by more than allowed (limit %d): a leak or water left running",
					st.nightMin, st.nightN, base, limit)
			}
		}
	}
	if !leak {
		delete(st.active, string(KindLeak)+"/flow_rate")
		st.nightMins = append(st.nightMins, st.nightMin)
		if len(st.nightMins) > e.th.LeakBaselineNights {
			st.nightMins = st.nightMins[1:]
		}
	}
}

// DoorReject records a reading refused at this node's door for a bad
// signature (or another reason worth an alert). It returns the alert, and
// false when one was raised for the device less than DoorEvery ago. The
// alert is Local: other nodes may not have seen the reading. Safe for
// concurrent use.
func (e *Engine) DoorReject(device chain.PubKey, seq uint64, reason string, at chain.Time, dc DeviceContext) (Alert, bool) {
	e.doorMu.Lock()
	last, seen := e.door[device]
	if seen && at-last < chain.Time(e.th.DoorEvery) && at >= last {
		e.doorMu.Unlock()
		return Alert{}, false
	}
	if len(e.door) >= doorCapacity {
		clear(e.door) // a flood of made-up keys: forget rather than grow
	}
	e.door[device] = at
	e.doorMu.Unlock()
	a := Alert{
		Device: device, Industry: dc.Industry, IndustryName: dc.IndustryName,
		Kind: KindBadSignature, Severity: severities[KindBadSignature], Time: at,
		Message:  fmt.Sprintf("reading seq %d refused at the door: %s", seq, reason),
		Readings: []ReadingRef{{Device: device, Seq: seq}}, Local: true,
	}
	a.computeID()
	return a, true
}

func clamp(v int64) int64 { return max(-maxRangeBound, min(v, maxRangeBound)) }

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// median is the lower median (no averaging, so integers stay exact).
func median(xs []int64) int64 {
	// On the stack for windows up to 32 values (the default spike window
	// is 12): the spike rule takes two medians per reading.
	var buf [32]int64
	s := append(buf[:0], xs...)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
