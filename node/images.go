package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/imaging"
)

// Camera evidence (issue 9). A reading may carry ImageHash, the SHA-256 of
// a JPEG or PNG frame, so the device signature covers the image. The bytes
// stay off-chain, in this node's KV:
//
//   - Upload: PUT /v1/images/{hash} (PutImage) stores a file only when a
//     reading waiting in the mempool or final on the data chain names its
//     hash, and only once imaging.DecodeVerified accepts it; the analysis
//     is stored beside it in the same batch. Anything refused leaves no
//     trace.
//   - Index: when a data block commits, afterCommit calls indexImages,
//     which records, for each image hash of the block, the first final
//     reading naming it (for the API and the upload check) and, when this
//     node lacks the file, a "missing" mark.
//   - Fetch: a background goroutine (imageFetcher) asks peers for missing
//     images over the "images/get" protocol, checks them exactly like an
//     upload and stores them. Auditors and nodes that never got the upload
//     so end up holding every image, verified against the chain's hash.
//   - Serve: GET /v1/images/{hash} (the file), .../analysis (the figures
//     beside the reading's own optical measures), .../overlay (a PNG with
//     the detected objects outlined); GET /v1/readings adds a summary to
//     readings whose image this node holds.
//   - Alerts: storing an image raises Local alerts: floating solids seen,
//     and the image class of a device changing from its previous frame's.
//     They are Local because a node only raises them once it holds the
//     file; every node that holds it derives the same ones.
//   - Restart (images_replay.go): image alerts are not derived from the
//     chain, so startAlerts calls replayImageAlerts after its chain replay.
//     It re-derives them from the KV alone, storing nothing: the held
//     images whose reading is final, per device in seq order, through the
//     same rules (judgeFrame, imageFrameAlerts), the class-change chain
//     recomputed in memory. An alert's ID hashes only its kind and reading,
//     so a restarted node lists the IDs it raised live whenever the frames
//     had been stored in seq order; frames stored out of order, or an
//     orphan (below) that moved the live class state, may differ. The
//     replayed alerts are merged with the chain's by time. A frame stored
//     for a waiting reading that only becomes final after the restart has
//     its alerts back at the next restart, not before.
//   - Sweep (images_sweep.go): an image accepted for a waiting reading that
//     never became final (dropped, replaced, lost in a restart) is an
//     orphan. The fetcher goroutine runs sweepOrphanImages at start and
//     every imageSweepInterval: it deletes the file and metadata of each
//     held image that no final reading and no waiting reading names and
//     that was stored (imageMeta.StoredAt) more than imageOrphanGrace
//     before the chain's time, which is two reading windows plus a clock
//     margin: a reading final in a block is timed within a window of the
//     block, and was accepted within a window of this node's clock before
//     its image was stored, so once the image index has reached a block
//     timed past the grace, no reading waiting then can ever be final. An
//     image a final reading names is never deleted; a re-upload for a
//     waiting reading refreshes StoredAt; a record from before StoredAt
//     counts as stored when the node started.

const (
	protoImagesGet = "images/get"
	// imageFetchInterval is how often the fetcher looks for missing images.
	imageFetchInterval = time.Second
	// imageFetchBatch bounds the missing images tried in one round.
	imageFetchBatch = 64
	// imageRetryMin and imageRetryMax bound the wait before asking the
	// peers again for an image none of them had (doubling in between).
	imageRetryMin = time.Second
	imageRetryMax = 5 * time.Minute
	// imageGiveUp is how long after noticing it a node stops looking for
	// an image: a meter that never uploads its frame does not make every
	// node ask forever.
	imageGiveUp = 24 * time.Hour
	// imageRequestTimeout bounds one peer request for one image.
	imageRequestTimeout = 20 * time.Second
)

// Image records share the node's KV with the chain store. The store names
// its tables by a key's first byte (chain/store/keys.go: m l h c e b r n x
// s); every image record starts with 'i', a byte the store never uses, so
// none can collide with chain data or be read as it. The second byte names
// the record:
//
//	if<hash:32>     the image file, as uploaded
//	ia<hash:32>     its metadata: imageMeta (format, size, analysis, store time), CBOR
//	ir<hash:32>     the first final reading naming the hash: imageRef, CBOR
//	im<hash:32>     missing here: when this node noticed (Unix ms, 8 bytes)
//	ic<device:32>   the class of the device's latest analysed frame: imageClassState, CBOR
//	ih              the data height indexImages has reached (8 bytes)
//
// A file and its metadata are written in one batch, so a node holds both
// or neither.
const (
	imageKeyPrefix  = 'i'
	imageKeyFile    = 'f'
	imageKeyMeta    = 'a'
	imageKeyRef     = 'r'
	imageKeyMissing = 'm'
	imageKeyClass   = 'c'
	imageKeyIndexed = 'h'
)

