package report

import (
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/alerts"
)

// Report is the compliance report of one settlement period: one row per
// industry, modelled on a discharge monitoring report. Every figure is an
// integer on the chain's scales (chain.Measures): volumes of allowance in
// litres, used volume in millilitres, drops in smallest units
// (chain.DropUnit per drop), shares in permille (‰).
type Report struct {
	ChainID     string     `json:"chain_id"`
	GenesisHash chain.Hash `json:"genesis_hash"`
	// Period is the period's label, Index its number, [Start, End) its
	// time span.
	Period string     `json:"period"`
	Index  int64      `json:"index"`
	Start  chain.Time `json:"start"`
	End    chain.Time `json:"end"`
	// Status is "settled" once a tx block has settled the period,
	// "closed" when the tx chain has closed it but waits for the reading
	// window after its end to pass on the data chain before settling it,
	// "open" while it is the tx chain's open period (figures of closed
	// and open periods are provisional).
	Status string `json:"status"`
	// DataHeight and TxHeight are the store heads the report was made
	// from.
	DataHeight uint64 `json:"data_height"`
	TxHeight   uint64 `json:"tx_height"`
	Rows       []Row  `json:"rows"`
	// Evidence lists the equivocation evidence recorded by tx blocks of
	// the period.
	Evidence []EvidenceEntry `json:"evidence"`
}

// Row is one industry's figures for the period.
type Row struct {
	Industry string        `json:"industry"`
	Address  chain.Address `json:"address"`
	// Validator names the validator node the industry runs ("" if none).
	Validator string `json:"validator,omitempty"`
	// Permit: the allowance of the period (litres) and its discharge
	// limits (chain scale; 0 = not limited).
	Allowance uint64       `json:"allowance"`
	Limits    chain.Limits `json:"limits"`
	// Bought and Sold are litres of allowance traded in the period;
	// AllowanceAfterTrades = Allowance + Bought − Sold.
	Bought               uint64 `json:"bought"`
	Sold                 uint64 `json:"sold"`
	AllowanceAfterTrades uint64 `json:"allowance_after_trades"`
	// VolumeUsed is the sum of the positive interval volumes of the
	// industry's readings in the period, millilitres.
	VolumeUsed uint64 `json:"volume_used_ml"`
	// Devices active in the period, readings delivered with a time in the
	// period, readings expected (⌊active time / reading interval⌋ per
	// device) and delivered (Σ min(readings, expected) per device), and
	// DeliveryPermille = ⌊1000·Delivered/Expected⌋ (0 when none expected).
	Devices          uint64 `json:"devices"`
	Readings         uint64 `json:"readings"`
	Expected         uint64 `json:"expected"`
	Delivered        uint64 `json:"delivered"`
	DeliveryPermille uint32 `json:"delivery_permille"`
	// Measures are the statistics of each measure (chain.Measures order).
	Measures []MeasureStats `json:"measures"`
	// Alerts counts the alerts raised on the industry's readings of the
	// period, by kind (every kind listed).
	Alerts map[alerts.Kind]uint64 `json:"alerts"`
	// DropsMinted is the settlement's reward (0 while open).
	DropsMinted uint64 `json:"drops_minted"`
	// TradesIn are the accepted offers the industry bought from, TradesOut
	// those it sold through, in tx blocks of the period.
	TradesIn  Trades `json:"trades_in"`
	TradesOut Trades `json:"trades_out"`
	// Equivocations counts evidence recorded in the period against the
	// validator the industry runs.
	Equivocations uint64 `json:"equivocations"`
	// Settlement is the chain's own settlement record (nil until
	// settled), with every input of the reward formula: per meter its
	// active time, readings expected and delivered and volume; per limited
	// measure the readings within the limit; litres saved (and the cap) or
	// over, gross and reward. A period is settled only once no reading of
	// it can still be finalized, so its figures are those above.
	Settlement *state.Settlement `json:"settlement,omitempty"`
}

