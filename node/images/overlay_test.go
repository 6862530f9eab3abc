package images

import (
	"bytes"
	"errors"
	"image/color"
	"image/png"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/imaging"
)

// countingRender renders as the node does and counts the renderings; when
// gate is set, each rendering waits for it to close.
type countingRender struct {
	calls atomic.Int64
	gate  chan struct{}
	fail  atomic.Bool // the next rendering fails
}

func (c *countingRender) render(data []byte, a *imaging.Analysis, lim imaging.Limits) ([]byte, error) {
	c.calls.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	if c.fail.CompareAndSwap(true, false) {
		return nil, errors.New("renderer out of order")
	}
	return renderOverlay(data, a, lim)
}

func served(t testing.TB, im *Images, source string) float64 {
	t.Helper()
	var m dto.Metric
	if err := im.overlays.served.WithLabelValues(source).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// finalImage stores data for a final reading of seq.
func (f *fixture) finalImage(seq uint64, data []byte) chain.Hash {
	f.t.Helper()
	r := f.reading(seq, chain.HashBytes(data))
	f.wait(r)
	h := mustPut(f.t, f.im, data)
	f.commit(false, r)
	return h
}

// TestOverlayCached: the overlay is a PNG of the frame with the objects
// outlined; the second request for it is answered from the cache without
// rendering again, with the same bytes.
func TestOverlayCached(t *testing.T) {
	var rc countingRender
	f := newFixture(t, Config{render: rc.render})
	h := f.finalImage(1, sceneJPEG(t, sceneClear, sceneParams{Objects: 3}, 7))
	first, err := f.im.Overlay(h)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.im.Overlay(h)
	if err != nil {
		t.Fatal(err)
	}
	if got := rc.calls.Load(); got != 1 {
		t.Fatalf("%d renderings for two requests, want 1", got)
	}
	if served(t, f.im, "cache") != 1 || served(t, f.im, "rendered") != 1 {
		t.Fatalf("served from cache %v, rendered %v", served(t, f.im, "cache"), served(t, f.im, "rendered"))
	}
	if first.ContentType != "image/png" || !bytes.Equal(first.Body, second.Body) {
		t.Fatalf("answers differ: %s %d bytes, then %d bytes", first.ContentType, len(first.Body), len(second.Body))
	}
	rep, err := f.im.Analysis(h)
	if err != nil {
		t.Fatal(err)
	}
	ov, err := png.Decode(bytes.NewReader(second.Body))
	if err != nil {
		t.Fatal(err)
	}
	if ov.Bounds().Dx() != int(rep.Analysis.Width) || ov.Bounds().Dy() != int(rep.Analysis.Height) {
		t.Fatalf("overlay is %v", ov.Bounds())
	}
	box := rep.Analysis.Objects[0].Box // outlined just outside the box
	if c := color.RGBAModel.Convert(ov.At(int(box.MinX)-1, int(box.MinY)-1)); c != imaging.OutlineColour {
		t.Fatalf("overlay beside the first object's corner is %v, want the outline colour", c)
	}
}

// TestOverlaySingleFlight: concurrent requests for one image, with no
// cache to answer them, wait for one rendering and get its bytes.
func TestOverlaySingleFlight(t *testing.T) {
	rc := countingRender{gate: make(chan struct{})}
	f := newFixture(t, Config{render: rc.render, OverlayCacheBytes: -1})
	h := f.finalImage(1, sceneJPEG(t, sceneClear, sceneParams{Width: 320, Height: 240, Objects: 1}, 8))
	const requests = 8
	bodies := make([][]byte, requests)
	errs := make([]error, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := f.im.Overlay(h)
			bodies[i], errs[i] = r.Body, err
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for served(t, f.im, "joined") < requests-1 {
		if time.Now().After(deadline) {
			close(rc.gate)
			t.Fatalf("%v requests joined the rendering, want %d", served(t, f.im, "joined"), requests-1)
		}
		time.Sleep(time.Millisecond)
	}
	close(rc.gate)
	wg.Wait()
	for i := range requests {
		if errs[i] != nil || len(bodies[i]) == 0 || !bytes.Equal(bodies[i], bodies[0]) {
			t.Fatalf("request %d: %d bytes, %v", i, len(bodies[i]), errs[i])
		}
	}
	if got := rc.calls.Load(); got != 1 {
		t.Fatalf("%d renderings for %d concurrent requests, want 1", got, requests)
	}
	// Without a cache, a later request renders again.
	if _, err := f.im.Overlay(h); err != nil || rc.calls.Load() != 2 {
		t.Fatalf("later request: %v, %d renderings", err, rc.calls.Load())
	}
}

// TestOverlayCacheBounds: the cache keeps what fits its byte budget,
// least recently used out first, keeps no failed rendering, and forgets
// an image the sweep deletes, which then answers 404.
func TestOverlayCacheBounds(t *testing.T) {
	var rc countingRender
	f := newFixture(t, Config{render: rc.render, OrphanGrace: time.Minute})
	p := sceneParams{Width: 320, Height: 240}
	hA := f.finalImage(1, sceneJPEG(t, sceneClear, p, 1))
	hB := f.finalImage(2, sceneJPEG(t, sceneTurbid, p, 2))
	a, err := f.im.Overlay(hA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.im.Overlay(hB)
	if err != nil {
		t.Fatal(err)
	}
	// A budget for the larger of the two alone.
	f.im.overlays = newOverlayCache(int64(max(len(a.Body), len(b.Body))))
	overlay := func(h chain.Hash) {
		t.Helper()
		if _, err := f.im.Overlay(h); err != nil {
			t.Fatal(err)
		}
	}
	rc.calls.Store(0)
	overlay(hA)
	overlay(hB) // evicts A
	overlay(hB)
	overlay(hA) // renders A again, evicting B
	if got := rc.calls.Load(); got != 3 {
		t.Fatalf("%d renderings, want 3 (A, B, A again after its eviction)", got)
	}
	c := f.im.overlays
	c.mu.Lock()
	entries, size := len(c.entries), c.size
	c.mu.Unlock()
	if entries != 1 || size > c.limit {
		t.Fatalf("cache holds %d entries, %d bytes; budget %d", entries, size, c.limit)
	}

	// A failed rendering is not kept.
	f.im.overlays = newOverlayCache(1 << 30)
	rc.calls.Store(0)
	rc.fail.Store(true)
	if _, err := f.im.Overlay(hA); err == nil {
		t.Fatal("a failed rendering answered")
	}
	overlay(hA)
	overlay(hA)
	if got := rc.calls.Load(); got != 2 {
		t.Fatalf("%d renderings, want 2 (the failed one, then one kept)", got)
	}

	// An orphan's overlay goes with it.
	orphan := sceneJPEG(t, sceneColoured, sceneParams{Width: 320, Height: 240, Hue: 100}, 3)
	r := f.reading(3, chain.HashBytes(orphan))
	f.wait(r)
	hO := mustPut(t, f.im, orphan)
	overlay(hO)
	f.pool.Remove([]chain.Hash{r.Hash()})
	f.clock.set(baseTime.Add(2 * time.Minute))
	f.commit(false)
	if removed, err := f.im.sweep(time.Minute); err != nil || removed != 1 {
		t.Fatalf("sweep: %d removed, %v", removed, err)
	}
	c = f.im.overlays
	c.mu.Lock()
	_, cached := c.entries[hO]
	c.mu.Unlock()
	if cached {
		t.Fatal("the swept image's overlay is still cached")
	}
	_, err = f.im.Overlay(hO)
	var he *api.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusNotFound {
		t.Fatalf("overlay of a swept image: %v", err)
	}
}

// BenchmarkOverlay answers GET /v1/images/{hash}/overlay for one 8 MP
// image (3264×2448 JPEG with objects): "render" with the cache off
// renders every request, as before the cache; "cached" is the steady
// state after the first request.
func BenchmarkOverlay(b *testing.B) {
	data := sceneJPEG(b, sceneClear, sceneParams{Width: 3264, Height: 2448, Objects: 5}, 21)
	for _, c := range []struct {
		name  string
		bytes int64
	}{{"render", -1}, {"cached", 0}} {
		b.Run(c.name, func(b *testing.B) {
			f := newFixture(b, Config{MaxBytes: 16 << 20, OverlayCacheBytes: c.bytes})
			h := f.finalImage(1, data)
			if _, err := f.im.Overlay(h); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := f.im.Overlay(h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
