package node

import (
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/mempool"
	"github.com/waterchain/waterchain/p2p"
)

// BenchmarkProposalReceive is what a validator does with a data-lane
// proposal of 5,000 readings it already holds (signatures cached, as after
// the gossip door), up to the state checks: full, the gossip door's and
// the engine's ValidateBasic and then startValidation's checks; compact,
// the door's rebuild from the mempool, the engine's ValidateBasic and the
// rebuilt block's checks. It reports the proposal's bytes per reading on
// the wire, and the gossip batch's for comparison.
//
//	go test ./node -run '^$' -bench ProposalReceive -benchtime 20x
func BenchmarkProposalReceive(b *testing.B) {
	const readings = 5_000
	chainID := "bench"
	n := &Node{
		chainID: chainID, sigs: newSigCache(1 << 20), readings: mempool.NewReadings(readings),
		compact: newCompactState(prometheus.NewRegistry()), consensusSeen: newSigCache(64),
	}
	n.log = slog.New(slog.DiscardHandler)
	n.metrics = newMetrics(prometheus.NewRegistry())
	key := func() *chain.PrivateKey {
		k, err := chain.GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		return k
	}
	proposer := key()
	blk := &chain.Block{Header: chain.Header{
		ChainID: chainID, Lane: chain.LaneData, Height: 1, Time: chain.TimeOf(time.Now()), PrevHash: chain.HashBytes([]byte("g")),
		Anchor: chain.Anchor{Hash: chain.HashBytes([]byte("g"))}, ValidatorsHash: chain.HashBytes([]byte("v")), Proposer: proposer.Public(),
		StateRoot: chain.HashBytes([]byte("s")),
	}}
	devs := make([]*chain.PrivateKey, 100)
	for i := range devs {
		devs[i] = key()
	}
	at := time.Now().Add(-time.Minute)
	for i := range readings {
		r := signedReading(chainID, devs[i%len(devs)], uint64(i/len(devs)+1), at.Add(time.Duration(i)*time.Millisecond))
		blk.Readings = append(blk.Readings, r)
		if err := n.readings.Add(r.Hash(), r); err != nil {
			b.Fatal(err)
		}
	}
	for _, err := range verifyReadings(n.sigs, chainID, blk.Readings, nil) {
		if err != nil {
			b.Fatal(err)
		}
	}
	blk.Header.NumEntries = readings
	blk.Header.EntriesRoot = blk.ComputeEntriesRoot()
	p := &chain.Proposal{Lane: chain.LaneData, Height: 1, POLRound: -1, Block: blk}
	p.Sign(chainID, proposer)
	full := chain.MustEncode(&wireConsensus{Proposal: p, Sent: 1})
	compact := chain.MustEncode(&wireConsensus{Compact: compactOf(p, nil), Sent: 1})
	gossip := chain.MustEncode(&wireReadings{Readings: blk.Readings[:maxGossipReadings], Sent: 1})

	for _, form := range []string{"full", "compact"} {
		b.Run(form, func(b *testing.B) {
			data := full
			if form == "compact" {
				data = compact
			}
			for b.Loop() {
				res, v := n.validateGossipConsensus(chain.LaneData, proposer.Public(), data)
				lm, ok := v.(laneMessage)
				if res != p2p.Accept || !ok {
					b.Fatalf("door: %v %T", res, v)
				}
				if err := lm.msg.Proposal.ValidateBasic(); err != nil { // the engine's VerifyProposal
					b.Fatal(err)
				}
				if err := n.checkStateless(lm.msg.Proposal.Block); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data))/readings, "proposal-B/reading")
			b.ReportMetric(float64(len(gossip))/maxGossipReadings, "gossip-B/reading")
		})
	}
}