// MeasureStats are one measure's figures over the period's readings, on
// the chain's scale. Avg is ⌊sum/count⌋ (rounded down, towards −∞, over
// an exact sum); Min, Avg and Max are nil without readings. Exceedances
// counts readings above Limit (0 = not limited: no exceedances).
type MeasureStats struct {
	Measure     string `json:"measure"`
	Unit        string `json:"unit"`
	Scale       int64  `json:"scale"`
	Count       uint64 `json:"count"`
	Min         *int64 `json:"min"`
	Avg         *int64 `json:"avg"`
	Max         *int64 `json:"max"`
	Limit       int64  `json:"limit"`
	Exceedances uint64 `json:"exceedances"`
}

// Trades sums accepted offers: their number, litres and drops (smallest
// units) paid or received.
type Trades struct {
	Count  uint64 `json:"count"`
	Litres uint64 `json:"litres"`
	Drops  uint64 `json:"drops"`
}

// EvidenceEntry is equivocation evidence recorded in the period.
type EvidenceEntry struct {
	Offender  chain.PubKey `json:"offender"`
	Validator string       `json:"validator,omitempty"`
	Industry  string       `json:"industry,omitempty"`
	Lane      chain.Lane   `json:"lane"`
	Height    uint64       `json:"height"`
	TxHeight  uint64       `json:"tx_height"`
	ID        chain.Hash   `json:"id"`
}

// ReportOptions tune BuildReportWith.
type ReportOptions struct {
	// Thresholds of the alert rules; the zero value means
	// alerts.DefaultThresholds(). Use the node's configured ones to count
	// the alerts its API serves.
	Thresholds *alerts.Thresholds
}

// BuildReport makes the compliance report of period (a label such as
// "2026-11", or a period number) from the store, with the default alert
// thresholds. See BuildReportWith.
func BuildReport(st *store.Store, g *genesis.Genesis, period string) (*Report, error) {
	return BuildReportWith(st, g, period, ReportOptions{})
}

