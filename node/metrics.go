package node

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/mempool"
)

// metrics are the node's Prometheus series, served at /metrics with the
// p2p host's and the Go runtime's.
type metrics struct {
	height        *prometheus.GaugeVec
	round         *prometheus.GaugeVec
	entries       *prometheus.CounterVec
	commitSeconds *prometheus.HistogramVec
	// commitLoopSeconds is the loop's part of a commit (commitwriter.go).
	commitLoopSeconds *prometheus.HistogramVec
	finality          prometheus.Histogram
	readingsAccepted  prometheus.Counter
	readingsRejected  prometheus.Counter
	// readingsRegossiped counts readings gossiped a second time.
	readingsRegossiped prometheus.Counter
	mempool            *prometheus.GaugeVec
	gossipRejected     *prometheus.CounterVec
	invalidProposals   prometheus.Counter
	evidence           prometheus.Counter
	alerts             *prometheus.CounterVec
	synced             *prometheus.CounterVec
	// syncServed counts the blocks this node served to peers catching up.
	syncServed *prometheus.CounterVec
	// doorSignatureChecks counts client signatures checked at the door
	// (cache misses), doorBusy the requests refused 429 because the
	// door's signature-check budget was spent.
	doorSignatureChecks prometheus.Counter
	doorBusy            prometheus.Counter
	// votesRelayed counts the votes this node sent on to every peer as a
	// round's proposer (voterelay.go).
	votesRelayed prometheus.Counter
	// votesUnrelayed counts this node's votes sent to every peer because
	// the round's proposer had not relayed them in time.
	votesUnrelayed prometheus.Counter
	// readingsOverWindow counts readings refused 429 because the mempool
	// held what the network finalizes in mempool.admit_wait.
	readingsOverWindow prometheus.Counter
	// readingsOverWindowRequests counts POST /v1/readings requests
	// refused 429 whole, before their body was read, for the same reason
	// (Node.ReadingsRoom).
	readingsOverWindowRequests prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		height: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "waterchain_height", Help: "Height of the last finalized block, per lane.",
		}, []string{"lane"}),
		round: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "waterchain_consensus_round", Help: "Consensus round in progress, per lane.",
		}, []string{"lane"}),
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_finalized_entries_total", Help: "Readings (data lane) and transactions (tx lane) finalized.",
		}, []string{"lane"}),
		commitSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "waterchain_block_commit_seconds", Help: "Time to store a finalized block.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"lane"}),
		commitLoopSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "waterchain_block_commit_loop_seconds", Help: "Time the consensus loop spent committing a finalized block: its state in memory, and waiting for the store when blocks not yet written are at their limit.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"lane"}),
		finality: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "waterchain_finality_latency_seconds", Help: "From a reading's acceptance at this node's door to its finalization.",
			Buckets: prometheus.ExponentialBuckets(0.01, 1.6, 18),
		}),
		readingsAccepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waterchain_readings_accepted_total", Help: "Readings accepted at this node's door (HTTP, MQTT).",
		}),
		readingsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waterchain_readings_rejected_total", Help: "Readings refused at this node's door.",
		}),
		readingsRegossiped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waterchain_readings_regossiped_total", Help: "Readings gossiped again after waiting a second in the mempool.",
		}),
		mempool: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "waterchain_mempool_entries", Help: "Entries waiting for a block, per lane.",
		}, []string{"lane"}),
		gossipRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_gossip_rejected_total", Help: "Gossip messages rejected as invalid at the door, per topic.",
		}, []string{"topic"}),
		invalidProposals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waterchain_invalid_proposals_total", Help: "Proposed blocks this node judged invalid and voted nil on.",
		}),
		evidence: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waterchain_equivocations_seen_total", Help: "Equivocations (double votes or proposals) this node saw.",
		}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_alerts_total", Help: "Alerts raised, per kind.",
		}, []string{"kind"}),
		synced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_synced_blocks_total", Help: "Blocks fetched from peers by block sync, per lane.",
		}, []string{"lane"}),
		syncServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_sync_served_blocks_total", Help: "Blocks this node served to peers catching up by block sync, per lane.",
		}, []string{"lane"}),
		doorSignatureChecks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waterchain_door_signature_checks_total", Help: "Signatures of client readings and transactions checked at this node's door (HTTP, MQTT).",
		}),
		doorBusy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waterchain_door_busy_total", Help: "Client requests refused 429 because the door's signature-check budget (door.verify_in_flight) was spent.",
		}),
		votesRelayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waterchain_consensus_votes_relayed_total", Help: "Votes this node sent on to every peer as a round's proposer (validator sets of p2p.relay_votes_from or more).",
		}),
		votesUnrelayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waterchain_consensus_votes_unrelayed_total", Help: "This node's votes sent to every peer because the round's proposer had not relayed them within 500 ms (a proposer down or withholding).",
		}),
		readingsOverWindow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waterchain_readings_over_window_total", Help: "Client readings refused 429 because those waiting were what the network finalizes in mempool.admit_wait.",
		}),
		readingsOverWindowRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waterchain_readings_over_window_requests_total", Help: "POST /v1/readings requests refused 429 whole, before their body was read, because those waiting were what the network finalizes in mempool.admit_wait.",
		}),
	}
	reg.MustRegister(m.syncServed, m.doorSignatureChecks, m.doorBusy, m.votesRelayed, m.votesUnrelayed, m.readingsOverWindow, m.readingsOverWindowRequests)
	reg.MustRegister(m.height, m.round, m.entries, m.commitSeconds, m.commitLoopSeconds, m.finality, m.readingsAccepted,
		m.readingsRejected, m.readingsRegossiped, m.mempool, m.gossipRejected, m.invalidProposals, m.evidence, m.alerts, m.synced,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// registerAPILimits exports the API limiter's counters.
func registerAPILimits(reg *prometheus.Registry, l *api.Limiter) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "waterchain_api_connections", Help: "API connections open (api.limits.max_conns).",
		}, func() float64 { return float64(l.Stats().OpenConns) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "waterchain_api_connections_refused_total", Help: "API connections refused at the connection caps (api.limits.max_conns, max_conns_per_client).",
		}, func() float64 { return float64(l.Stats().RefusedConns) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "waterchain_api_body_bytes", Help: "Request body bytes being read or decoded (api.limits.body_bytes).",
		}, func() float64 { return float64(l.Stats().BodyBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "waterchain_api_body_refused_total", Help: "Requests refused 429 before their body was read: the body budget was spent (api.limits.body_bytes, body_bytes_per_client).",
		}, func() float64 { return float64(l.Stats().RefusedBusy) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "waterchain_api_body_too_large_total", Help: "Requests refused 413 by their declared length before their body was read.",
		}, func() float64 { return float64(l.Stats().RefusedLarge) }),
	)
}

// registerAdmission exports the door's admission rule (node/mempool.Admission).
func registerAdmission(reg *prometheus.Registry, p *mempool.Readings) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "waterchain_finalized_readings_rate", Help: "Readings finalized per second recently (the estimate over mempool.rate_window the door admits by).",
		}, func() float64 { return p.Stats(time.Now()).RatePerS }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "waterchain_mempool_admit_window", Help: "Readings the door lets wait now: mempool.admit_wait of the finalized rate, at least admit_floor, at most max_readings.",
		}, func() float64 { return float64(p.Stats(time.Now()).Window) }),
	)
}
