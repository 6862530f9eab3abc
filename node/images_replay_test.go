package node

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/imaging"
	"github.com/waterchain/waterchain/sim/scenes"
)

// imageRecordSnapshot copies every image record but the indexed height
// (which each new data block rewrites).
func imageRecordSnapshot(t *testing.T, n *Node) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if err := n.kv.Iterate([]byte{imageKeyPrefix}, store.IterOptions{}, func(k, v []byte) error {
		if !bytes.Equal(k, imageKey(imageKeyIndexed, nil)) {
			out[string(k)] = bytes.Clone(v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// imageAlertsOf lists a node's image alerts (both kinds), sorted by ID.
func imageAlertsOf(t *testing.T, n *Node) []alerts.Alert {
	t.Helper()
	out := append(listAlerts(t, n, alerts.KindFloatingSolids), listAlerts(t, n, alerts.KindImageClass)...)
	slices.SortFunc(out, func(a, b alerts.Alert) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

// TestImageAlertsSurviveRestart: the image alerts a node raised live
// (floating solids; two class changes, with a frame of an unchanged class
// between) are listed again, with the same IDs and fields, after the node
// restarts, re-derived from the stored images without rewriting any image
// record; the other alerts are still there.
func TestImageAlertsSurviveRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	tn := startTestNet(t, 1, 0, 1)
	n := tn.nodes[0]
	dev := tn.deviceKey(0)
	frames := [][]byte{
		sceneJPEG(t, scenes.KindClear, scenes.Params{Objects: 3}, 7), // floating solids
		sceneJPEG(t, scenes.KindColoured, scenes.Params{Hue: 30}, 8), // clear → coloured
		sceneJPEG(t, scenes.KindColoured, scenes.Params{Hue: 40}, 9), // unchanged
		sceneJPEG(t, scenes.KindClear, scenes.Params{}, 10),          // coloured → clear
	}
	now := time.Now()
	var readings []*chain.Reading
	for i, f := range frames {
		readings = append(readings, readingWithImage(n.ChainID(), dev, uint64(i+1), now.Add(time.Duration(i-len(frames))*time.Second), chain.HashBytes(f)))
	}
	var res api.SubmitReadingsResult
	if code := httpJSON(t, n, "POST", "/v1/readings", readings, &res); code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, res)
	}
	for i, f := range frames {
		if code, e := putImage(t, n, chain.HashBytes(f), "image/jpeg", f); code != http.StatusCreated {
			t.Fatalf("upload %d: %d %+v", i+1, code, e)
		}
	}
	waitFor(t, 30*time.Second, "every reading final and its image indexed", func() bool {
		d, err := n.Device(dev.Public())
		if err != nil || d.LastSeq != uint64(len(frames)) {
			return false
		}
		for _, f := range frames {
			if final, err := n.imageIsFinal(chain.HashBytes(f)); err != nil || !final {
				return false
			}
		}
		return true
	})

	before := imageAlertsOf(t, n)
	kinds := map[alerts.Kind][]uint64{}
	for _, a := range before {
		kinds[a.Kind] = append(kinds[a.Kind], a.Readings[0].Seq)
	}
	slices.Sort(kinds[alerts.KindImageClass])
	if !slices.Equal(kinds[alerts.KindFloatingSolids], []uint64{1}) || !slices.Equal(kinds[alerts.KindImageClass], []uint64{2, 4}) {
		t.Fatalf("live image alerts on readings %v, want floating solids on 1 and class changes on 2 and 4", kinds)
	}
	var all []alerts.Alert
	if code := httpJSON(t, n, "GET", "/v1/alerts?limit=20000", nil, &all); code != http.StatusOK {
		t.Fatalf("alerts: %d", code)
	}
	records := imageRecordSnapshot(t, n)

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = tn.start(0)
	tn.nodes[0] = n

	after := imageAlertsOf(t, n)
	if len(after) != len(before) {
		t.Fatalf("%d image alerts after the restart, %d before:\nbefore %+v\nafter  %+v", len(after), len(before), before, after)
	}
	for i := range before {
		if fmt.Sprintf("%+v", after[i]) != fmt.Sprintf("%+v", before[i]) {
			t.Errorf("image alert %d differs after the restart:\nbefore %+v\nafter  %+v", i, before[i], after[i])
		}
	}
	var allAfter []alerts.Alert
	if code := httpJSON(t, n, "GET", "/v1/alerts?limit=20000", nil, &allAfter); code != http.StatusOK {
		t.Fatalf("alerts: %d", code)
	}
	ids := map[chain.Hash]bool{}
	for _, a := range allAfter {
		ids[a.ID] = true
	}
	for _, a := range all {
		if !ids[a.ID] {
			t.Errorf("alert %s (%s, seq %d) lost in the restart", a.ID.Short(), a.Kind, a.Readings[0].Seq)
		}
	}
	got := imageRecordSnapshot(t, n)
	if len(got) != len(records) {
		t.Fatalf("%d image records after the restart, %d before", len(got), len(records))
	}
	for k, v := range records {
		if !bytes.Equal(got[k], v) {
			t.Errorf("image record %x rewritten by the restart", k)
		}
	}
}

// TestJudgeFrame: starting from a frame that raises nothing, each change
// raises the alert, or moves the class state, that the rules say.
func TestJudgeFrame(t *testing.T) {
	clear := frameFigures{Class: imaging.ClassClear}
	prev := imageClassState{Seq: 4, Class: imaging.ClassClear}
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
	got := mergeAlertsByTime(base, extra)
	var order []string
	for _, a := range got {
		order = append(order, string(a.Kind))
	}
	if want := []string{"x", "a", "b", "c", "z", "y", "d", "w"}; !slices.Equal(order, want) {
		t.Fatalf("merged order %v, want %v", order, want)
	}
	if len(mergeAlertsByTime(nil, nil)) != 0 || len(mergeAlertsByTime(base, nil)) != len(base) {
		t.Fatal("merging with nothing changes the alerts")
	}
	if extra[0].Kind != "y" {
		t.Fatal("the merge sorted the caller's slice")
	}
}
