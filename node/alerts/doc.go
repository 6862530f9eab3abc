// Package alerts derives alerts from finalized readings: leak, missed
// readings, flat line, gross range, negative flow, spike, counter going
// backwards, clock skew and discharge-limit exceedance; plus bad
// signatures seen at this node's door.
//
// # Determinism
//
// Every node and every auditor must derive the same alerts from the same
// chain. So the rules use only what is on the chain — each reading, its
// data block's height and time, the device's industry and permit limits as
// of the block's anchor, the genesis reading interval and window — and the
// configured Thresholds; never the wall clock, never floating point (all
// arithmetic is int64 on the chain's scales), never map iteration order.
// An alert's ID is SHA-256 of the canonical CBOR of its identifying fields,
// so two nodes name the same alert the same way. Nodes must use the same
// Thresholds to agree (they are part of the node config; keep the defaults
// unless the network agrees otherwise).
//
// # Use
//
//	eng, err := alerts.NewEngine(alerts.Config{
//		ReadingInterval: genesis.Params.ReadingInterval.Std(),
//		ReadingWindow:   genesis.Params.ReadingWindow.Std(),
//		Thresholds:      alerts.DefaultThresholds(),
//	})
//	// for every finalized data block, in height order, from height 1:
//	as := eng.ObserveBlock(block, func(dev chain.PubKey) alerts.DeviceContext {...})
//	// or per reading: eng.Observe(rd, alerts.BlockInfo{Height, Time}, ctx)
//	// at the door, for a reading refused for a bad signature:
//	a, ok := eng.DoorReject(dev, seq, err.Error(), chain.TimeOf(time.Now()), ctx)
//
// The engine keeps per-device state (last reading, recent values, night
// minima). Feed it from genesis (or replay the chain on start); starting
// from a later block gives alerts that other nodes may not have. Observe
// and ObserveBlock must be called from one goroutine; DoorReject is safe
// from any. Alerts from DoorReject are Local (this node's view, not
// chain-derived) and rate-limited to one per device per DoorEvery. The
// caller stores and serves the alerts (GET /v1/alerts, GET /v1/events);
// Log is a bounded in-memory store for that, newest first, with filters by
// device, industry, kind and time, deduplicating by ID (so replaying the
// chain does not double them).
//
// # Rules
//
// Each names device, industry, kind, severity, time (of the reading that
// raised it), block height, the values compared and the readings behind
// it. Conditions that persist (negative flow, gross range, limit
// exceedance per measure, clock skew, counter backwards, leak) raise one
// alert when they begin and re-arm when they end; events (missed readings,
// spike, flat line reaching its count) raise one each.
//
//   - negative_flow (warning): flow_rate < 0.
//   - gross_range (warning): a measured value outside Thresholds.Ranges.
//   - limit_exceeded (critical): a quality measure above the industry's
//     permit limit (0 = no limit).
//   - clock_skew (warning): |reading time − block time| > window ×
//     SkewPermille/1000, or a time not after the device's previous one.
//   - counter_backwards (critical): volume_total below the previous one.
//   - missed_readings (warning): a jump in seq, or more than
//     MissedGapIntervals × interval between two readings.
//   - flat_line (warning): a measure that has varied repeats one value
//     FlatLineCount times (flow of exactly 0 exempt: a stopped plant).
//   - spike (info): a value departs from both neighbours, the same way, by
//     more than max(SpikeMADs × MAD of the previous SpikeWindow values,
//     neighbour level × SpikeFloorPermille/1000) while the neighbours agree
//     within half that; raised one reading late, when the next arrives.
//   - leak (warning): when a night window ends, the night's minimum flow
//     exceeds the baseline (lower median of the last LeakBaselineNights
//     leak-free nights' minima, once LeakLearnNights exist) by more than
//     max(baseline × LeakRisePermille/1000, LeakMinRise).
//   - bad_signature (critical, local): DoorReject.
//
// DefaultThresholds gives the default of each threshold and why. The
// simulator's faults (package sim) are caught within the number of
// readings stated there.
package alerts
