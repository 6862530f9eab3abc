package node

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// BenchmarkConsensusMessages runs idle networks of 4, 7, 10 and 16
// validators in this process (heartbeat blocks on both lanes, real libp2p
// over loopback) and reports, per finalized height (both lanes counted):
//
//   - door/height: consensus messages that reached a node's door, by
//     gossip or sent directly (votes.go; every node's doors counted), each
//     decoded there and, unless ignored, signature checked;
//   - checked/height: those accepted or rejected, that is checked in full
//     (a vote's ed25519 signature, a proposal's entries root);
//   - dup/height: copies gossipsub received again and dropped before the
//     door (same bytes from another mesh peer);
//   - cpu-ms/height: CPU time of the whole process (all nodes).
//
// The counts do not depend on the machine's speed as latency does, except
// that a height that takes over two seconds has its votes rebroadcast.
// Run it with a fixed count of heights:
//
//	go test ./node -run '^$' -bench BenchmarkConsensusMessages -benchtime 20x
func BenchmarkConsensusMessages(b *testing.B) {
	for _, validators := range []int{4, 7, 10, 16} {
		b.Run(fmt.Sprintf("validators=%d", validators), func(b *testing.B) {
			tn := startTestNet(b, validators, 0, 1)
			waitFor(b, 2*time.Minute, "the first blocks", func() bool {
				for _, n := range tn.nodes {
					if n.Height(chain.LaneData) < 1 || n.Height(chain.LaneTx) < 1 {
						return false
					}
				}
				return true
			})
			heights := func() uint64 { return tn.nodes[0].Height(chain.LaneData) + tn.nodes[0].Height(chain.LaneTx) }
			h0, door0, checked0, dup0, cpu0 := heights(), 0.0, 0.0, 0.0, cpuTime()
			for _, n := range tn.nodes {
				d, c, u := consensusDoorCounts(b, n)
				door0, checked0, dup0 = door0+d, checked0+c, dup0+u
			}
			b.ResetTimer()
			waitFor(b, time.Duration(b.N)*time.Minute, fmt.Sprintf("%d more heights", b.N), func() bool { return heights() >= h0+uint64(b.N) })
			b.StopTimer()
			hs := float64(heights() - h0)
			cpu := cpuTime() - cpu0
			door, checked, dup := -door0, -checked0, -dup0
			for _, n := range tn.nodes {
				d, c, u := consensusDoorCounts(b, n)
				door, checked, dup = door+d, checked+c, dup+u
			}
			b.ReportMetric(dup/hs, "dup/height")
			b.ReportMetric(door/hs, "door/height")
			b.ReportMetric(checked/hs, "checked/height")
			b.ReportMetric(float64(cpu.Milliseconds())/hs, "cpu-ms/height")
		})
	}
}

// consensusDoorCounts sums n's gossip door verdicts on the consensus
// topics: all of them, those checked in full (accepted or rejected), and
// the duplicate copies dropped before the door.
func consensusDoorCounts(tb testing.TB, n *Node) (door, checked, dup float64) {
	tb.Helper()
	mfs, err := n.registry.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if name != "waterchain_p2p_gossip_validated_total" && name != "waterchain_p2p_gossip_duplicates_total" &&
			name != "waterchain_p2p_direct_validated_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var topic, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "topic", "protocol":
					topic = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			if !strings.HasPrefix(topic, "consensus") {
				continue
			}
			v := m.GetCounter().GetValue()
			if name == "waterchain_p2p_gossip_duplicates_total" {
				dup += v
				continue
			}
			door += v
			if result != "ignore" {
				checked += v
			}
		}
	}
	return door, checked, dup
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
