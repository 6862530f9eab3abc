package images

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/imaging"
)

func sortByID(as []alerts.Alert) []alerts.Alert {
	as = slices.Clone(as)
	slices.SortFunc(as, func(a, b alerts.Alert) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return as
}

func snapshot(t *testing.T, f *fixture) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if err := f.im.kv.Iterate(nil, store.IterOptions{}, func(k, v []byte) error {
		out[string(k)] = bytes.Clone(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReplayAlerts: the image alerts raised live (floating solids; two
// class changes, with a frame of an unchanged class between) are derived
// again, with the same IDs and fields, by a new instance over the same KV,
// as after a restart, without writing any record; a frame whose reading
// is not final is left for a later restart.
func TestReplayAlerts(t *testing.T) {
	f := newFixture(t, Config{})
	frames := [][]byte{
		sceneJPEG(t, sceneClear, sceneParams{Objects: 3}, 7), // floating solids
		sceneJPEG(t, sceneColoured, sceneParams{Hue: 30}, 8), // clear → coloured
		sceneJPEG(t, sceneColoured, sceneParams{Hue: 40}, 9), // unchanged
		sceneJPEG(t, sceneClear, sceneParams{}, 10),          // coloured → clear
	}
	var rs []*chain.Reading
	for i, fr := range frames {
		rs = append(rs, f.reading(uint64(i+1), chain.HashBytes(fr)))
	}
	f.wait(rs...)
	for _, fr := range frames {
		mustPut(t, f.im, fr)
	}
	f.commit(false, rs...)
	late := sceneJPEG(t, sceneClear, sceneParams{Objects: 2}, 11) // floating solids, reading still waiting
	f.wait(f.reading(5, chain.HashBytes(late)))
	mustPut(t, f.im, late)

	live := f.sink.all()
	kinds := map[alerts.Kind][]uint64{}
	for _, a := range live {
		kinds[a.Kind] = append(kinds[a.Kind], a.Readings[0].Seq)
	}
	if !slices.Equal(kinds[alerts.KindFloatingSolids], []uint64{1, 5}) || !slices.Equal(kinds[alerts.KindImageClass], []uint64{2, 4}) {
		t.Fatalf("live image alerts on readings %v, want floating solids on 1 and 5, class changes on 2 and 4", kinds)
	}
	before := snapshot(t, f)

	replayed, err := f.open(Config{}).ReplayAlerts()
	if err != nil {
		t.Fatal(err)
	}
	want := sortByID(live[:len(live)-1]) // all but the late frame's
	got := sortByID(replayed)
	if len(got) != len(want) {
		t.Fatalf("%d alerts replayed, want %d:\nlive %+v\nreplayed %+v", len(got), len(want), want, got)
	}
	for i := range want {
		if fmt.Sprintf("%+v", got[i]) != fmt.Sprintf("%+v", want[i]) {
			t.Errorf("alert %d differs:\nlive     %+v\nreplayed %+v", i, want[i], got[i])
		}
	}
	after := snapshot(t, f)
	if len(after) != len(before) {
		t.Fatalf("%d records after the replay, %d before", len(after), len(before))
	}
	for k, v := range before {
		if !bytes.Equal(after[k], v) {
			t.Errorf("record %x rewritten by the replay", k)
		}
	}
	// Without an alert sink there is nothing to replay.
	im, err := New(f.kv, Config{MaxBytes: 1 << 20, OrphanGrace: 1}, Deps{Chain: f.store, Pool: f.pool, Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	if as, err := im.ReplayAlerts(); err != nil || len(as) != 0 {
		t.Fatalf("replay without a sink: %d alerts, %v", len(as), err)
	}
}

// TestJudgeFrame: starting from a frame that raises nothing, each change
// raises the alert, or moves the class state, that the rules say.
func TestJudgeFrame(t *testing.T) {
	clear := frameFigures{Class: imaging.ClassClear}
	prev := classState{Seq: 4, Class: imaging.ClassClear}
	cases := []struct {
		name     string
		fig      frameFigures
		seq      uint64
		havePrev bool
		want     frameJudgement
	}{
		{"same class", clear, 5, true, frameJudgement{advance: true}},
		{"first frame", clear, 5, false, frameJudgement{advance: true}},
		{"objects", frameFigures{Class: imaging.ClassClear, ObjectCount: 2}, 5, true, frameJudgement{floating: true, advance: true}},
		{"objects on foam", frameFigures{Class: imaging.ClassFoamy, ObjectCount: 2}, 5, true, frameJudgement{classChange: true, advance: true}},
		{"objects in the dark", frameFigures{Class: imaging.ClassClear, ObjectCount: 2, Dark: true}, 5, true, frameJudgement{}},
		{"class change", frameFigures{Class: imaging.ClassTurbid}, 5, true, frameJudgement{classChange: true, advance: true}},
		{"class change in the dark", frameFigures{Class: imaging.ClassTurbid, Dark: true}, 5, true, frameJudgement{}},
		{"first frame of another class", frameFigures{Class: imaging.ClassTurbid}, 5, false, frameJudgement{advance: true}},
		{"late older frame", frameFigures{Class: imaging.ClassTurbid}, 3, true, frameJudgement{}},
		{"same seq", frameFigures{Class: imaging.ClassTurbid}, 4, true, frameJudgement{}},
	}
	for _, c := range cases {
		if got := judgeFrame(c.fig, c.seq, prev, c.havePrev); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestMergeAlertsByTime: the replayed alerts go between the chain's by
// time, the chain's keep their order, and ties keep the chain's first.
func TestMergeAlertsByTime(t *testing.T) {
	mk := func(kind alerts.Kind, at chain.Time) alerts.Alert { return alerts.Alert{Kind: kind, Time: at} }
	base := []alerts.Alert{mk("a", 10), mk("b", 30), mk("c", 20), mk("d", 40)}
	extra := []alerts.Alert{mk("y", 35), mk("x", 5), mk("z", 30), mk("w", 50)}
	got := MergeAlertsByTime(base, extra)
	var order []string
	for _, a := range got {
		order = append(order, string(a.Kind))
	}
	if want := []string{"x", "a", "b", "c", "z", "y", "d", "w"}; !slices.Equal(order, want) {
		t.Fatalf("merged order %v, want %v", order, want)
	}
	if len(MergeAlertsByTime(nil, nil)) != 0 || len(MergeAlertsByTime(base, nil)) != len(base) {
		t.Fatal("merging with nothing changes the alerts")
	}
	if extra[0].Kind != "y" {
		t.Fatal("the merge sorted the caller's slice")
	}
}
