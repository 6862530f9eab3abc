package alerts

import (
	"testing"

	"github.com/waterchain/waterchain/chain"
)

func TestLog(t *testing.T) {
	a, b := chain.PubKey{1}, chain.PubKey{2}
	mk := func(dev chain.PubKey, kind Kind, at chain.Time) Alert {
		al := Alert{Device: dev, Kind: kind, Time: at}
		al.computeID()
		return al
	}
	l := NewLog(3)
	if n := l.Add(mk(a, KindLeak, 1), mk(b, KindSpike, 2), mk(a, KindLeak, 1)); n != 2 {
		t.Fatalf("added %d, want 2 (one duplicate)", n)
	}
	l.Add(mk(a, KindSpike, 3), mk(b, KindLeak, 4)) // the first one falls out
	if l.Len() != 3 {
		t.Fatalf("len %d", l.Len())
	}
	all := l.List(Filter{})
	if len(all) != 3 || all[0].Time != 4 || all[2].Time != 2 {
		t.Fatalf("list %+v", all)
	}
	if got := l.List(Filter{Device: a}); len(got) != 1 || got[0].Time != 3 {
		t.Fatalf("device filter %+v", got)
	}
	if got := l.List(Filter{Kind: KindLeak}); len(got) != 1 || got[0].Device != b {
		t.Fatalf("kind filter %+v", got)
	}
	if got := l.List(Filter{Since: 3, Limit: 1}); len(got) != 1 || got[0].Time != 4 {
		t.Fatalf("since+limit %+v", got)
	}
	// The forgotten alert can come back.
	if n := l.Add(mk(a, KindLeak, 1)); n != 1 {
		t.Fatalf("re-adding a forgotten alert: %d", n)
	}
}
