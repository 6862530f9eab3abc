package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/imaging"
)

// TestIndexCatchUp: data blocks committed while the index did not run (a
// crash between the commit and Index, or a store from before images) are
// indexed at the next data block.
func TestIndexCatchUp(t *testing.T) {
	f := newFixture(t, Config{})
	h1, h2, h3 := chain.HashBytes([]byte("frame one")), chain.HashBytes([]byte("frame two")), chain.HashBytes([]byte("frame three"))
	f.commit(false, f.reading(1, h1))
	o, ok, err := f.im.owner(h1)
	if err != nil || !ok || o.reading.Seq != 1 || o.height != 1 {
		t.Fatalf("image of a final reading: %+v %v %v", o, ok, err)
	}
	if f.countKeys(keyMissing) != 1 {
		t.Fatal("the image of the final reading is not marked missing")
	}
	f.commit(true, f.reading(2, h2)) // the index does not run
	if _, ok, _ := f.im.owner(h2); ok {
		t.Fatal("a block the index skipped is indexed")
	}
	f.commit(false, f.reading(3, h3))
	for i, h := range []chain.Hash{h1, h2, h3} {
		o, ok, err := f.im.owner(h)
		if err != nil || !ok || o.reading.Seq != uint64(i+1) || o.height != uint64(i+1) {
			t.Fatalf("image %d after the catch-up: %+v %v %v", i+1, o, ok, err)
		}
	}
	if got, err := f.im.indexedHeight(); err != nil || got != 3 {
		t.Fatalf("indexed height %d %v, want 3", got, err)
	}
	if c := f.countKeys(keyMissing); c != 3 {
		t.Fatalf("%d images marked missing, want 3", c)
	}
}

// TestPutRefusals: starting from a valid upload, each broken one is
// refused with its status and code, and stores nothing.
func TestPutRefusals(t *testing.T) {
	f := newFixture(t, Config{MaxBytes: 64 << 10})
	good := sceneJPEG(t, sceneTurbid, sceneParams{Width: 160, Height: 120}, 1)
	other := sceneJPEG(t, sceneClear, sceneParams{Width: 160, Height: 120}, 3)
	oversized := append([]byte{0xFF, 0xD8, 0xFF}, make([]byte, 64<<10)...)
	cases := []struct {
		name      string
		body      []byte
		hash      chain.Hash // the route's; a reading names it unless noReading
		noReading bool
		status    int
		code      string
	}{
		{name: "valid", body: good, hash: chain.HashBytes(good)},
		{name: "truncated", body: good[:len(good)/2], hash: chain.HashBytes(good[:len(good)/2]), status: http.StatusUnprocessableEntity, code: api.CodeBadImage},
		{name: "oversized", body: oversized, hash: chain.HashBytes(oversized), status: http.StatusRequestEntityTooLarge, code: api.CodeTooLarge},
		{name: "not an image", body: []byte("plain text, not pixels"), hash: chain.HashBytes([]byte("plain text, not pixels")), status: http.StatusUnsupportedMediaType, code: api.CodeBadImage},
		{name: "hash mismatch", body: good, hash: chain.HashBytes(other), status: http.StatusUnprocessableEntity, code: api.CodeHashMismatch},
		{name: "no reading", body: other, hash: chain.HashBytes(other), noReading: true, status: http.StatusUnprocessableEntity, code: api.CodeRejected},
	}
	seq := uint64(0)
	for _, c := range cases {
		if !c.noReading && c.name != "hash mismatch" {
			seq++
			f.wait(f.reading(seq, c.hash))
		}
	}
	for _, c := range cases {
		err := f.im.Put(c.hash, c.body)
		var he *api.HTTPError
		switch {
		case c.status == 0 && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.status != 0 && (!errors.As(err, &he) || he.Status != c.status || he.Code != c.code):
			t.Errorf("%s: %v (%+v), want %d %s", c.name, err, he, c.status, c.code)
		}
		want := 0
		if c.status == 0 {
			want = 2
		}
		if got := f.records(chain.HashBytes(c.body)); got != want && c.name != "hash mismatch" {
			t.Errorf("%s: %d records stored, want %d", c.name, got, want)
		}
	}
	if files := f.countKeys(keyFile); files != 1 {
		t.Fatalf("%d files stored, want only the valid one", files)
	}
	if _, err := f.im.File(chain.HashBytes(other)); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("File of an image never stored: %v", err)
	}
}