func imageKey(kind byte, id []byte) []byte {
	k := make([]byte, 0, 2+len(id))
	return append(append(k, imageKeyPrefix, kind), id...)
}

// Errors of the image store (wrapped with the values involved, inside an
// *api.HTTPError where a client sees them).
var (
	// ErrImageUnreferenced means no reading this node knows names the
	// hash: an image is only accepted for a reading waiting in the mempool
	// or final on the data chain.
	ErrImageUnreferenced = errors.New("no reading refers to the image")
	// ErrImageNotHeld means this node does not hold the image (not
	// uploaded here, not fetched yet, or never uploaded anywhere).
	ErrImageNotHeld = errors.New("image not held by this node")
	// ErrImageRecord means a stored image record does not decode: the KV
	// is damaged.
	ErrImageRecord = errors.New("corrupt image record")
)

// imageMeta is what is stored beside an image file.
type imageMeta struct {
	Format   imaging.Format   `cbor:"1,keyasint"`
	Size     uint32           `cbor:"2,keyasint"`
	Analysis imaging.Analysis `cbor:"3,keyasint"`
	// StoredAt is when this node stored (or last refreshed) the file, by
	// its clock. Records written before it existed lack it (0): they
	// count as stored when the node started (imageStoredAt).
	StoredAt chain.Time `cbor:"4,keyasint,omitempty"`
}

// imageRef names the reading an image belongs to.
type imageRef struct {
	Device chain.PubKey `cbor:"1,keyasint"`
	Seq    uint64       `cbor:"2,keyasint"`
}

// imageClassState is a device's latest analysed frame, for the class-change
// alert.
type imageClassState struct {
	Seq   uint64        `cbor:"1,keyasint"`
	Class imaging.Class `cbor:"2,keyasint"`
}

var (
	// imageDecodeSem bounds the images decoded and analysed at once in
	// this process (uploads, fetches and overlays): each may take a few
	// hundred MB at the pixel limit.
	imageDecodeSem = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	// imageWriteMu serializes the write of an image with the read and
	// update of its device's class state, so two frames of one device
	// stored at once cannot both miss a class change. Writes are short;
	// decoding happens outside it.
	imageWriteMu sync.Mutex
)

// ImageReport answers GET /v1/images/{hash}/analysis: the derived figures
// beside the meter's own optical measures.
type ImageReport struct {
	Hash     chain.Hash        `json:"hash"`
	Format   string            `json:"format"`
	Bytes    uint32            `json:"bytes"`
	Reading  *ImageReading     `json:"reading,omitempty"`
	Analysis *imaging.Analysis `json:"analysis"`
}

// ImageReading is the reading an image belongs to, as ImageReport shows
// it. Height is 0 while the reading waits in the mempool.
type ImageReading struct {
	Device          chain.PubKey `json:"device"`
	Seq             uint64       `json:"seq"`
	Time            chain.Time   `json:"time"`
	Height          uint64       `json:"height,omitempty"`
	Turbidity       int64        `json:"turbidity"`
	SuspendedSolids int64        `json:"suspended_solids"`
	Absorbance      int64        `json:"absorbance"`
}

// imageOwner is the reading that names an image; height 0 while it waits.
type imageOwner struct {
	reading *chain.Reading
	height  uint64
}

func (n *Node) imageLimits() imaging.Limits {
	return imaging.Limits{MaxBytes: int(n.cfg.Images.MaxBytes)}
}