// BuildReportWith makes the compliance report of period from the chain in
// st as it stands: readings are every finalized reading timed in the
// period (as far as the data chain has got), alerts come from replaying
// the alert rules over the data chain from height 1 with each device's
// industry and limits from the committed state (as the node does),
// trades and evidence from the tx blocks timed in the period, and drops
// minted from the settlement record. It reads the store without verifying
// it: run Verify for that. The store may advance meanwhile; the report
// reads up to the heads it found when it started.
func BuildReportWith(st *store.Store, g *genesis.Genesis, period string, opts ReportOptions) (*Report, error) {
	sr := storeState{st}
	periods := g.Period()
	p, err := parsePeriod(periods, period)
	if err != nil {
		return nil, err
	}
	rep := &Report{
		ChainID: g.ChainID, GenesisHash: g.Hash(), Period: periods.Label(p), Index: p,
		Start: periods.Start(p), End: periods.End(p),
		DataHeight: st.Height(chain.LaneData), TxHeight: st.Height(chain.LaneTx),
		Rows: []Row{}, Evidence: []EvidenceEntry{},
	}
	meta, err := state.GetTxMeta(sr)
	if err != nil {
		return nil, err
	}
	switch {
	case p < meta.FirstUnsettled():
		rep.Status = "settled"
	case p < meta.Period:
		rep.Status = "closed"
	case p == meta.Period:
		rep.Status = "open"
	default:
		return nil, fmt.Errorf("%w: %s starts at %s; the tx chain is in period %s (its last block is at %s)", ErrPeriodNotStarted, rep.Period, rep.Start, periods.Label(meta.Period), meta.Time)
	}

	industries, err := state.Industries(sr)
	if err != nil {
		return nil, err
	}
	var settled map[chain.Address]*state.Settlement // settlement records, or a closed period's allowance figures
	if rep.Status != "open" {
		recs, err := state.Settlements(sr, p)
		if rep.Status == "closed" {
			recs, err = state.ClosedUnsettled(sr, p)
		}
		if err != nil {
			return nil, err
		}
		settled = make(map[chain.Address]*state.Settlement, len(recs))
		for i := range recs {
			settled[recs[i].Industry] = &recs[i]
		}
	}
	validatorOf := map[chain.Address]string{}
	industryOfValidator := map[string]string{}
	for _, ind := range g.Industries {
		validatorOf[ind.Address()] = ind.Validator
		if ind.Validator != "" {
			industryOfValidator[ind.Validator] = ind.Name
		}
	}

	rows := make(map[chain.Address]*row, len(industries))
	order := make([]chain.Address, 0, len(industries))
	for i := range industries {
		info := &industries[i]
		r := &row{Row: Row{
			Industry: info.Name, Address: info.Address, Validator: validatorOf[info.Address],
			Alerts: map[alerts.Kind]uint64{},
		}}
		for _, k := range alerts.Kinds {
			r.Alerts[k] = 0
		}
		if s := settled[info.Address]; s != nil {
			r.Allowance, r.Bought, r.Sold, r.AllowanceAfterTrades = s.Allowance, s.Bought, s.Sold, s.AllowanceAfterTrades
			for _, c := range s.Compliance {
				setLimit(&r.Limits, c.Measure, c.Limit)
			}
			if rep.Status == "settled" {
				r.DropsMinted = s.Reward
				r.Settlement = s
			}
		} else {
			r.Allowance, r.Bought, r.Sold, r.AllowanceAfterTrades = info.Allowance, info.Bought, info.Sold, info.AllowanceAfterTrades
			r.Limits = info.Permit.Limits
		}
		r.stats = newMeasureAcc(r.Limits)
		rows[info.Address] = r
		order = append(order, info.Address)
	}

	if err := readingFigures(st, sr, g, rep, rows, opts); err != nil {
		return nil, err
	}
	if err := txFigures(st, sr, g, rep, rows, industryOfValidator); err != nil {
		return nil, err
	}
	for _, a := range order {
		r := rows[a]
		r.Measures = r.stats.result()
		r.DeliveryPermille = permille(r.Delivered, r.Expected)
		rep.Rows = append(rep.Rows, r.Row)
	}
	return rep, nil
}

// parsePeriod accepts a label of the chain's periods or a period number.
func parsePeriod(periods chain.Period, s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && len(s) < 6 {
		if n < 0 {
			return 0, fmt.Errorf("%w: period number %d is negative", ErrBadPeriod, n)
		}
		return n, nil
	}
	n, err := periods.ParseLabel(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadPeriod, err)
	}
	return n, nil
}

// row is a Row under construction.
type row struct {
	Row
	stats *measureAcc
}

