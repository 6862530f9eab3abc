package p2p

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// TestGarbageSenderIsGraylisted runs two honest hosts and one whose
// validator accepts anything, so it publishes garbage. The honest hosts
// reject every garbage message (none reaches their readers), score the
// sender down below the graylist threshold, and disconnect it, while still
// exchanging valid messages with each other.
func TestGarbageSenderIsGraylisted(t *testing.T) {
	hosts, keys := startNetwork(t, 3, nil)
	honest, garbage := hosts[:2], hosts[2]
	garbageKey := keys[2].Public()
	validate := func(_ chain.PubKey, data []byte) (Result, any) {
		if !bytes.HasPrefix(data, []byte("valid:")) {
			return Reject, nil
		}
		return Accept, nil
	}
	var topics []*Topic
	for _, h := range honest {
		tp, err := h.Join("txs", validate)
		if err != nil {
			t.Fatal(err)
		}
		topics = append(topics, tp)
	}
	gt, err := garbage.Join("txs", acceptAll)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range append(topics, gt) {
		eventually(t, 10*time.Second, "subscriptions", func() bool { return len(tp.Peers()) == 2 })
	}

	ctx := context.Background()
	const sent = 10
	for i := range sent {
		if err := gt.Publish(ctx, fmt.Appendf(nil, "garbage %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range honest {
		eventually(t, 10*time.Second, fmt.Sprintf("host %d to graylist the garbage sender", i), func() bool {
			s, ok := h.PeerScore(garbageKey)
			return ok && s < graylistThreshold
		})
		eventually(t, 10*time.Second, fmt.Sprintf("host %d to disconnect the garbage sender", i), func() bool {
			return counter(t, h.metrics.disconnects.WithLabelValues("graylisted")) >= 1
		})
		if n := counter(t, h.metrics.gossipResults.WithLabelValues("txs", "reject")); n < 3 {
			t.Errorf("host %d: %v rejects counted, want >= 3", i, n)
		}
	}

	// The honest pair still gossips, and nothing of the garbage got through.
	if err := topics[0].Publish(ctx, []byte("valid: after")); err != nil {
		t.Fatal(err)
	}
	got := receive(t, topics[1].Messages(), 1, 10*time.Second)
	if string(got[0].Data) != "valid: after" {
		t.Fatalf("honest host received %q", got[0].Data)
	}
	for i, tp := range topics {
		select {
		case m := <-tp.Messages():
			t.Fatalf("host %d delivered %q", i, m.Data)
		default:
		}
	}
}

func TestValidatorPanicIsIgnoredNotFatal(t *testing.T) {
	hosts, _ := startNetwork(t, 2, nil)
	a, err := hosts[0].Join("x", func(_ chain.PubKey, data []byte) (Result, any) {
		if string(data) == "boom" {
			panic("validator bug")
		}
		return Accept, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := hosts[1].Join("x", acceptAll)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "subscriptions", func() bool { return len(b.Peers()) == 1 })
	if err := b.Publish(context.Background(), []byte("boom")); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), []byte("fine")); err != nil {
		t.Fatal(err)
	}
	got := receive(t, a.Messages(), 1, 10*time.Second)
	if string(got[0].Data) != "fine" {
		t.Fatalf("got %q, want the message after the panic", got[0].Data)
	}
	// Validation workers run in parallel: "boom" may finish after "fine".
	eventually(t, 10*time.Second, "the panicking message to count as ignored", func() bool {
		return counter(t, hosts[0].metrics.gossipResults.WithLabelValues("x", "ignore")) == 1
	})
	if n := counter(t, hosts[0].metrics.gossipResults.WithLabelValues("x", "reject")); n != 0 {
		t.Errorf("reject counter %v, want 0: a panic is our bug, not the sender's", n)
	}
}

// TestDropsAreCounted fills a reader's buffers (one slot in gossipsub, 64 in
// the topic's channel) and checks that the drops gossipsub makes silently
// show up in the dropped counter, and that Publish reported success anyway.
func TestDropsAreCounted(t *testing.T) {
	hosts, _ := startNetwork(t, 2, func(i int, c *Config) {
		c.PublishRate = -1
		if i == 1 {
			c.SubscriptionBuffer = 1
		}
	})
	a, err := hosts[0].Join("bulk", acceptAll)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hosts[1].Join("bulk", acceptAll)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "subscriptions", func() bool { return len(a.Peers()) == 1 })
	const sent = 300
	for i := range sent {
		if err := a.Publish(context.Background(), fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing reads b yet: beyond the 64 + 1 + 1 messages its buffers and
	// reader hold, gossipsub drops, and counts each drop.
	dropped := hosts[1].metrics.gossipDropped.WithLabelValues("bulk", "subscriber_slow")
	eventually(t, 10*time.Second, "the slow reader's drops to be counted", func() bool {
		return counter(t, dropped) >= sent-66
	})
	// Every message is either delivered or counted as dropped.
	delivered := 0
	eventually(t, 10*time.Second, "deliveries and drops to add up to the messages sent", func() bool {
		for {
			select {
			case <-b.Messages():
				delivered++
				continue
			default:
			}
			return delivered+int(counter(t, dropped)) == sent
		}
	})
}
