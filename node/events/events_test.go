package events

import (
	"encoding/json"
	"testing"
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