// readingFigures scans the data chain once: the alert rules see every
// reading from height 1, and readings timed in the period feed the rows.
// Blocks whose time is past the period's end by more than the reading
// window cannot hold a reading of the period, so the scan stops there.
func readingFigures(st *store.Store, sr state.Reader, g *genesis.Genesis, rep *Report, rows map[chain.Address]*row, opts ReportOptions) error {
	th := alerts.DefaultThresholds()
	if opts.Thresholds != nil {
		th = *opts.Thresholds
	}
	eng, err := alerts.NewEngine(alerts.Config{ReadingInterval: g.Params.ReadingInterval.Std(), ReadingWindow: g.Params.ReadingWindow.Std(), Thresholds: th})
	if err != nil {
		return err
	}
	// Each device's industry, limits and active span, from the
	// committed state.
	type devInfo struct {
		ctx    alerts.DeviceContext
		device state.Device
		count  uint64
	}
	devices := map[chain.PubKey]*devInfo{}
	for a := range rows {
		ds, err := state.Devices(sr, a)
		if err != nil {
			return err
		}
		for _, d := range ds {
			devices[d.Key] = &devInfo{ctx: alerts.DeviceContext{Industry: a, IndustryName: rows[a].Industry, Limits: rows[a].Limits}, device: d}
		}
	}
	// The alert rules see each device's industry with the limits of the
	// period's permit; readings of devices of no industry get none.
	lookup := func(k chain.PubKey) alerts.DeviceContext {
		if d := devices[k]; d != nil {
			return d.ctx
		}
		return alerts.DeviceContext{}
	}

	last, err := lastBefore(st, chain.LaneData, rep.DataHeight, rep.End.Add(g.Params.ReadingWindow.Std()))
	if err != nil {
		return err
	}
	for h := uint64(1); h <= last; h++ {
		b, err := st.Block(chain.LaneData, h)
		if err != nil {
			return fmt.Errorf("data/%d: %w", h, err)
		}
		for _, a := range eng.ObserveBlock(b, lookup) {
			if a.Time < rep.Start || a.Time >= rep.End {
				continue
			}
			if r := rows[a.Industry]; r != nil {
				r.Alerts[a.Kind]++
			}
		}
		for _, rd := range b.Readings {
			if rd.Time < rep.Start || rd.Time >= rep.End {
				continue
			}
			d := devices[rd.Device]
			if d == nil {
				continue
			}
			r := rows[d.ctx.Industry]
			d.count++
			r.Readings++
			if rd.Volume > 0 {
				r.VolumeUsed = satAdd(r.VolumeUsed, uint64(rd.Volume))
			}
			r.stats.add(rd)
		}
	}

	interval := uint64(g.Params.ReadingInterval.Std().Milliseconds())
	for _, d := range devices {
		from, to := rep.Start, rep.End
		if d.device.RegisteredTime > from {
			from = d.device.RegisteredTime
		}
		if d.device.Revoked() && d.device.RevokedTime < to {
			to = d.device.RevokedTime
		}
		if to <= from {
			continue
		}
		r := rows[d.ctx.Industry]
		r.Devices++
		expected := uint64(to-from) / interval
		r.Expected += expected
		r.Delivered += min(d.count, expected)
	}
	return nil
}

// txFigures reads the tx blocks timed in the period: trades and evidence.
func txFigures(st *store.Store, sr state.Reader, g *genesis.Genesis, rep *Report, rows map[chain.Address]*row, industryOfValidator map[string]string) error {
	before, err := lastBefore(st, chain.LaneTx, rep.TxHeight, rep.Start)
	if err != nil {
		return err
	}
	last, err := lastBefore(st, chain.LaneTx, rep.TxHeight, rep.End)
	if err != nil {
		return err
	}
	first := before + 1
	for h := first; h <= last; h++ {
		b, err := st.Block(chain.LaneTx, h)
		if err != nil {
			return fmt.Errorf("tx/%d: %w", h, err)
		}
		for _, tx := range b.Txs {
			if tx.AcceptOffer == nil {
				continue
			}
			o, err := state.GetOffer(sr, tx.AcceptOffer.Offer)
			if err != nil {
				return fmt.Errorf("tx/%d: trade %s: %w", h, tx.Hash().Short(), err)
			}
			vol := tx.AcceptOffer.Volume
			drops := satMul(vol, o.Price)
			if r := rows[tx.From.Address()]; r != nil {
				r.TradesIn.add(vol, drops)
			}
			if r := rows[o.Seller]; r != nil {
				r.TradesOut.add(vol, drops)
			}
		}
	}
	evidence, err := state.EvidenceList(sr)
	if err != nil {
		return err
	}
	names := map[chain.PubKey]string{}
	for _, v := range g.Validators {
		names[v.NodeKey] = v.Name
	}
	byName := map[string]*row{}
	for _, r := range rows {
		if r.Validator != "" {
			byName[r.Validator] = r
		}
	}
	for _, e := range evidence {
		if e.TxHeight < first || e.TxHeight > last {
			continue
		}
		lane, height := e.Evidence.Height()
		entry := EvidenceEntry{Offender: e.Offender, Validator: names[e.Offender], Lane: lane, Height: height, TxHeight: e.TxHeight, ID: e.ID}
		entry.Industry = industryOfValidator[entry.Validator]
		if r := byName[entry.Validator]; r != nil && entry.Validator != "" {
			r.Equivocations++
		}
		rep.Evidence = append(rep.Evidence, entry)
	}
	sort.SliceStable(rep.Evidence, func(i, j int) bool { return rep.Evidence[i].TxHeight < rep.Evidence[j].TxHeight })
	return nil
}

