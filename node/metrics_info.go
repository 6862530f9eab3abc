package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/alerts"
)

// registerInfoMetrics adds the series operators alert on that are read,
// not counted: which build runs, how many peers the host has, and when
// each lane's last block was made and when its next one is due at the
// latest (an idle lane is quiet by design until then, a stalled one is
// late: see quiet.go).
func (n *Node) registerInfoMetrics() {
	b := Build()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "waterchain_build_info", Help: "Always 1; its labels name the running build.",
	}, []string{"version", "commit", "go_version"})
	info.WithLabelValues(b.Version, b.Commit, b.GoVersion).Set(1)
	peers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "waterchain_peers", Help: "Peers the libp2p host is connected to.",
	}, func() float64 {
		if n.host == nil {
			return 0
		}
		return float64(len(n.host.Peers()))
	})
	n.registry.MustRegister(info, peers)
	// Labelled counters exist from the start at zero, so that rate() and
	// alert rules see a series before the first event, not a gap.
	for _, lane := range chain.Lanes {
		n.metrics.synced.WithLabelValues(lane.String())
		n.metrics.syncServed.WithLabelValues(lane.String())
	}
	for _, topic := range []string{topicReadings, topicTxs, topicEvidence, "consensus"} {
		n.metrics.gossipRejected.WithLabelValues(topic)
	}
	for _, kind := range alerts.Kinds {
		n.metrics.alerts.WithLabelValues(string(kind))
	}
	for _, lane := range chain.Lanes {
		n.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "waterchain_last_block_timestamp_seconds",
			Help:        "Header time of the last finalized block, per lane (Unix seconds; 0 before the first).",
			ConstLabels: prometheus.Labels{"lane": lane.String()},
		}, func() float64 {
			h, ok := n.Head(lane)
			if !ok {
				return 0
			}
			return float64(h.Time) / 1000
		}))
		n.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "waterchain_next_block_due_timestamp_seconds",
			Help:        "When the lane makes its next block at the latest with no entries arriving: the genesis idle interval after its last block, or an earlier settlement boundary (Unix seconds). Long past it with no block, the lane is stalled.",
			ConstLabels: prometheus.Labels{"lane": lane.String()},
		}, func() float64 {
			due, err := n.schedule(lane)
			if err != nil {
				return 0
			}
			return float64(due.at) / 1000
		}))
	}
}