// TestLegacyLayout: records written by a node from before this package,
// straight under 'i' in the KV, are read as they are: no migration.
func TestLegacyLayout(t *testing.T) {
	f := newFixture(t, Config{})
	data := sceneJPEG(t, sceneClear, sceneParams{Width: 160, Height: 120, Objects: 1}, 11)
	h := chain.HashBytes(data)
	a := sceneAnalysis(t, sceneClear, sceneParams{Width: 160, Height: 120, Objects: 1}, 11)
	b := f.kv.NewBatch()
	b.Set(append([]byte("if"), h[:]...), data)
	b.Set(append([]byte("ia"), h[:]...), chain.MustEncode(&meta{Format: imaging.FormatJPEG, Size: uint32(len(data)), Analysis: a}))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	if held, err := f.im.Held(h); err != nil || !held {
		t.Fatalf("legacy image held: %v %v", held, err)
	}
	got, err := f.im.File(h)
	if err != nil || !bytes.Equal(got.Body, data) || got.ContentType != "image/jpeg" {
		t.Fatalf("legacy file: %s %d bytes %v", got.ContentType, len(got.Body), err)
	}
	// A new record lands under the same layout.
	f.commit(false, f.reading(1, chain.HashBytes([]byte("x"))))
	if _, err := f.kv.Get([]byte("ih")); err != nil {
		t.Fatalf("indexed height not under ih: %v", err)
	}
}

// peerOf is a Peers whose peers answer from other instances' ServeRequest,
// or with a fixed answer.
type peerOf struct {
	serve map[chain.PubKey]func(req []byte) ([]byte, error)
	order []chain.PubKey
	asked []chain.PubKey
}

func (p *peerOf) Peers() []chain.PubKey { return append([]chain.PubKey(nil), p.order...) }

func (p *peerOf) Request(ctx context.Context, peer chain.PubKey, protocol string, req []byte) ([]byte, error) {
	p.asked = append(p.asked, peer)
	if protocol != Protocol {
		return nil, fmt.Errorf("protocol %q not served", protocol)
	}
	return p.serve[peer](req)
}

// TestFetchFromPeers: a node that never got an upload fetches the image
// from the peer that holds it, checks it like an upload and stores it;
// a peer sending other bytes, and one lacking the image, do not stop it.
func TestFetchFromPeers(t *testing.T) {
	holder := newFixture(t, Config{})
	data := sceneJPEG(t, sceneClear, sceneParams{Width: 160, Height: 120, Objects: 2}, 12)
	r := holder.reading(1, chain.HashBytes(data))
	holder.wait(r)
	h := mustPut(t, holder.im, data)

	f := newFixture(t, Config{})
	peers := &peerOf{serve: map[chain.PubKey]func([]byte) ([]byte, error){}}
	liar, lacking, good := testKey(t, "liar").Public(), testKey(t, "lacking").Public(), testKey(t, "good").Public()
	peers.serve[liar] = func([]byte) ([]byte, error) {
		return sceneJPEG(t, sceneTurbid, sceneParams{Width: 160, Height: 120}, 13), nil
	}
	peers.serve[lacking] = func(req []byte) ([]byte, error) { return f.im.ServeRequest(context.Background(), chain.PubKey{}, req) }
	peers.serve[good] = func(req []byte) ([]byte, error) {
		return holder.im.ServeRequest(context.Background(), chain.PubKey{}, req)
	}
	peers.order = []chain.PubKey{liar, lacking, good}
	f.im.peers = peers

	if err := f.im.fetch(context.Background(), h); !errors.Is(err, ErrUnreferenced) {
		t.Fatalf("fetch of an image no reading names: %v", err)
	}
	f.commit(false, r)
	if f.countKeys(keyMissing) != 1 {
		t.Fatal("not marked missing")
	}
	missing, err := f.im.missing(10, func(chain.Hash) bool { return false })
	if err != nil || len(missing) != 1 || missing[0].hash != h {
		t.Fatalf("missing: %+v %v", missing, err)
	}
	if err := f.im.fetch(context.Background(), h); err != nil {
		t.Fatalf("fetch: %v (asked %d peers)", err, len(peers.asked))
	}
	if f.records(h) != 2 || f.countKeys(keyMissing) != 0 {
		t.Fatalf("after the fetch: %d records, %d missing marks", f.records(h), f.countKeys(keyMissing))
	}
	got, err := f.im.File(h)
	if err != nil || !bytes.Equal(got.Body, data) {
		t.Fatalf("fetched file differs: %v", err)
	}
	if _, err := f.im.ServeRequest(context.Background(), chain.PubKey{}, make([]byte, 31)); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("short request: %v", err)
	}
	if _, err := holder.im.ServeRequest(context.Background(), chain.PubKey{}, bytes.Repeat([]byte{9}, 32)); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("request for an image not held: %v", err)
	}
	f.im.peers = &peerOf{}
	if err := f.im.fetch(context.Background(), h); !errors.Is(err, ErrNoPeers) {
		t.Fatalf("fetch without peers: %v", err)
	}
}

