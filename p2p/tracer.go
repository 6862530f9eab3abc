package p2p

import (
	"strings"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// dropTracer counts what gossipsub drops silently: outbound RPCs to a peer
// whose queue is full (or that are oversize), received messages the validation queue had no room
// for, validated messages the reader was too slow to take, and messages
// refused before validation. Publish reports success in every one of these
// cases, so these counters are the only evidence of loss. gossipsub calls it
// from its event loop: every method must be cheap and never block.
type dropTracer struct{ n *Host }

var _ pubsub.RawTracer = dropTracer{}

func (t dropTracer) topic(full string) string { return strings.TrimPrefix(full, t.n.prefix) }

func (t dropTracer) DropRPC(rpc *pubsub.RPC, _ peer.ID) {
	for _, m := range rpc.GetPublish() {
		t.n.metrics.gossipDropped.WithLabelValues(t.topic(m.GetTopic()), "outbound_dropped").Inc()
	}
}

func (t dropTracer) RejectMessage(msg *pubsub.Message, reason string) {
	var label string
	switch reason {
	case pubsub.RejectValidationFailed, pubsub.RejectValidationIgnored:
		return // counted by the topic validator with its result
	case pubsub.RejectValidationQueueFull:
		label = "validation_queue_full"
	case pubsub.RejectValidationThrottled:
		label = "validation_throttled"
	case pubsub.RejectMissingSignature, pubsub.RejectUnexpectedSignature,
		pubsub.RejectUnexpectedAuthInfo, pubsub.RejectInvalidSignature:
		label = "bad_signature_policy"
	case pubsub.RejectBlacklstedPeer, pubsub.RejectBlacklistedSource:
		label = "blacklisted"
	case pubsub.RejectSelfOrigin:
		label = "self_origin"
	default:
		label = "other"
	}
	t.n.metrics.gossipDropped.WithLabelValues(t.topic(msg.GetTopic()), label).Inc()
}

func (t dropTracer) UndeliverableMessage(msg *pubsub.Message) {
	t.n.metrics.gossipDropped.WithLabelValues(t.topic(msg.GetTopic()), "subscriber_slow").Inc()
}

// DuplicateMessage counts a copy dropped by the seen-messages cache: with
// flood publishing and a mesh of degree D, each message reaches a node up
// to 1+D times and is validated once.
func (t dropTracer) DuplicateMessage(msg *pubsub.Message) {
	t.n.metrics.gossipDup.WithLabelValues(t.topic(msg.GetTopic())).Inc()
}

func (dropTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (dropTracer) OnClosedOutboundStream(peer.ID)                       {}
func (dropTracer) Join(string)                                          {}
func (dropTracer) Leave(string)                                         {}
func (dropTracer) Graft(peer.ID, string)                                {}
func (dropTracer) Prune(peer.ID, string)                                {}
func (dropTracer) ValidateMessage(*pubsub.Message)                      {}
func (dropTracer) DeliverMessage(*pubsub.Message)                       {}
func (dropTracer) ThrottlePeer(peer.ID)                                 {}
func (dropTracer) RecvRPC(*pubsub.RPC)                                  {}
func (dropTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (dropTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
