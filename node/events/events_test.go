package events

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

func TestPublishReachesSubscribersAndSlowOnesDrop(t *testing.T) {
	h := NewHub()
	fast := h.Subscribe(10)
	slow := h.Subscribe(1)
	defer fast.Close()
	for i := 0; i < 3; i++ {
		h.Publish("block", map[string]int{"height": i})
	}
	for i := 0; i < 3; i++ {
		ev := <-fast.C
		var got map[string]int
		if err := json.Unmarshal(ev.Data, &got); err != nil || got["height"] != i || ev.Kind != "block" {
			t.Fatalf("event %d: %+v %v", i, ev, err)
		}
	}
	if slow.Dropped() != 2 {
		t.Fatalf("slow subscriber dropped %d, want 2", slow.Dropped())
	}
	slow.Close()
	slow.Close() // idempotent
	if h.Subscribers() != 1 {
		t.Fatalf("%d subscribers after close", h.Subscribers())
	}
	if _, ok := <-slow.C; !ok {
		return
	}
	if _, ok := <-slow.C; ok {
		t.Fatal("closed subscription still delivers")
	}
}

// TestFilters: the zero filter gets every kind but final; a device filter
// gets that device's finals and alerts only; a kind filter gets its kinds.
// Wants tells a publisher whether to build final events at all.
func TestFilters(t *testing.T) {
	h := NewHub()
	a, b := chain.PubKey{1}, chain.PubKey{2}
	if h.Wants(KindFinal) {
		t.Fatal("Wants(final) with no subscriber")
	}
	all := h.Subscribe(16)
	defer all.Close()
	if h.Wants(KindFinal) || !h.Wants(KindBlock) {
		t.Fatal("the zero filter wants finals, or not blocks")
	}
	devA := h.SubscribeFiltered(16, Filter{Device: a})
	defer devA.Close()
	if !h.Wants(KindFinal) {
		t.Fatal("a device subscription does not want finals")
	}
	finals := h.SubscribeFiltered(16, Filter{Kinds: []string{KindFinal}})
	defer finals.Close()
	blocksOfA := h.SubscribeFiltered(16, Filter{Kinds: []string{KindBlock}, Device: a})
	defer blocksOfA.Close()

	h.Publish(KindBlock, 1)
	h.PublishAbout(KindFinal, a, 2)
	h.PublishAbout(KindFinal, b, 3)
	h.PublishAbout(KindAlert, a, 4)
	h.PublishAbout(KindAlert, b, 5)

	for _, c := range []struct {
		name string
		sub  *Subscription
		want []string
	}{
		{"zero filter", all, []string{"block 1", "alert 4", "alert 5"}},
		{"device a", devA, []string{"final 2", "alert 4"}},
		{"kind final", finals, []string{"final 2", "final 3"}},
		{"blocks of a", blocksOfA, nil},
	} {
		var got []string
		for len(c.sub.C) > 0 {
			ev := <-c.sub.C
			got = append(got, ev.Kind+" "+string(ev.Data))
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// countingPayload counts its encodings.
type countingPayload struct{ n *int }

func (c countingPayload) MarshalJSON() ([]byte, error) {
	*c.n++
	return []byte(`{}`), nil
}

// TestEncodedOnlyWhenWanted: an event no subscription accepts is not
// encoded, and one that several accept is encoded once.
func TestEncodedOnlyWhenWanted(t *testing.T) {
	h := NewHub()
	var n int
	h.PublishAbout(KindFinal, chain.PubKey{1}, countingPayload{&n})
	a, b := h.Subscribe(4), h.Subscribe(4)
	defer a.Close()
	defer b.Close()
	h.PublishAbout(KindFinal, chain.PubKey{1}, countingPayload{&n})
	if n != 0 {
		t.Fatalf("a final event nobody asked for was encoded %d times", n)
	}
	h.Publish(KindBlock, countingPayload{&n})
	if n != 1 || len(a.C) != 1 || len(b.C) != 1 {
		t.Fatalf("a block event for two subscribers: encoded %d times, delivered %d and %d", n, len(a.C), len(b.C))
	}
}