// PutImage answers PUT /v1/images/{hash}: it stores body as the image whose
// SHA-256 is hash once a reading waiting here or final names that hash and
// the file decodes within the configured limits; the analysis is stored
// with it. Uploading an image already held succeeds without work. Every
// refusal is an *api.HTTPError naming the reason, and stores nothing.
func (n *Node) PutImage(hash chain.Hash, body []byte) error {
	lim := n.imageLimits()
	if len(body) > lim.MaxBytes {
		return imageHTTPError(fmt.Errorf("%w: %d bytes, limit %d (config images.max_bytes)", imaging.ErrTooLarge, len(body), lim.MaxBytes))
	}
	if err := imaging.VerifyHash(body, hash); err != nil {
		return imageHTTPError(err)
	}
	if held, err := n.refreshHeldImage(hash); err != nil || held {
		return err // same hash, same bytes: nothing to store
	}
	owner, ok, err := n.imageOwner(hash)
	if err != nil {
		return err
	}
	if !ok {
		return api.Wrap(http.StatusUnprocessableEntity, api.CodeRejected,
			fmt.Errorf("%w: %s is not the image_hash of a reading waiting on this node or final; submit the signed reading first, then its image", ErrImageUnreferenced, hash))
	}
	return imageHTTPError(n.storeImage(hash, body, owner))
}

// imageHTTPError gives the imaging package's refusals their HTTP status.
func imageHTTPError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, imaging.ErrTooLarge):
		return api.Wrap(http.StatusRequestEntityTooLarge, api.CodeTooLarge, err)
	case errors.Is(err, imaging.ErrNotImage):
		return api.Wrap(http.StatusUnsupportedMediaType, api.CodeBadImage, err)
	case errors.Is(err, imaging.ErrHashMismatch):
		return api.Wrap(http.StatusUnprocessableEntity, api.CodeHashMismatch, err)
	case errors.Is(err, imaging.ErrTruncated), errors.Is(err, imaging.ErrCorrupt),
		errors.Is(err, imaging.ErrTooManyPixels), errors.Is(err, imaging.ErrTooManyScans),
		errors.Is(err, imaging.ErrUnsupported):
		return api.Wrap(http.StatusUnprocessableEntity, api.CodeBadImage, err)
	}
	return err
}

// hasImage reports whether the node holds the image file.
func (n *Node) hasImage(h chain.Hash) (bool, error) { return n.hasImageRecord(imageKeyMeta, h) }

// hasImageRecord reports whether the image record of kind for h is stored.
func (n *Node) hasImageRecord(kind byte, h chain.Hash) (bool, error) {
	_, err := n.kv.Get(imageKey(kind, h[:]))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, err
}

// imageOwner finds the reading naming h: the indexed final one, or else
// one waiting in the mempool (a linear scan of the pool, which stays small
// since readings finalize within seconds).
func (n *Node) imageOwner(h chain.Hash) (imageOwner, bool, error) {
	key := imageKey(imageKeyRef, h[:])
	v, err := n.kv.Get(key)
	switch {
	case err == nil:
		var ref imageRef
		if err := chain.Decode(v, &ref); err != nil {
			return imageOwner{}, false, fmt.Errorf("%w: reading of image %s: %w", ErrImageRecord, h.Short(), err)
		}
		r, loc, err := n.store.Reading(ref.Device, ref.Seq)
		if err != nil {
			return imageOwner{}, false, fmt.Errorf("image %s names reading %s/%d: %w", h.Short(), ref.Device.Short(), ref.Seq, err)
		}
		return imageOwner{reading: r, height: loc.Height}, true, nil
	case !errors.Is(err, store.ErrNotFound):
		return imageOwner{}, false, err
	}
	for _, r := range n.readings.Peek(n.readings.Len()) {
		if r.ImageHash != nil && *r.ImageHash == h {
			return imageOwner{reading: r}, true, nil
		}
	}
	return imageOwner{}, false, nil
}

// storeImage checks, analyses and stores an image for owner, then raises
// its alerts. Nothing is stored unless the file passes every check.
func (n *Node) storeImage(h chain.Hash, data []byte, owner imageOwner) error {
	a, format, err := decodeAndAnalyze(data, h, n.imageLimits())
	if err != nil {
		return err
	}
	meta := chain.MustEncode(&imageMeta{Format: format, Size: uint32(len(data)), Analysis: a, StoredAt: chain.TimeOf(n.now())})

	imageWriteMu.Lock()
	defer imageWriteMu.Unlock()
	if held, err := n.hasImage(h); err != nil || held {
		return err
	}
	b := n.kv.NewBatch()
	defer b.Discard()
	b.Set(imageKey(imageKeyFile, h[:]), data)
	b.Set(imageKey(imageKeyMeta, h[:]), meta)
	b.Delete(imageKey(imageKeyMissing, h[:]))
	raised, class := n.imageAlerts(h, &a, owner)
	if class != nil {
		b.Set(imageKey(imageKeyClass, owner.reading.Device[:]), class)
	}
	if err := b.Write(); err != nil {
		return fmt.Errorf("storing image %s: %w", h.Short(), err)
	}
	n.log.Debug("image stored", "hash", h.Short(), "device", owner.reading.Device.Short(), "seq", owner.reading.Seq,
		"class", a.Class, "turbidity_index", a.Turbidity, "objects", a.ObjectCount)
	if len(raised) > 0 {
		n.raise(raised)
	}
	return nil
}

