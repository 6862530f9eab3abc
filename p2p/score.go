package p2p

import (
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Peer scoring. The network is permissioned, so Sybil defences (IP
// colocation, mesh delivery quotas) would only punish honest quiet peers:
// what matters is that a peer relaying provably invalid messages — which no
// honest node does, since each validates before forwarding — loses standing
// quickly and for long. Invalid deliveries (P4) count as -10·n² per topic and
// decay to 1% over an hour, so three invalid messages in one topic put a
// fresh peer below the graylist threshold (-80), four one with the best
// possible record: its RPCs are ignored, it is pruned from every mesh, and
// this host disconnects it. First deliveries (P2) earn at most +5 per topic
// and +20 overall, so good behaviour buys back little.
const (
	gossipThreshold    = -10
	publishThreshold   = -50
	graylistThreshold  = -80
	invalidWeight      = -10
	scoreDecayInterval = time.Second
)

var scoreThresholds = pubsub.PeerScoreThresholds{
	GossipThreshold:             gossipThreshold,
	PublishThreshold:            publishThreshold,
	GraylistThreshold:           graylistThreshold,
	AcceptPXThreshold:           0, // peer exchange is off
	OpportunisticGraftThreshold: 1,
}

func peerScoreParams() *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics:           make(map[string]*pubsub.TopicScoreParams),
		TopicScoreCap:    20,
		AppSpecificScore: func(peer.ID) float64 { return 0 },
		// No IP colocation penalty: every node may sit behind one NAT, and
		// the gater already keeps out unknown identities.
		IPColocationFactorWeight: 0,
		BehaviourPenaltyWeight:   0,
		DecayInterval:            scoreDecayInterval,
		DecayToZero:              0.01,
		RetainScore:              time.Hour,
	}
}

func topicScoreParams() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight:                    1,
		TimeInMeshQuantum:              time.Second, // P1 off, but the quantum must be set
		FirstMessageDeliveriesWeight:   0.5,
		FirstMessageDeliveriesDecay:    pubsub.ScoreParameterDecayWithBase(10*time.Minute, scoreDecayInterval, 0.01),
		FirstMessageDeliveriesCap:      10,
		InvalidMessageDeliveriesWeight: invalidWeight,
		InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecayWithBase(time.Hour, scoreDecayInterval, 0.01),
	}
}

// inspectScores records the sampled scores and hands graylisted peers to
// disconnectGraylisted. gossipsub calls it from its own goroutine, so it
// must not block.
func (n *Host) inspectScores(scores map[peer.ID]float64) {
	n.scoresMu.Lock()
	clear(n.scores)
	for id, s := range scores {
		n.scores[id] = s
	}
	n.scoresMu.Unlock()
	for id, s := range scores {
		if s < graylistThreshold {
			select {
			case n.graylisted <- id:
			default: // the next sample will try again
			}
		}
	}
}

// disconnectGraylisted closes the connections of peers the score inspector
// found graylisted. It runs for the life of the host.
func (n *Host) disconnectGraylisted() {
	for {
		select {
		case <-n.ctx.Done():
			return
		case id := <-n.graylisted:
			if n.h.Network().Connectedness(id) == network.Connected {
				n.disconnect(id, "graylisted", "gossip score below the graylist threshold (invalid messages)")
			}
		}
	}
}
