// Package report builds the compliance report of a settlement period,
// for the regulator's "waterchain audit report" and a node's
// GET /v1/reports/{period}. It reads a store.Store and the genesis file
// and writes nothing.
//
// BuildReport makes one row per industry for a settlement period, modelled
// on a discharge monitoring report: permit (allowance, limits), allowance
// after trades, volume used, per measure the count, min, average and max
// of readings and the exceedances of the permit's limit, the share of
// expected readings delivered, alerts by kind, drops minted, trades in and
// out, equivocation evidence; with Report.WriteCSV and JSON. All figures
// are integers on the chain's scales (chain.Measures); averages and
// permille shares are rounded down. Readings are every finalized reading
// timed in the period; expected readings follow settlement's rule
// (⌊active time / reading interval⌋ per device); the chain's own
// settlement record rides along (it counts readings up to its anchor only).
// Alerts come from replaying node/alerts over the data chain from height 1
// with the industry's limits of the period.
//
// The package's tests build real chains with package node/audit/audittest.
package report
