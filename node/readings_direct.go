package node

import (
	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/p2p"
)

// In a large validator set, the readings a door admits go straight to each
// peer, as votes do, not by gossipsub.
//
// Gossiped, a message of readings reaches every node from its author (flood
// publish) and again from each peer whose mesh it is in: 1+D copies, each
// crossing the stream, decrypted and decoded, before the copies are
// dropped as seen. In a large set every door's share of the readings is
// small (at 16 validators and 500 readings/s, 31 a second, one or two a
// message), so each node takes hundreds of messages a second for few
// readings, and checks their signatures one or two at a time: at 16
// validators on two cores gossipsub's loops were about 12% of the nodes'
// CPU and the readings' signature checks 12.6%. With at least
// p2p.direct_readings_from validators, a door connected to every validator
// sends its messages of readings straight to each peer
// (protocol readings/1), never forwarded; each node takes each once, checks
// everything but the signatures at the door (readingsDoor), and checks the
// signatures of all the messages waiting, from every peer, in one batch
// (readDirectReadings) before the mempool takes them. While a door is not
// connected to every validator, its readings go by gossip as before; a
// node that misses some (an auditor connected to a few validators) fetches
// them with the compact proposal that names them (compact.go).
const protoReadings = "readings/1"

// maxDirectReadingsBatch bounds the readings checked in one batch.
const maxDirectReadingsBatch = 1024

func (n *Node) startDirectReadings() error {
	d, err := n.host.OpenDirect(protoReadings, n.validateDirectReadings)
	if err != nil {
		return err
	}
	n.topics.directReadings = d
	n.wg.Add(1)
	go n.readDirectReadings()
	return nil
}

// validateDirectReadings is the door of readings sent directly: all but
// the signatures, which readDirectReadings checks in batches. A malformed
// message resets the stream it came on.
func (n *Node) validateDirectReadings(_ chain.PubKey, data []byte) (p2p.Result, any) {
	res, hr := n.readingsDoor(data)
	if res != p2p.Accept {
		return res, nil
	}
	return res, hr
}

// readDirectReadings takes the readings that passed validateDirectReadings,
// checks the signatures of all that are waiting in one batch, and hands the
// valid ones to the mempool. A bad signature drops its reading and is
// counted like a rejected gossip message.
func (n *Node) readDirectReadings() {
	defer n.wg.Done()
	in := n.topics.directReadings.Messages()
	var batch hashedReadings
	for {
		batch.readings, batch.hashes = batch.readings[:0], batch.hashes[:0]
		select {
		case <-n.ctx.Done():
			return
		case m := <-in:
			batch = drainMessages(in, appendReadings(batch, m.Value), appendReadings,
				func(b hashedReadings) bool { return len(b.readings) >= maxDirectReadingsBatch })
		}
		n.admitReadings(n.checkDirectReadings(batch))
	}
}

// checkDirectReadings checks the signatures of batch in one batch and
// returns the readings whose signatures hold.
func (n *Node) checkDirectReadings(batch hashedReadings) hashedReadings {
	errs := verifyReadings(n.sigs, n.chainID, batch.readings, batch.hashes)
	var good hashedReadings
	for i, err := range errs {
		if err != nil {
			n.metrics.gossipRejected.WithLabelValues(topicReadings).Inc()
			n.log.Warn("reading with a bad signature sent directly; dropped", "err", err)
			continue
		}
		good.readings = append(good.readings, batch.readings[i])
		good.hashes = append(good.hashes, batch.hashes[i])
	}
	return good
}

func appendReadings(b hashedReadings, v any) hashedReadings {
	hr := v.(hashedReadings)
	b.readings = append(b.readings, hr.readings...)
	b.hashes = append(b.hashes, hr.hashes...)
	return b
}

// sendReadings sends a message of readings this node's door admitted:
// straight to every peer in a large set this node is connected to whole,
// else by gossip.
func (n *Node) sendReadings(rs []*chain.Reading) {
	data := encodeWireReadings(rs, 0)
	if n.readingsDirect() {
		n.topics.directReadings.SendAll(data)
		return
	}
	n.publish(n.topics.readings, data)
}

// readingsDirect reports whether this node's readings go straight to its
// peers: the data lane's validator set has at least
// p2p.direct_readings_from validators and this node is connected to all.
func (n *Node) readingsDirect() bool {
	at := n.engineSet[chain.LaneData].Load()
	return at != nil && setOfAtLeast(at.vs, n.cfg.P2P.DirectReadingsFrom) && n.allConnected(at.vs)
}
