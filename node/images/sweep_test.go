package images

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/imaging"
)

// TestOrphanSweep: an image whose reading never became final is deleted
// once the indexed chain has moved past the grace; one a final reading
// names is kept however old, one a waiting reading names is kept until the
// reading leaves the mempool, a record from before StoredAt counts as
// stored at the instance's start, a re-upload for a waiting reading
// refreshes the store time, and a removed orphan answers 404 saying why.
func TestOrphanSweep(t *testing.T) {
	const grace = 10 * time.Minute
	f := newFixture(t, Config{OrphanGrace: grace})
	p := sceneParams{Width: 160, Height: 120}
	final := sceneJPEG(t, sceneClear, p, 1)
	pending := sceneJPEG(t, sceneTurbid, p, 2)
	legacy := sceneJPEG(t, sceneColoured, sceneParams{Width: 160, Height: 120, Hue: 200}, 3)
	resubmitted := sceneJPEG(t, sceneFoamy, p, 4)
	hFinal, hPending, hResub := chain.HashBytes(final), chain.HashBytes(pending), chain.HashBytes(resubmitted)

	rFinal := f.reading(1, hFinal)
	f.wait(rFinal)
	mustPut(t, f.im, final)
	f.commit(false, rFinal)
	waiting, waitingResub := f.reading(2, hPending), f.reading(3, hResub)
	f.wait(waiting, waitingResub)
	mustPut(t, f.im, pending)
	if m := f.storedMeta(hPending); m.StoredAt != chain.TimeOf(baseTime) {
		t.Fatalf("stored at %s, want the clock's %s", m.StoredAt, chain.TimeOf(baseTime))
	}
	var a imaging.Analysis
	hLegacy := f.writeRecords(legacy, meta{Format: imaging.FormatJPEG, Size: uint32(len(legacy)), Analysis: a})
	f.writeRecords(resubmitted, meta{Format: imaging.FormatJPEG, Size: uint32(len(resubmitted)), Analysis: a, StoredAt: 1})
	mustPut(t, f.im, resubmitted)
	if m := f.storedMeta(hResub); m.StoredAt != chain.TimeOf(baseTime) {
		t.Fatalf("a re-upload for a waiting reading left the store time at %s", m.StoredAt)
	}

	// Within the grace nothing goes: the legacy record counts as stored
	// when the instance was made.
	if removed, err := f.im.sweep(grace); err != nil || removed != 0 {
		t.Fatalf("sweep within the grace: %d removed, %v", removed, err)
	}
	// The clock moves on, but the chain does not: still nothing.
	f.clock.set(baseTime.Add(grace + time.Minute))
	if removed, err := f.im.sweep(grace); err != nil || removed != 0 {
		t.Fatalf("sweep before a block past the grace is indexed: %d removed, %v", removed, err)
	}
	// Past the grace on the indexed chain, the orphan goes; the images of
	// the final and the waiting readings stay.
	f.commit(false)
	if removed, err := f.im.sweep(grace); err != nil || removed != 1 {
		t.Fatalf("sweep: %d removed, want 1 (the legacy orphan); %v", removed, err)
	}
	for _, c := range []struct {
		name string
		h    chain.Hash
		want int
	}{{"final", hFinal, 2}, {"waiting", hPending, 2}, {"legacy orphan", hLegacy, 0}, {"resubmitted", hResub, 2}} {
		if got := f.records(c.h); got != c.want {
			t.Errorf("%s image: %d records, want %d", c.name, got, c.want)
		}
	}

	// The waiting readings are dropped: their images are orphans now.
	f.pool.Remove([]chain.Hash{waiting.Hash(), waitingResub.Hash()})
	if removed, err := f.im.sweep(grace); err != nil || removed != 2 {
		t.Fatalf("sweep after the readings were dropped: %d removed, want 2; %v", removed, err)
	}
	if got := f.records(hFinal); got != 2 {
		t.Fatalf("the final reading's image: %d records", got)
	}
	_, err := f.im.File(hPending)
	var he *api.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusNotFound || !strings.Contains(err.Error(), "never became final is removed") {
		t.Fatalf("GET of a removed orphan: %v", err)
	}
	var m dto.Metric
	if err := f.im.removed.Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 3 {
		t.Fatalf("removals metric %v, want 3", got)
	}
	if removed, err := f.im.sweep(grace); err != nil || removed != 0 {
		t.Fatalf("second sweep: %d removed, %v", removed, err)
	}
}
