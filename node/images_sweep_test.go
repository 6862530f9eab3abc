package node

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/imaging"
	"github.com/waterchain/waterchain/sim/scenes"
)

// storedMeta reads the metadata of a held image.
func storedMeta(t *testing.T, n *Node, h chain.Hash) imageMeta {
	t.Helper()
	v, err := n.kv.Get(imageKey(imageKeyMeta, h[:]))
	if err != nil {
		t.Fatalf("metadata of %s: %v", h.Short(), err)
	}
	var m imageMeta
	if err := chain.Decode(v, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// writeImageRecords stores an image as an older node would have, with
// meta as given, bypassing the upload checks.
func writeImageRecords(t *testing.T, n *Node, data []byte, meta imageMeta) chain.Hash {
	t.Helper()
	h := chain.HashBytes(data)
	b := n.kv.NewBatch()
	b.Set(imageKey(imageKeyFile, h[:]), data)
	b.Set(imageKey(imageKeyMeta, h[:]), chain.MustEncode(&meta))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	return h
}

// waitIndexedPast waits for the image index to reach a data block timed
// after at (an idle data lane makes one every idle interval: 3 s on a devnet).
func waitIndexedPast(t *testing.T, n *Node, at chain.Time) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("a data block timed after %s indexed", at), func() bool {
		h, err := n.imagesIndexedHeight()
		if err != nil || h == 0 {
			return false
		}
		hdr, err := n.store.Header(chain.LaneData, h)
		return err == nil && hdr.Time > at
	})
}