// decodeAndAnalyze runs imaging.DecodeVerified and imaging.Analyze, at
// most GOMAXPROCS at a time in the process.
func decodeAndAnalyze(data []byte, h chain.Hash, lim imaging.Limits) (imaging.Analysis, imaging.Format, error) {
	imageDecodeSem <- struct{}{}
	defer func() { <-imageDecodeSem }()
	img, format, err := imaging.DecodeVerified(data, h, lim)
	if err != nil {
		return imaging.Analysis{}, 0, err
	}
	a, err := imaging.Analyze(img)
	if err != nil {
		return imaging.Analysis{}, 0, fmt.Errorf("%w: %w", imaging.ErrTooManyPixels, err)
	}
	return a, format, nil
}

// imageAlerts derives the alerts of a newly stored frame and, when the
// frame is its device's latest, the device's new class state to store
// with it (nil otherwise). Called with imageWriteMu held.
func (n *Node) imageAlerts(h chain.Hash, a *imaging.Analysis, o imageOwner) ([]alerts.Alert, []byte) {
	r := o.reading
	var prev imageClassState
	havePrev := false
	if v, err := n.kv.Get(imageKey(imageKeyClass, r.Device[:])); err == nil {
		havePrev = chain.Decode(v, &prev) == nil
	}
	fig := figuresOf(a)
	j := judgeFrame(fig, r.Seq, prev, havePrev)
	var out []alerts.Alert
	if n.alertLog != nil && j.raises() {
		out = imageFrameAlerts(h, fig, r, prev, j, n.deviceContext(r.Device, n.Height(chain.LaneTx)))
	}
	if !j.advance {
		return out, nil // a late older frame or a dark one leaves the device's class as it was
	}
	return out, chain.MustEncode(&imageClassState{Seq: r.Seq, Class: a.Class})
}

// frameFigures are the parts of an analysis the image alert rules read.
type frameFigures struct {
	Class       imaging.Class
	Dark        bool
	ObjectCount uint32
	ObjectArea  uint16
}

func figuresOf(a *imaging.Analysis) frameFigures {
	return frameFigures{Class: a.Class, Dark: a.Dark, ObjectCount: a.ObjectCount, ObjectArea: a.ObjectArea}
}

// frameJudgement is what the image alert rules make of one frame.
type frameJudgement struct {
	floating    bool // raise KindFloatingSolids
	classChange bool // raise KindImageClass
	advance     bool // the frame becomes its device's class state
}

func (j frameJudgement) raises() bool { return j.floating || j.classChange }

// judgeFrame applies the image alert rules to the frame of reading seq,
// given its device's class state before it (prev, when havePrev). Live
// storage (imageAlerts) and the restart replay (replayImageAlerts) both
// use it, so they raise the same alerts.
func judgeFrame(f frameFigures, seq uint64, prev imageClassState, havePrev bool) frameJudgement {
	latest := !havePrev || seq > prev.Seq
	return frameJudgement{
		// A dark frame (night, covered lens) says little about the water.
		floating:    f.ObjectCount > 0 && f.Class != imaging.ClassFoamy && !f.Dark,
		classChange: latest && havePrev && !f.Dark && prev.Class != f.Class,
		advance:     latest && !f.Dark,
	}
}

