package p2p

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// TestDirectSendsInOrderToEachPeer sends messages from one host straight
// to each of the others: each arrives once, in the order sent, with the
// sender's key and the validator's value, and nothing is forwarded.
func TestDirectSendsInOrderToEachPeer(t *testing.T) {
	hosts, keys := startNetwork(t, 3, nil)
	directs := make([]*Direct, len(hosts))
	for i, h := range hosts {
		d, err := h.OpenDirect("consensus/votes/1", func(_ chain.PubKey, data []byte) (Result, any) {
			return Accept, strings.TrimPrefix(string(data), "vote:")
		})
		if err != nil {
			t.Fatal(err)
		}
		directs[i] = d
	}
	if _, err := hosts[0].OpenDirect("consensus/votes/1", acceptAll); !errors.Is(err, ErrProtocolHandled) {
		t.Errorf("second OpenDirect: got %v, want ErrProtocolHandled", err)
	}
	if _, err := hosts[0].OpenDirect("Bad Name", acceptAll); !errors.Is(err, ErrBadProtocol) {
		t.Errorf("bad name: got %v, want ErrBadProtocol", err)
	}

	const count = 300
	for i := range count {
		if got := directs[0].SendAll(fmt.Appendf(nil, "vote:%d", i)); got != 2 {
			t.Fatalf("SendAll reached %d peers, want 2", got)
		}
	}
	for r := 1; r < 3; r++ {
		got := receive(t, directs[r].Messages(), count, 20*time.Second)
		for i, m := range got {
			if m.From != keys[0].Public() {
				t.Fatalf("host %d message %d from %s, want %s", r, i, m.From.Short(), keys[0].Public().Short())
			}
			if want := fmt.Sprint(i); m.Value != want {
				t.Fatalf("host %d message %d: value %v, want %s (in order)", r, i, m.Value, want)
			}
		}
	}
	// Nothing is forwarded: host 2 got host 0's messages once, not again
	// through host 1.
	select {
	case m := <-directs[2].Messages():
		t.Fatalf("host 2 got an extra message %q from %s", m.Data, m.From.Short())
	case <-time.After(200 * time.Millisecond):
	}
	if got := counter(t, hosts[0].metrics.directSent); got != 2*count {
		t.Errorf("direct_sent_total %v, want %d", got, 2*count)
	}
	if got := counter(t, hosts[1].metrics.directResults); got != count {
		t.Errorf("host 1 direct_validated_total %v, want %d", got, count)
	}
}

// TestDirectRejectResetsStream has a receiver reject one message: the
// stream it came on is reset, and the next messages open a new one and
// arrive.
func TestDirectRejectResetsStream(t *testing.T) {
	hosts, keys := startNetwork(t, 2, nil)
	sender, err := hosts[0].OpenDirect("votes", acceptAll)
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := hosts[1].OpenDirect("votes", func(_ chain.PubKey, data []byte) (Result, any) {
		switch string(data) {
		case "bad":
			return Reject, nil
		case "stale":
			return Ignore, nil
		}
		return Accept, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	to := keys[1].Public()
	for _, m := range []string{"one", "stale", "two", "bad"} {
		if err := sender.Send(to, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	got := receive(t, receiver.Messages(), 2, 10*time.Second)
	if string(got[0].Data) != "one" || string(got[1].Data) != "two" {
		t.Fatalf("got %q, %q; want one, two (stale ignored)", got[0].Data, got[1].Data)
	}
	eventually(t, 10*time.Second, "the reject counted", func() bool {
		return counter(t, hosts[1].metrics.directResults.WithLabelValues("votes", Reject.String())) == 1
	})
	// The sender learns of the reset at its next write at the latest;
	// keep sending until a message gets through on a new stream.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := sender.Send(to, []byte("three")); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-receiver.Messages():
			if string(m.Data) != "three" {
				t.Fatalf("after the reset got %q, want three", m.Data)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no message arrived after the reset")
		}
	}
}

func TestDirectSendErrors(t *testing.T) {
	hosts, _ := startNetwork(t, 2, func(_ int, c *Config) { c.MaxMessageSize = 100 })
	d, err := hosts[0].OpenDirect("votes", acceptAll)
	if err != nil {
		t.Fatal(err)
	}
	stranger := testKey(t, "stranger").Public()
	if err := d.Send(stranger, []byte("x")); !errors.Is(err, ErrNotConnected) {
		t.Errorf("to a peer not connected: got %v, want ErrNotConnected", err)
	}
	if err := d.Send(hosts[1].Key(), make([]byte, 101)); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("oversize: got %v, want ErrMessageTooLarge", err)
	}
	d.Close()
	if err := d.Send(hosts[1].Key(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: got %v, want ErrClosed", err)
	}
	// The protocol can be served again after Close.
	if _, err := hosts[0].OpenDirect("votes", acceptAll); err != nil {
		t.Errorf("OpenDirect after Close: %v", err)
	}
}

// TestDirectQueueFull sends to a peer that does not read Messages: its
// streams fill, then the sender's queue, and Send reports ErrQueueFull
// instead of blocking.
func TestDirectQueueFull(t *testing.T) {
	hosts, keys := startNetwork(t, 2, nil)
	d, err := hosts[0].OpenDirect("votes", acceptAll)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hosts[1].OpenDirect("votes", acceptAll); err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 4096)
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := d.Send(keys[1].Public(), msg)
		if errors.Is(err, ErrQueueFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the queue to a peer that does not read never filled")
		}
	}
	if got := counter(t, hosts[0].metrics.directDropped.WithLabelValues("votes", "queue_full")); got < 1 {
		t.Errorf("direct_dropped_total{queue_full} = %v, want ≥ 1", got)
	}
}
