package node

import (
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

func seqReadings(from, n int) []*chain.Reading {
	out := make([]*chain.Reading, n)
	for i := range out {
		out[i] = &chain.Reading{Seq: uint64(from + i)}
	}
	return out
}

// checkOrder fails unless the messages carry readings from..from+n-1 in
// order.
func checkOrder(t *testing.T, msgs [][]*chain.Reading, from, n int) {
	t.Helper()
	next := uint64(from)
	for _, m := range msgs {
		for _, r := range m {
			if r.Seq != next {
				t.Fatalf("reading %d where %d was due (messages %d)", r.Seq, next, len(msgs))
			}
			next++
		}
	}
	if next != uint64(from+n) {
		t.Fatalf("%d readings sent, want %d", next-uint64(from), n)
	}
}

// TestGossipBatcherCoalesces: readings admitted a few at a time within the
// linger go out as one message, in order; as soon as enough are waiting
// they go out at once, in messages of at most maxGossipReadings.
func TestGossipBatcherCoalesces(t *testing.T) {
	var sent [][]*chain.Reading
	b := newGossipBatcher(time.Hour, 100, func(rs []*chain.Reading) { sent = append(sent, rs) })
	for i := 0; i < 40; i++ {
		b.add(seqReadings(1+2*i, 2))
	}
	if len(sent) != 0 {
		t.Fatalf("%d messages sent with 80 readings waiting, fewer than enough (100), before the linger ended", len(sent))
	}
	b.flush()
	if len(sent) != 1 {
		t.Fatalf("80 readings in 40 requests went out in %d messages, want 1", len(sent))
	}
	checkOrder(t, sent, 1, 80)

	sent = nil
	for i := 0; i < 60; i++ { // the 50th request makes 100
		b.add(seqReadings(1+2*i, 2))
		if want := min(1, (i+1)/50); len(sent) != want {
			t.Fatalf("after request %d (%d readings): %d messages sent, want %d", i+1, 2*(i+1), len(sent), want)
		}
	}
	b.flush()
	if len(sent) != 2 || len(sent[0]) != 100 {
		t.Fatalf("got %d messages (the first of %d readings), want one of 100 at once and one of 20 after the linger", len(sent), len(sent[0]))
	}
	checkOrder(t, sent, 1, 120)

	sent = nil
	b.add(seqReadings(1, 10))
	b.add(seqReadings(11, 2*maxGossipReadings+5))
	if len(sent) != 3 || len(sent[0]) != maxGossipReadings || len(sent[1]) != maxGossipReadings || len(sent[2]) != 15 {
		t.Fatalf("a request of %d readings after 10 waiting: %d messages, want 3 at once, the first two of %d", 2*maxGossipReadings+5, len(sent), maxGossipReadings)
	}
	checkOrder(t, sent, 1, 2*maxGossipReadings+15)
}

// TestGossipBatcherFlushesAfterLinger: what waits goes out by itself once
// the linger has passed, and after close nothing goes out.
func TestGossipBatcherFlushesAfterLinger(t *testing.T) {
	got := make(chan []*chain.Reading, 4)
	b := newGossipBatcher(time.Millisecond, gossipEnough, func(rs []*chain.Reading) { got <- rs })
	b.add(seqReadings(1, 3))
	select {
	case rs := <-got:
		checkOrder(t, [][]*chain.Reading{rs}, 1, 3)
	case <-time.After(10 * time.Second):
		t.Fatal("readings still waiting 10 s after a linger of 1 ms")
	}

	b.add(seqReadings(4, 3))
	b.close()
	b.add(seqReadings(7, 3))
	time.Sleep(20 * time.Millisecond) // 20 lingers
	select {
	case rs := <-got:
		t.Fatalf("%d readings gossiped after close", len(rs))
	default:
	}
}