// imageFrameAlerts builds the alerts j calls for, of image h of reading r.
// Their IDs hash the kind and the reading only (alerts.Alert.Finish).
func imageFrameAlerts(h chain.Hash, f frameFigures, r *chain.Reading, prev imageClassState, j frameJudgement, dc alerts.DeviceContext) []alerts.Alert {
	mk := func(kind alerts.Kind, value, threshold int64, msg string) alerts.Alert {
		al := alerts.Alert{
			Device: r.Device, Industry: dc.Industry, IndustryName: dc.IndustryName, Kind: kind,
			Measure: "image", Time: r.Time, Value: value, Threshold: threshold,
			Message: msg, Readings: []alerts.ReadingRef{{Device: r.Device, Seq: r.Seq}}, Local: true,
		}
		al.Finish()
		return al
	}
	var out []alerts.Alert
	if j.floating {
		out = append(out, mk(alerts.KindFloatingSolids, int64(f.ObjectCount), 0,
			fmt.Sprintf("floating solids seen: %d object(s) covering %d‰ of the frame (image %s of reading seq %d)",
				f.ObjectCount, f.ObjectArea, h.Short(), r.Seq)))
	}
	if j.classChange {
		out = append(out, mk(alerts.KindImageClass, int64(f.Class), int64(prev.Class),
			fmt.Sprintf("image class changed to %s (was %s at reading seq %d; image %s of reading seq %d)",
				f.Class, prev.Class, prev.Seq, h.Short(), r.Seq)))
	}
	return out
}

// indexImages runs on the loop after a data block commits: it records the
// reading of each image hash of the block and marks the images this node
// lacks as missing, for the fetcher. Blocks committed without it (a crash
// between the commit and this call, or a store from before images) are
// indexed first.
func (n *Node) indexImages(b *chain.Block) {
	height := b.Header.Height
	done, err := n.imagesIndexedHeight()
	if err != nil {
		n.log.Error("image index", "err", err)
		return
	}
	for h := done + 1; h < height; h++ {
		old, err := n.store.Block(chain.LaneData, h)
		if err != nil {
			n.log.Error("image index: reading a committed block", "height", h, "err", err)
			return
		}
		if err := n.indexImageBlock(old); err != nil {
			n.log.Error("image index", "height", h, "err", err)
			return
		}
	}
	if height > done {
		if err := n.indexImageBlock(b); err != nil {
			n.log.Error("image index", "height", height, "err", err)
		}
	}
}

func (n *Node) imagesIndexedHeight() (uint64, error) {
	key := imageKey(imageKeyIndexed, nil)
	v, err := n.kv.Get(key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(v) != 8:
		return 0, fmt.Errorf("%w: indexed height is %d bytes, want 8", ErrImageRecord, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// indexImageBlock writes the image records of one data block and the new
// indexed height in one batch.
func (n *Node) indexImageBlock(b *chain.Block) error {
	batch := n.kv.NewBatch()
	defer batch.Discard()
	now := binary.BigEndian.AppendUint64(nil, uint64(n.now().UnixMilli()))
	seen := map[chain.Hash]bool{}
	for _, r := range b.Readings {
		if r.ImageHash == nil || seen[*r.ImageHash] {
			continue
		}
		h := *r.ImageHash
		seen[h] = true
		if _, err := n.kv.Get(imageKey(imageKeyRef, h[:])); errors.Is(err, store.ErrNotFound) {
			batch.Set(imageKey(imageKeyRef, h[:]), chain.MustEncode(&imageRef{Device: r.Device, Seq: r.Seq}))
		} else if err != nil {
			return err
		}
		held, err := n.hasImage(h)
		if err != nil {
			return err
		}
		if !held {
			batch.Set(imageKey(imageKeyMissing, h[:]), now)
		}
	}
	batch.Set(imageKey(imageKeyIndexed, nil), binary.BigEndian.AppendUint64(nil, b.Header.Height))
	return batch.Write()
}

// registerImages serves the "images/get" protocol: the request is a 32-byte
// image hash, the response the file, or an error when this node lacks it.
func (n *Node) registerImages() error {
	return n.host.Handle(protoImagesGet, func(_ context.Context, _ chain.PubKey, req []byte) ([]byte, error) {
		h, err := parseImageRequest(req)
		if err != nil {
			return nil, err
		}
		data, err := n.kv.Get(imageKey(imageKeyFile, h[:]))
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrImageNotHeld, h.Short())
		}
		return data, err
	})
}

// parseImageRequest decodes an "images/get" request.
func parseImageRequest(req []byte) (chain.Hash, error) {
	var h chain.Hash
	if len(req) != len(h) {
		return h, fmt.Errorf("bad image request: %d bytes, want a %d-byte hash", len(req), len(h))
	}
	copy(h[:], req)
	if h.IsZero() {
		return h, errors.New("bad image request: zero hash")
	}
	return h, nil
}

// startImageFetcher starts the goroutine that fetches missing images from
// peers and sweeps orphans (images_sweep.go).
func (n *Node) startImageFetcher() {
	n.initImageKeeper()
	n.wg.Add(1)
	go n.imageFetcher()
}

// imageFetcher asks peers for the images final readings name and this node
// lacks. An image no peer has is asked for again after a doubling wait
// (imageRetryMin to imageRetryMax), for imageGiveUp at most. At its first
// round and every imageSweepInterval after, it sweeps orphan images.
func (n *Node) imageFetcher() {
	defer n.wg.Done()
	t := time.NewTicker(imageFetchInterval)
	defer t.Stop()
	type retry struct {
		at   time.Time
		wait time.Duration
	}
	retries := map[chain.Hash]retry{}
	nextSweep := time.Now()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if !time.Now().Before(nextSweep) {
			n.runImageSweep()
			nextSweep = time.Now().Add(imageSweepInterval)
		}
		missing, err := n.missingImages(imageFetchBatch, func(h chain.Hash) bool { return time.Now().Before(retries[h].at) })
		if err != nil {
			n.log.Warn("image fetcher", "err", err)
			continue
		}
		for _, m := range missing {
			if n.ctx.Err() != nil {
				return
			}
			if n.now().Sub(m.noticed) > imageGiveUp {
				n.log.Warn("giving up on an image no peer has", "hash", m.hash.Short(), "since", m.noticed)
				n.dropMissing(m.hash)
				delete(retries, m.hash)
				continue
			}
			if err := n.fetchImage(m.hash); err != nil {
				r := retries[m.hash]
				r.wait = min(max(2*r.wait, imageRetryMin), imageRetryMax)
				r.at = time.Now().Add(r.wait)
				retries[m.hash] = r
				n.log.Debug("image not fetched", "hash", m.hash.Short(), "retry_in", r.wait, "err", err)
				continue
			}
			delete(retries, m.hash)
		}
		if len(retries) > 4*imageFetchBatch {
			for h, r := range retries { // forget stale entries of images since stored or dropped
				if time.Since(r.at) > imageRetryMax {
					delete(retries, h)
				}
			}
		}
	}
}

