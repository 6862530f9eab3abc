package report

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/alerts"
)

// CSVHeader is the header row of WriteCSV: fixed columns, then five per
// measure (count, min, avg, max, exceedances) in chain.Measures order, one
// per alert kind in alerts.Kinds order, then trades and evidence, then the
// settlement record's inputs and outcome (empty until settled): the tx
// block that settled the period and the data height it counted to, the
// volume, readings expected and delivered, delivery and compliance,
// litres saved (with the cap) or over, and gross drops. The JSON report
// has the record whole, with each meter's figures.
func CSVHeader() []string {
	h := []string{
		"period", "status", "industry", "address", "validator",
		"allowance_l", "limit_conductivity", "limit_suspended_solids", "limit_absorbance", "limit_turbidity",
		"bought_l", "sold_l", "allowance_after_trades_l", "volume_used_ml",
		"devices", "readings", "expected", "delivered", "delivery_permille",
	}
	for _, m := range chain.Measures {
		h = append(h, m.Name+"_count", m.Name+"_min", m.Name+"_avg", m.Name+"_max", m.Name+"_exceedances")
	}
	for _, k := range alerts.Kinds {
		h = append(h, "alerts_"+string(k))
	}
	return append(h,
		"drops_minted",
		"trades_in_count", "trades_in_l", "trades_in_drops",
		"trades_out_count", "trades_out_l", "trades_out_drops",
		"equivocations",
		"settled_tx_height", "settled_data_height", "settled_used_ml", "settled_expected", "settled_delivered",
		"settled_delivery_permille", "settled_compliance_permille", "saved_l", "saved_cap_l", "over_l", "gross",
	)
}

// WriteCSV writes the report as CSV (RFC 4180): CSVHeader, then one row
// per industry. Integers are on the chain's scales as in Report; a
// measure without readings has empty min, avg and max.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader()); err != nil {
		return err
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	opt := func(v *int64) string {
		if v == nil {
			return ""
		}
		return i(*v)
	}
	for _, row := range r.Rows {
		rec := []string{
			r.Period, r.Status, row.Industry, row.Address.String(), row.Validator,
			u(row.Allowance), i(row.Limits.Conductivity), i(row.Limits.SuspendedSolids), i(row.Limits.Absorbance), i(row.Limits.Turbidity),
			u(row.Bought), u(row.Sold), u(row.AllowanceAfterTrades), u(row.VolumeUsed),
			u(row.Devices), u(row.Readings), u(row.Expected), u(row.Delivered), u(uint64(row.DeliveryPermille)),
		}
		for _, m := range row.Measures {
			rec = append(rec, u(m.Count), opt(m.Min), opt(m.Avg), opt(m.Max), u(m.Exceedances))
		}
		for _, k := range alerts.Kinds {
			rec = append(rec, u(row.Alerts[k]))
		}
		rec = append(rec,
			u(row.DropsMinted),
			u(row.TradesIn.Count), u(row.TradesIn.Litres), u(row.TradesIn.Drops),
			u(row.TradesOut.Count), u(row.TradesOut.Litres), u(row.TradesOut.Drops),
			u(row.Equivocations),
		)
		if s := row.Settlement; s != nil {
			rec = append(rec,
				u(s.Height), u(s.DataHeight), u(s.UsedML), u(s.Expected), u(s.Delivered),
				u(uint64(s.DeliveryPermille)), u(uint64(s.CompliancePermille)), u(s.SavedLitres), u(s.SavedCapLitres), u(s.OverLitres), u(s.Gross))
		} else {
			rec = append(rec, make([]string, 11)...)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