// TestInstanceLimits: two instances in one process have their own decode
// slots: one whose slots are all taken does not hold up the other.
func TestInstanceLimits(t *testing.T) {
	a := newFixture(t, Config{DecodeSlots: 1})
	b := newFixture(t, Config{DecodeSlots: 1})
	release := a.im.acquireDecode() // a's only slot, taken
	defer func() { release() }()
	data := sceneJPEG(t, sceneClear, sceneParams{Width: 160, Height: 120}, 14)
	b.wait(b.reading(1, chain.HashBytes(data)))
	done := make(chan error, 1)
	go func() { done <- b.im.Put(chain.HashBytes(data), data) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("an upload to one instance waits for another instance's decode slot")
	}
	// a's own upload waits for its slot, and goes on once it is free.
	a.wait(a.reading(1, chain.HashBytes(data)))
	go func() { done <- a.im.Put(chain.HashBytes(data), data) }()
	select {
	case err := <-done:
		t.Fatalf("an upload went past a taken slot: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	release = func() {}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestNotHeldSaysWhy: a GET of an image not held answers 404 naming the
// sweep's grace.
func TestNotHeldSaysWhy(t *testing.T) {
	f := newFixture(t, Config{OrphanGrace: 7 * time.Minute})
	_, err := f.im.Analysis(chain.HashBytes([]byte("nothing")))
	var he *api.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusNotFound || !errors.Is(err, ErrNotHeld) || !strings.Contains(err.Error(), "7m0s after its upload") {
		t.Fatalf("not held: %v", err)
	}
	if _, err := f.kv.Get([]byte("i")); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a read stored something")
	}
}

// TestIndexLongCatchUp: a long run of data blocks committed without the
// index (as in a store the history benchmark built) is indexed at the next
// data block, in batches; the first final reading naming an image keeps
// its ref, also when a later one in the same batch names it again. Blocks
// without images store the height reached only every indexSaveEvery
// blocks, and a restarted instance indexes again from the stored height.
func TestIndexLongCatchUp(t *testing.T) {
	f := newFixture(t, Config{})
	h1, h2 := chain.HashBytes([]byte("frame one")), chain.HashBytes([]byte("frame two"))
	total := indexBatchBlocks + indexBatchBlocks/2
	seq := uint64(0)
	for i := 1; i <= total; i++ {
		var rs []*chain.Reading
		if i == 3 || i == 500 { // the same image twice, in one catch-up batch
			seq++
			rs = append(rs, f.reading(seq, h1))
		}
		f.commit(true, rs...)
	}
	seq++
	f.commit(false, f.reading(seq, h2))
	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			h      chain.Hash
			seq    uint64
			height uint64
		}{{h1, 1, 3}, {h2, 3, uint64(total) + 1}} {
			o, ok, err := f.im.owner(c.h)
			if err != nil || !ok || o.reading.Seq != c.seq || o.height != c.height {
				t.Fatalf("%s: owner of %s: %+v %v %v, want seq %d at data/%d", when, c.h.Short(), o, ok, err, c.seq, c.height)
			}
		}
		if c := f.countKeys(keyMissing); c != 2 {
			t.Fatalf("%s: %d images marked missing, want 2", when, c)
		}
	}
	check("after the catch-up")
	if got, err := f.im.indexedHeight(); err != nil || got != uint64(total)+1 {
		t.Fatalf("stored indexed height %d %v, want %d (a block with images stores it)", got, err, total+1)
	}
	for range 10 {
		f.commit(false)
	}
	if got, err := f.im.indexedHeight(); err != nil || got != uint64(total)+1 {
		t.Fatalf("stored indexed height %d %v after 10 blocks without images, want %d", got, err, total+1)
	}
	if f.im.index.reached.Load() != uint64(total)+11 {
		t.Fatalf("height reached %d, want %d", f.im.index.reached.Load(), total+11)
	}
	for range indexSaveEvery {
		f.commit(false)
	}
	saved, want := uint64(total)+1+indexSaveEvery, uint64(total)+11+indexSaveEvery
	if got, err := f.im.indexedHeight(); err != nil || got != saved {
		t.Fatalf("stored indexed height %d %v after %d blocks without images, want %d", got, err, 10+indexSaveEvery, saved)
	}
	if got, err := f.im.reachedHeight(); err != nil || got != want {
		t.Fatalf("height reached %d %v, want %d", got, err, want)
	}
	f.commit(true) // not indexed before the restart
	f.im = f.open(Config{})
	f.commit(false)
	check("after a restart")
	if f.im.index.reached.Load() != want+2 {
		t.Fatalf("height reached after the restart %d, want %d", f.im.index.reached.Load(), want+2)
	}
}