type missingImage struct {
	hash    chain.Hash
	noticed time.Time
}

// missingImages lists up to limit missing images, skipping those for which
// skip says so and dropping the marks of images held since.
func (n *Node) missingImages(limit int, skip func(chain.Hash) bool) ([]missingImage, error) {
	var out []missingImage
	var held []chain.Hash
	prefix := imageKey(imageKeyMissing, nil)
	err := n.kv.Iterate(prefix, store.IterOptions{}, func(k, v []byte) error {
		var h chain.Hash
		if len(k) != len(prefix)+len(h) || len(v) != 8 {
			return fmt.Errorf("%w: missing-image mark %x", ErrImageRecord, k)
		}
		copy(h[:], k[len(prefix):])
		if ok, err := n.hasImage(h); err != nil {
			return err
		} else if ok {
			held = append(held, h)
			return nil
		}
		if skip(h) {
			return nil
		}
		out = append(out, missingImage{hash: h, noticed: time.UnixMilli(int64(binary.BigEndian.Uint64(v)))})
		if len(out) == limit {
			return store.ErrStop
		}
		return nil
	})
	for _, h := range held {
		n.dropMissing(h)
	}
	return out, err
}

func (n *Node) dropMissing(h chain.Hash) {
	b := n.kv.NewBatch()
	defer b.Discard()
	b.Delete(imageKey(imageKeyMissing, h[:]))
	if err := b.Write(); err != nil {
		n.log.Warn("image fetcher: dropping a mark", "hash", h.Short(), "err", err)
	}
}

// fetchImage asks the peers, in random order, for image h until one sends
// a file that passes the upload checks, and stores it.
func (n *Node) fetchImage(h chain.Hash) error {
	owner, ok, err := n.imageOwner(h)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrImageUnreferenced, h.Short())
	}
	peers := n.host.Peers()
	if len(peers) == 0 {
		return errors.New("no peers")
	}
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	var errs []error
	for _, p := range peers {
		ctx, cancel := context.WithTimeout(n.ctx, imageRequestTimeout)
		data, err := n.host.Request(ctx, p, protoImagesGet, h[:])
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := n.storeImage(h, data, owner); err != nil {
			// A peer that sends bytes failing the checks is faulty or
			// hostile; another may have the right file.
			n.log.Warn("peer sent a bad image", "peer", p.Short(), "hash", h.Short(), "err", err)
			errs = append(errs, err)
			continue
		}
		n.log.Debug("image fetched from a peer", "peer", p.Short(), "hash", h.Short(), "bytes", len(data))
		return nil
	}
	return errors.Join(errs...)
}

