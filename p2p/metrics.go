package p2p

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the host's Prometheus collectors. Topic labels are the short
// names given to Join, without the network prefix.
type metrics struct {
	peers          prometheus.Gauge
	disconnects    *prometheus.CounterVec // reason
	denied         *prometheus.CounterVec // direction
	gossipResults  *prometheus.CounterVec // topic, result: accept|reject|ignore
	gossipDropped  *prometheus.CounterVec // topic, reason
	gossipDeliver  *prometheus.CounterVec // topic
	gossipDup      *prometheus.CounterVec // topic
	gossipPublish  *prometheus.CounterVec // topic
	publishWait    prometheus.Histogram
	requests       *prometheus.CounterVec // protocol, direction, result
	directResults  *prometheus.CounterVec // protocol, result: accept|reject|ignore
	directSent     *prometheus.CounterVec // protocol
	directDropped  *prometheus.CounterVec // protocol, reason
	requestSeconds *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		peers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "waterchain_p2p_peers",
			Help: "Connected peers that passed the network-id handshake.",
		}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_p2p_disconnects_total",
			Help: "Peers this host disconnected, by reason (network_mismatch, no_handshake, graylisted, not_allowed).",
		}, []string{"reason"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_p2p_gater_denied_total",
			Help: "Connections refused by the gater because the peer's key is not allowed, by direction.",
		}, []string{"direction"}),
		gossipResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_p2p_gossip_validated_total",
			Help: "Gossip messages received from peers and validated, by topic and result (accept, reject, ignore).",
		}, []string{"topic", "result"}),
		gossipDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_p2p_gossip_dropped_total",
			Help: "Gossip messages dropped by gossipsub, by topic and reason (outbound_dropped: a peer's send queue was full or the RPC oversize; validation_queue_full, validation_throttled, subscriber_slow, bad_signature_policy, ...).",
		}, []string{"topic", "reason"}),
		gossipDeliver: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_p2p_gossip_delivered_total",
			Help: "Gossip messages from peers handed to the topic's reader, by topic.",
		}, []string{"topic"}),
		gossipDup: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_p2p_gossip_duplicates_total",
			Help: "Copies of gossip messages received again (same bytes, from another peer or again) and dropped before validation, by topic: the forwarding overhead of the mesh.",
		}, []string{"topic"}),
		gossipPublish: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_p2p_gossip_published_total",
			Help: "Gossip messages published by this host, by topic.",
		}, []string{"topic"}),
		publishWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "waterchain_p2p_publish_pacing_seconds",
			Help:    "Time Publish waited for the pacing token bucket.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_p2p_requests_total",
			Help: "Request/response exchanges, by protocol, direction (in, out) and result (ok, error).",
		}, []string{"protocol", "direction", "result"}),
		directResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_p2p_direct_validated_total",
			Help: "Direct messages received from peers and validated, by protocol and result (accept, reject, ignore).",
		}, []string{"protocol", "result"}),
		directSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_p2p_direct_sent_total",
			Help: "Direct messages queued for a peer, by protocol (one per recipient).",
		}, []string{"protocol"}),
		directDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_p2p_direct_dropped_total",
			Help: "Direct messages dropped before they were written, by protocol and reason (queue_full, no_stream, stream_failed).",
		}, []string{"protocol", "reason"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "waterchain_p2p_request_seconds",
			Help:    "Duration of outgoing requests, by protocol.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"protocol"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.peers, m.disconnects, m.denied, m.gossipResults,
		m.gossipDropped, m.gossipDeliver, m.gossipDup, m.gossipPublish, m.publishWait, m.requests, m.requestSeconds,
		m.directResults, m.directSent, m.directDropped} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.Join(ErrConfig, err, errors.New("Registerer: one registry per Host"))
			}
			return nil, err
		}
	}
	return m, nil
}