func metricValue(t *testing.T, n *Node, name string) string {
	t.Helper()
	code, _, body := httpDo(t, n, "GET", "/metrics", "", nil)
	if code != http.StatusOK {
		t.Fatalf("metrics: %d", code)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no metric %s", name)
	return ""
}

// TestImageOrphanSweep: an image whose reading never became final is
// deleted once the chain has moved past the grace; one a final reading
// names is kept however old, one a waiting reading names is kept until the
// reading leaves the mempool, a record from before StoredAt counts as
// stored at the node's start, a re-upload for a waiting reading refreshes
// the store time, and a removed orphan answers 404 saying why.
func TestImageOrphanSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	tn := startTestNet(t, 1, 0, 1)
	n := tn.nodes[0]
	chainID := n.ChainID()
	dev := tn.deviceKey(0)
	final := sceneJPEG(t, scenes.KindClear, scenes.Params{Width: 160, Height: 120}, 1)
	pending := sceneJPEG(t, scenes.KindTurbid, scenes.Params{Width: 160, Height: 120}, 2)
	legacy := sceneJPEG(t, scenes.KindColoured, scenes.Params{Width: 160, Height: 120, Hue: 200}, 3)
	resubmitted := sceneJPEG(t, scenes.KindFoamy, scenes.Params{Width: 160, Height: 120}, 4)
	hFinal, hPending, hResub := chain.HashBytes(final), chain.HashBytes(pending), chain.HashBytes(resubmitted)

	// A final reading's image.
	now := time.Now()
	var res api.SubmitReadingsResult
	if code := httpJSON(t, n, "POST", "/v1/readings", []*chain.Reading{readingWithImage(chainID, dev, 1, now, hFinal)}, &res); code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, res)
	}
	if code, e := putImage(t, n, hFinal, "image/jpeg", final); code != http.StatusCreated {
		t.Fatalf("upload: %d %+v", code, e)
	}
	waitFor(t, 30*time.Second, "the first reading final", func() bool {
		ok, err := n.imageIsFinal(hFinal)
		return err == nil && ok
	})

	// Readings timed far ahead of the window wait in the mempool until
	// their time comes (the proposer keeps readings from the future), so
	// they stand for readings that have not become final yet. The door
	// refuses them; they are put in the pool directly.
	later := now.Add(time.Hour)
	waiting := readingWithImage(chainID, dev, 2, later, hPending)
	waitingResub := readingWithImage(chainID, dev, 3, later.Add(time.Second), hResub)
	for _, r := range []*chain.Reading{waiting, waitingResub} {
		if err := n.readings.Add(r.Hash(), r); err != nil {
			t.Fatal(err)
		}
	}
	if code, e := putImage(t, n, hPending, "image/jpeg", pending); code != http.StatusCreated {
		t.Fatalf("upload for the waiting reading: %d %+v", code, e)
	}
	if m := storedMeta(t, n, hPending); m.StoredAt < chain.TimeOf(now) {
		t.Fatalf("stored at %s, before the upload (%s)", m.StoredAt, chain.TimeOf(now))
	}
	// A record from before StoredAt, which no reading names, and a frame
	// stored long ago for a dropped reading, which the device submits again
	// with a new reading.
	var a imaging.Analysis
	hLegacy := writeImageRecords(t, n, legacy, imageMeta{Format: imaging.FormatJPEG, Size: uint32(len(legacy)), Analysis: a})
	if m := storedMeta(t, n, hLegacy); m.StoredAt != 0 {
		t.Fatal("the legacy record has a store time")
	}
	writeImageRecords(t, n, resubmitted, imageMeta{Format: imaging.FormatJPEG, Size: uint32(len(resubmitted)), Analysis: a, StoredAt: 1})
	before := chain.TimeOf(time.Now())
	if code, e := putImage(t, n, hResub, "image/jpeg", resubmitted); code != http.StatusCreated {
		t.Fatalf("re-upload: %d %+v", code, e)
	}
	if m := storedMeta(t, n, hResub); m.StoredAt < before {
		t.Fatalf("a re-upload for a waiting reading left the store time at %s", m.StoredAt)
	}

	// Within the grace nothing goes: the legacy record counts as stored
	// when the node started, a moment ago.
	if removed, err := n.sweepOrphanImages(n.imageOrphanGrace()); err != nil || removed != 0 {
		t.Fatalf("sweep with the node's grace: %d removed, %v", removed, err)
	}
	waitIndexedPast(t, n, max(storedMeta(t, n, hPending).StoredAt, storedMeta(t, n, hResub).StoredAt, n.images.startedAt))

	// Past the grace, the orphan goes; the images of the final and the
	// waiting readings stay.
	if removed, err := n.sweepOrphanImages(0); err != nil || removed != 1 {
		t.Fatalf("sweep: %d removed, want 1 (the legacy orphan); %v", removed, err)
	}
	for _, c := range []struct {
		name string
		h    chain.Hash
		want int
	}{{"final", hFinal, 2}, {"waiting", hPending, 2}, {"legacy orphan", hLegacy, 0}, {"resubmitted", hResub, 2}} {
		if got := imageRecords(t, n, c.h); got != c.want {
			t.Errorf("%s image: %d records, want %d", c.name, got, c.want)
		}
	}

	// The waiting readings are dropped: their images are orphans now.
	n.readings.Remove([]chain.Hash{waiting.Hash(), waitingResub.Hash()})
	if removed, err := n.sweepOrphanImages(0); err != nil || removed != 2 {
		t.Fatalf("sweep after the readings were dropped: %d removed, want 2; %v", removed, err)
	}
	if got := imageRecords(t, n, hFinal); got != 2 {
		t.Fatalf("the final reading's image: %d records", got)
	}
	code, _, body := httpDo(t, n, "GET", "/v1/images/"+hPending.String(), "", nil)
	if code != http.StatusNotFound || !strings.Contains(string(body), "not held") || !strings.Contains(string(body), "never became final is removed") {
		t.Fatalf("GET of a removed orphan: %d %s", code, body)
	}
	if code, _, body := httpDo(t, n, "GET", "/v1/images/"+hFinal.String(), "", nil); code != http.StatusOK || !bytes.Equal(body, final) {
		t.Fatalf("GET of the kept image: %d, %d bytes", code, len(body))
	}
	if got := metricValue(t, n, "waterchain_image_orphans_removed_total"); got != "3" {
		t.Fatalf("removals metric %s, want 3", got)
	}
	// Nothing is left to sweep.
	if removed, err := n.sweepOrphanImages(0); err != nil || removed != 0 {
		t.Fatalf("second sweep: %d removed, %v", removed, err)
	}
}

// TestImageMetaStoredAt: a record from before StoredAt decodes with a zero
// store time, which counts as the node's start, and re-encodes to the same
// bytes; a new record keeps its store time.
func TestImageMetaStoredAt(t *testing.T) {
	type legacyMeta struct {
		Format   imaging.Format   `cbor:"1,keyasint"`
		Size     uint32           `cbor:"2,keyasint"`
		Analysis imaging.Analysis `cbor:"3,keyasint"`
	}
	old := chain.MustEncode(&legacyMeta{Format: imaging.FormatPNG, Size: 99, Analysis: imaging.Analysis{Class: imaging.ClassTurbid}})
	var m imageMeta
	if err := chain.Decode(old, &m); err != nil {
		t.Fatal(err)
	}
	if m.StoredAt != 0 || m.Size != 99 || m.Analysis.Class != imaging.ClassTurbid || !bytes.Equal(chain.MustEncode(&m), old) {
		t.Fatalf("legacy record read as %+v", m)
	}
	n := &Node{images: imageKeeper{startedAt: 1234}}
	if got := n.imageStoredAt(&m); got != 1234 {
		t.Fatalf("legacy record stored at %s, want the node start", got)
	}
	m.StoredAt = 5678
	var back imageMeta
	if err := chain.Decode(chain.MustEncode(&m), &back); err != nil || back.StoredAt != 5678 || n.imageStoredAt(&back) != 5678 {
		t.Fatalf("store time round trip: %+v %v", back, err)
	}
}