// batchCounter counts the batches opened on a KV.
type batchCounter struct {
	store.KV
	batches int
}

func (c *batchCounter) NewBatch() store.Batch {
	c.batches++
	return c.KV.NewBatch()
}

// TestIndexOpensNoBatchWithoutImages: indexing a data block without image
// hashes opens no store batch (badger would make it wait for the commit
// writer's write in flight), until the height reached is due to be saved;
// a block with one writes its records.
func TestIndexOpensNoBatchWithoutImages(t *testing.T) {
	f := newFixture(t, Config{})
	counter := &batchCounter{KV: f.kv}
	f.im = f.openOn(counter, Config{})
	seq := uint64(0)
	for range 20 {
		seq++
		f.commit(false, f.readingWithoutImage(seq))
	}
	if counter.batches != 0 {
		t.Fatalf("%d batches opened for 20 blocks without images, want 0", counter.batches)
	}
	if got, err := f.im.reachedHeight(); err != nil || got != 20 {
		t.Fatalf("reached height %d %v, want 20", got, err)
	}
	h := chain.HashBytes([]byte("a frame"))
	seq++
	f.commit(false, f.reading(seq, h))
	if counter.batches == 0 {
		t.Fatal("no batch for a block with an image")
	}
	if o, ok, err := f.im.owner(h); err != nil || !ok || o.reading.Seq != seq {
		t.Fatalf("image of the reading: %+v %v %v", o, ok, err)
	}
	if got, err := f.im.indexedHeight(); err != nil || got != 21 {
		t.Fatalf("stored indexed height %d %v, want 21", got, err)
	}
}

// TestIndexSavesWhatARestartWouldReadAgain: the height the index reached
// is stored when the node stops (SaveIndexed) and once the blocks since
// the stored one hold indexSaveEntries readings, so that a restart does
// not read them again on its first block.
func TestIndexSavesWhatARestartWouldReadAgain(t *testing.T) {
	defer func(v int) { indexSaveEntries = v }(indexSaveEntries)
	indexSaveEntries = 10
	f := newFixture(t, Config{})
	stored := func() uint64 {
		t.Helper()
		h, err := f.im.indexedHeight()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for range 3 {
		f.commit(false)
	}
	if got := stored(); got != 0 {
		t.Fatalf("stored height %d after 3 blocks without readings, want 0 (no write of their own)", got)
	}
	if err := f.im.SaveIndexed(); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != 3 {
		t.Fatalf("stored height %d after SaveIndexed, want 3", got)
	}
	if err := f.im.SaveIndexed(); err != nil {
		t.Fatalf("SaveIndexed with nothing new: %v", err)
	}
	f.im = f.open(Config{}) // a restart
	seq := uint64(0)
	for b := 4; b <= 6; b++ {
		var rs []*chain.Reading
		for range 4 {
			seq++
			rs = append(rs, f.readingWithoutImage(seq))
		}
		f.commit(false, rs...)
		want := uint64(3)
		if b == 6 { // 12 readings since the stored height
			want = 6
		}
		if got := stored(); got != want {
			t.Fatalf("after data/%d (%d readings since data/3): stored height %d, want %d", b, 4*(b-3), got, want)
		}
	}
}
