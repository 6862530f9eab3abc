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
// Readings are read from the data blocks that can hold one of the period
// (a reading is timed within the reading window of its block's time, and
// block times increase): from the first block timed at or after the
// period's start less the window to the last one timed before its end
// plus the window, both found by binary search over the headers, so the
// figures cost what the period holds, not what the chain does.
//
// Alerts timed in the period are counted by industry and kind from one of
// two sources:
//
//   - Offline (BuildReport, `waterchain audit report`): the alert rules of
//     node/alerts replayed over the data chain from height 1, every
//     reading of a device judged by its industry's limits of the period
//     (the settlement record's, or the current permit for an open
//     period). An auditor re-derives everything, at a cost that grows
//     with the chain.
//   - A node (GET /v1/reports/{period}; ReportOptions.Alerts): the chain
//     alerts the node raised for the period's data blocks, read from its
//     per-block alert records and its alert log, as GET /v1/alerts lists
//     them. The node judged each block's readings by the permit in force
//     at the block's anchor (state.PermitAt), not by the period's permit.
//     For readings inside a period these are the same permit, except at
//     its boundaries: a data block anchored to a tx block of the previous
//     period (before the tx chain opened this one) holding readings timed
//     in this period is judged by the previous period's limits, and the
//     reverse for a period's last readings in a block anchored after the
//     next one opened. A permit change between periods may thus make the
//     two counts of limit_exceeded differ for those readings; the node's
//     are the alerts it actually raised and served. The node also uses its
//     configured thresholds, and a node with alerts disabled counts none.
//     The node keeps the reports of a few settled periods (Cache): their
//     figures no longer change.
//
// The package's tests build real chains with package node/audit/audittest.
package report