// imageParam parses the {hash} of an image route.
func imageParam(p map[string]string) (chain.Hash, error) {
	h, err := chain.ParseHash(p["hash"])
	if err != nil {
		return h, api.BadRequest("image hash: %v (GET /v1/images/{sha256 hex})", err)
	}
	return h, nil
}

// loadImage returns a held image file and its metadata.
func (n *Node) loadImage(h chain.Hash, withFile bool) ([]byte, *imageMeta, error) {
	v, err := n.kv.Get(imageKey(imageKeyMeta, h[:]))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, api.Wrap(http.StatusNotFound, api.CodeNotFound,
			fmt.Errorf("%w: %s (an image is held once uploaded with PUT /v1/images/{hash} or fetched from a peer after its reading is final; one whose reading never became final is removed %s after its upload)",
				ErrImageNotHeld, h, n.imageOrphanGrace()))
	}
	if err != nil {
		return nil, nil, err
	}
	var meta imageMeta
	if err := chain.Decode(v, &meta); err != nil {
		return nil, nil, fmt.Errorf("%w: metadata of image %s: %w", ErrImageRecord, h.Short(), err)
	}
	if !withFile {
		return nil, &meta, nil
	}
	data, err := n.kv.Get(imageKey(imageKeyFile, h[:]))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: image %s has metadata but no file: %w", ErrImageRecord, h.Short(), err)
	}
	return data, &meta, nil
}

// queryImage answers GET /v1/images/{hash}: the file as uploaded.
func (n *Node) queryImage(p map[string]string) (any, error) {
	h, err := imageParam(p)
	if err != nil {
		return nil, err
	}
	data, meta, err := n.loadImage(h, true)
	if err != nil {
		return nil, err
	}
	return api.RawResponse{ContentType: meta.Format.MIMEType(), Body: data}, nil
}

// queryImageAnalysis answers GET /v1/images/{hash}/analysis.
func (n *Node) queryImageAnalysis(p map[string]string) (any, error) {
	h, err := imageParam(p)
	if err != nil {
		return nil, err
	}
	_, meta, err := n.loadImage(h, false)
	if err != nil {
		return nil, err
	}
	rep := ImageReport{Hash: h, Format: meta.Format.String(), Bytes: meta.Size, Analysis: &meta.Analysis}
	if o, ok, err := n.imageOwner(h); err != nil {
		return nil, err
	} else if ok {
		r := o.reading
		rep.Reading = &ImageReading{
			Device: r.Device, Seq: r.Seq, Time: r.Time, Height: o.height,
			Turbidity: r.Turbidity, SuspendedSolids: r.SuspendedSolids, Absorbance: r.Absorbance,
		}
	}
	return rep, nil
}

// queryImageOverlay answers GET /v1/images/{hash}/overlay: a PNG of the
// image with the detected objects outlined.
func (n *Node) queryImageOverlay(p map[string]string) (any, error) {
	h, err := imageParam(p)
	if err != nil {
		return nil, err
	}
	data, meta, err := n.loadImage(h, true)
	if err != nil {
		return nil, err
	}
	imageDecodeSem <- struct{}{}
	defer func() { <-imageDecodeSem }()
	img, _, err := imaging.Decode(data, n.imageLimits())
	if err != nil {
		return nil, fmt.Errorf("%w: stored image %s no longer decodes: %w", ErrImageRecord, h.Short(), err)
	}
	out, err := imaging.EncodePNG(imaging.Overlay(img, meta.Analysis))
	if err != nil {
		return nil, err
	}
	return api.RawResponse{ContentType: "image/png", Body: out}, nil
}

// attachImages adds the image summary to the readings whose image this
// node holds (GET /v1/readings).
func (n *Node) attachImages(rs []api.Reading) {
	for i := range rs {
		h := rs[i].ImageHash
		if h == nil {
			continue
		}
		_, meta, err := n.loadImage(*h, false)
		if err != nil {
			continue // not held (yet): the reading still shows image_hash
		}
		a := &meta.Analysis
		rs[i].Image = &api.ImageSummary{
			Hash: *h, Class: a.Class.String(), TurbidityIndex: a.Turbidity, Dark: a.Dark,
			Objects: a.ObjectCount, ObjectArea: a.ObjectArea,
		}
	}
}
