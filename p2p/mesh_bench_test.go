package p2p

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkGossipCopies measures what gossipsub's mesh degree D costs when
// every host is connected to every other, as validators that bootstrap
// from each other are: each round, every host publishes one 400-byte
// message (a gossiped batch of a few readings) and waits until every other
// host has it. Reported per message and receiving host:
//
//   - copies/msg: copies received (the one validated plus the duplicates
//     dropped before validation); the author's flood publish alone would
//     make it 1;
//   - cpu-µs/msg: CPU time of the whole process (all hosts) per message
//     and receiver, which includes the heartbeats' IHAVE gossip.
//
// The copies do not depend on the machine's speed; the CPU does:
//
//	go test ./p2p -run '^$' -bench GossipCopies -benchtime 200x
func BenchmarkGossipCopies(b *testing.B) {
	for _, hosts := range []int{10, 16} {
		for _, d := range []int{6, 3, 2} {
			b.Run(fmt.Sprintf("hosts=%d/D=%d", hosts, d), func(b *testing.B) {
				benchGossipCopies(b, hosts, d)
			})
		}
	}
}

func benchGossipCopies(b *testing.B, size, d int) {
	hs, _ := startNetwork(b, size, func(_ int, c *Config) { c.MeshDegree = d })
	var delivered atomic.Int64
	topics := make([]*Topic, size)
	for i, h := range hs {
		tp, err := h.Join("readings", acceptAll)
		if err != nil {
			b.Fatal(err)
		}
		topics[i] = tp
		go func() {
			for range tp.Messages() {
				delivered.Add(1)
			}
		}()
	}
	for _, tp := range topics {
		eventually(b, 10*time.Second, "subscriptions", func() bool { return len(tp.Peers()) == size-1 })
	}
	// Let the first heartbeats build the meshes.
	time.Sleep(2 * time.Second)
	copies := func() float64 {
		s := 0.0
		for _, h := range hs {
			s += counter(b, h.metrics.gossipResults) + counter(b, h.metrics.gossipDup)
		}
		return s
	}
	copies0, cpu0 := copies(), processCPU()
	delivered.Store(0)
	ctx := context.Background()
	b.ResetTimer()
	for round := range b.N {
		for i, tp := range topics {
			m := make([]byte, 400)
			binary.BigEndian.PutUint64(m, uint64(round))
			binary.BigEndian.PutUint64(m[8:], uint64(i))
			if err := tp.Publish(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		want := int64((round + 1) * size * (size - 1))
		eventually(b, 30*time.Second, "every message everywhere", func() bool { return delivered.Load() >= want })
	}
	b.StopTimer()
	// Duplicates still on their way count too.
	time.Sleep(500 * time.Millisecond)
	msgs := float64(b.N * size * (size - 1))
	b.ReportMetric((copies()-copies0)/msgs, "copies/msg")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/msgs, "cpu-µs/msg")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