func (t *Trades) add(litres, drops uint64) {
	t.Count++
	t.Litres = satAdd(t.Litres, litres)
	t.Drops = satAdd(t.Drops, drops)
}

// lastBefore is the highest height ≤ head of lane whose block time is
// before t (0 if none), by binary search: block times increase with
// height.
func lastBefore(st *store.Store, lane chain.Lane, head uint64, t chain.Time) (uint64, error) {
	lo, hi := uint64(0), head // the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		h, err := st.Header(lane, mid)
		if err != nil {
			return 0, fmt.Errorf("%s/%d: %w", lane, mid, err)
		}
		if h.Time < t {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}

// measureAcc accumulates the statistics of every measure.
type measureAcc struct {
	limits chain.Limits
	stats  []measureStat
}

type measureStat struct {
	count       uint64
	min, max    int64
	sum         big.Int
	exceedances uint64
}

func newMeasureAcc(limits chain.Limits) *measureAcc {
	return &measureAcc{limits: limits, stats: make([]measureStat, len(chain.Measures))}
}

func (m *measureAcc) add(rd *chain.Reading) {
	var v big.Int
	for i, ms := range chain.Measures {
		val, _ := rd.MeasureValue(ms.Name)
		s := &m.stats[i]
		if s.count == 0 || val < s.min {
			s.min = val
		}
		if s.count == 0 || val > s.max {
			s.max = val
		}
		s.count++
		s.sum.Add(&s.sum, v.SetInt64(val))
		if l := m.limits.Limit(ms.Name); l > 0 && val > l {
			s.exceedances++
		}
	}
}

func (m *measureAcc) result() []MeasureStats {
	out := make([]MeasureStats, len(chain.Measures))
	for i, ms := range chain.Measures {
		s := &m.stats[i]
		out[i] = MeasureStats{Measure: ms.Name, Unit: ms.Unit, Scale: ms.Scale, Count: s.count, Limit: m.limits.Limit(ms.Name), Exceedances: s.exceedances}
		if s.count > 0 {
			lo, hi := s.min, s.max
			var q big.Int
			q.Div(&s.sum, new(big.Int).SetUint64(s.count)) // Euclidean: floor for a positive divisor
			avg := q.Int64()                               // between min and max, so it fits
			out[i].Min, out[i].Avg, out[i].Max = &lo, &avg, &hi
		}
	}
	return out
}

func setLimit(l *chain.Limits, measure string, v int64) {
	switch measure {
	case "conductivity":
		l.Conductivity = v
	case "suspended_solids":
		l.SuspendedSolids = v
	case "absorbance":
		l.Absorbance = v
	case "turbidity":
		l.Turbidity = v
	}
}

func permille(num, den uint64) uint32 {
	if den == 0 {
		return 0
	}
	if num >= den {
		return 1000
	}
	var q big.Int
	q.Mul(new(big.Int).SetUint64(num), big.NewInt(1000))
	q.Quo(&q, new(big.Int).SetUint64(den))
	return uint32(q.Uint64())
}

func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

func satMul(a, b uint64) uint64 {
	if a == 0 || b == 0 {
		return 0
	}
	if p := a * b; p/b == a {
		return p
	}
	return ^uint64(0)
}

// storeState is the store's committed state as package state reads it.
type storeState struct{ s *store.Store }

var _ state.Reader = storeState{}

func (r storeState) Get(key []byte) ([]byte, error) {
	v, err := r.s.State(key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", state.ErrNotFound, key)
	}
	return v, err
}

func (r storeState) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	return r.s.IterateState(prefix, fn)
}
