package images

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/imaging"
)

// Chain is what the package reads of the finalized chain: the reading an
// image belongs to, and the data blocks and headers the index walks.
// *store.Store satisfies it. Safe for concurrent use.
type Chain interface {
	Reading(device chain.PubKey, seq uint64) (*chain.Reading, store.Location, error)
	Block(lane chain.Lane, height uint64) (*chain.Block, error)
	Header(lane chain.Lane, height uint64) (chain.Header, error)
}

// Pool lists the readings waiting in the mempool, oldest first (Peek(Len())
// is all of them). *mempool.Readings satisfies it. Safe for concurrent use.
type Pool interface {
	Len() int
	Peek(n int) []*chain.Reading
}

// Peers is the request/response side of the p2p network, for fetching
// images: the connected peers, and one request of protocol to one peer.
// *p2p.Host satisfies it. Called from Run's goroutine only.
type Peers interface {
	Peers() []chain.PubKey
	Request(ctx context.Context, peer chain.PubKey, protocol string, req []byte) ([]byte, error)
}

// AlertSink takes the image alerts. Context says what the tx chain says of
// a device's industry (owner, name, permit limits) now. Raise is called
// with the instance's write lock held, in the order frames are stored, and
// must not call back into Images. Both are called from any goroutine.
type AlertSink interface {
	Context(device chain.PubKey) alerts.DeviceContext
	Raise(as []alerts.Alert)
}

// Clock is the node's clock: it stamps store times and judges the age of
// missing marks. Tests fix it.
type Clock interface {
	Now() time.Time
}

// ClockFunc makes a function a Clock (time.Now, or a test's).
type ClockFunc func() time.Time

// Now implements Clock.
func (f ClockFunc) Now() time.Time { return f() }

// DefaultOverlayCacheBytes is Config.OverlayCacheBytes when left 0.
const DefaultOverlayCacheBytes = 64 << 20

// Config holds an instance's limits.
type Config struct {
	// MaxBytes is the largest image file accepted (config images.max_bytes).
	MaxBytes int
	// DecodeSlots bounds the images decoded at once (uploads, fetches and
	// overlays): each may take a few hundred MB at the pixel limit.
	// 0 means GOMAXPROCS.
	DecodeSlots int
	// OrphanGrace is how long before the chain's time an image no reading
	// names must have been stored to be swept (doc.go, Sweep).
	OrphanGrace time.Duration
	// OverlayCacheBytes bounds the rendered overlays kept in memory; 0
	// means DefaultOverlayCacheBytes, a negative value keeps none
	// (concurrent requests for one image still share one rendering).
	OverlayCacheBytes int64

	// render draws an overlay; nil means renderOverlay. Tests count calls
	// through it.
	render func(data []byte, a *imaging.Analysis, lim imaging.Limits) ([]byte, error)
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	switch {
	case c.MaxBytes <= 0:
		return fmt.Errorf("%w: MaxBytes %d, want > 0", ErrConfig, c.MaxBytes)
	case c.DecodeSlots < 0:
		return fmt.Errorf("%w: DecodeSlots %d, want ≥ 0", ErrConfig, c.DecodeSlots)
	case c.OrphanGrace <= 0:
		return fmt.Errorf("%w: OrphanGrace %s, want > 0", ErrConfig, c.OrphanGrace)
	}
	return nil
}

// Deps are the node's parts an instance uses. Chain, Pool and Clock are
// required; Peers may be nil when Run is never called; Alerts is nil when
// the node raises no alerts.
type Deps struct {
	Chain  Chain
	Pool   Pool
	Peers  Peers
	Alerts AlertSink
	Clock  Clock
	Logger *slog.Logger
}

// Images is one node's image store. See the package doc.
type Images struct {
	kv     *store.SubKV
	cfg    Config
	chain  Chain
	pool   Pool
	peers  Peers
	sink   AlertSink
	clock  Clock
	log    *slog.Logger
	limits imaging.Limits

	// decodeSem bounds the decodes in flight (Config.DecodeSlots).
	decodeSem chan struct{}
	// writeMu serializes the write of an image with the read and update
	// of its device's class state, so two frames of one device stored at
	// once cannot both miss a class change, and the sweep's delete with a
	// re-upload's refresh. Writes are short; decoding happens outside it.
	writeMu sync.Mutex

	overlays *overlayCache
	// startedAt stands for the store time of a record written before
	// meta.StoredAt existed.
	startedAt chain.Time
	// removed counts the orphan images swept.
	removed prometheus.Counter
	// index is how far Index has got (index.go); Index's own, on the loop.
	index indexState
}

// New returns the image store of a node over kv, the node's KV, under the
// prefix chain/store reserves for images.
func New(kv store.KV, cfg Config, deps Deps) (*Images, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Chain == nil || deps.Pool == nil || deps.Clock == nil {
		return nil, fmt.Errorf("%w: Deps.Chain, Pool and Clock are required", ErrConfig)
	}
	sub, err := store.Reserve(kv, store.PrefixImages)
	if err != nil {
		return nil, err
	}
	if cfg.DecodeSlots == 0 {
		cfg.DecodeSlots = max(1, runtime.GOMAXPROCS(0))
	}
	if cfg.OverlayCacheBytes == 0 {
		cfg.OverlayCacheBytes = DefaultOverlayCacheBytes
	}
	if cfg.render == nil {
		cfg.render = renderOverlay
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	return &Images{
		kv: sub, cfg: cfg, chain: deps.Chain, pool: deps.Pool, peers: deps.Peers, sink: deps.Alerts,
		clock: deps.Clock, log: deps.Logger, limits: imaging.Limits{MaxBytes: cfg.MaxBytes},
		decodeSem: make(chan struct{}, cfg.DecodeSlots),
		overlays:  newOverlayCache(max(0, cfg.OverlayCacheBytes)),
		startedAt: chain.TimeOf(deps.Clock.Now()),
		removed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waterchain_image_orphans_removed_total",
			Help: "Images deleted because no final reading names them long after their upload (their reading was dropped or lost).",
		}),
	}, nil
}

// Collectors are the instance's metrics, for the node's registry.
func (im *Images) Collectors() []prometheus.Collector {
	return []prometheus.Collector{im.removed, im.overlays.served}
}

// owner is the reading that names an image; height 0 while it waits.
type owner struct {
	reading *chain.Reading
	height  uint64
}

// Put answers PUT /v1/images/{hash}: it stores body as the image whose
// SHA-256 is hash once a reading waiting here or final names that hash and
// the file decodes within the configured limits; the analysis is stored
// with it. Uploading an image already held succeeds without work. Every
// refusal is an *api.HTTPError naming the reason, and stores nothing.
func (im *Images) Put(hash chain.Hash, body []byte) error {
	if len(body) > im.limits.MaxBytes {
		return httpError(fmt.Errorf("%w: %d bytes, limit %d (config images.max_bytes)", imaging.ErrTooLarge, len(body), im.limits.MaxBytes))
	}
	if err := imaging.VerifyHash(body, hash); err != nil {
		return httpError(err)
	}
	if held, err := im.refreshHeld(hash); err != nil || held {
		return err // same hash, same bytes: nothing to store
	}
	o, ok, err := im.owner(hash)
	if err != nil {
		return err
	}
	if !ok {
		return api.Wrap(http.StatusUnprocessableEntity, api.CodeRejected,
			fmt.Errorf("%w: %s is not the image_hash of a reading waiting on this node or final; submit the signed reading first, then its image", ErrUnreferenced, hash))
	}
	return httpError(im.store(hash, body, o))
}

// httpError gives the imaging package's refusals their HTTP status.
func httpError(err error) error {
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

// Held reports whether the node holds image h.
func (im *Images) Held(h chain.Hash) (bool, error) { return im.hasRecord(keyMeta, h) }

// hasRecord reports whether the image record of kind for h is stored.
func (im *Images) hasRecord(kind byte, h chain.Hash) (bool, error) {
	_, err := im.kv.Get(recordKey(kind, h[:]))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, err
}

// owner finds the reading naming h: the indexed final one, or else one
// waiting in the mempool (a linear scan of the pool, which stays small
// since readings finalize within seconds).
func (im *Images) owner(h chain.Hash) (owner, bool, error) {
	v, err := im.kv.Get(recordKey(keyRef, h[:]))
	switch {
	case err == nil:
		var rf ref
		if err := chain.Decode(v, &rf); err != nil {
			return owner{}, false, fmt.Errorf("%w: reading of image %s: %w", ErrRecord, h.Short(), err)
		}
		r, loc, err := im.chain.Reading(rf.Device, rf.Seq)
		if err != nil {
			return owner{}, false, fmt.Errorf("image %s names reading %s/%d: %w", h.Short(), rf.Device.Short(), rf.Seq, err)
		}
		return owner{reading: r, height: loc.Height}, true, nil
	case !errors.Is(err, store.ErrNotFound):
		return owner{}, false, err
	}
	for _, r := range im.pool.Peek(im.pool.Len()) {
		if r.ImageHash != nil && *r.ImageHash == h {
			return owner{reading: r}, true, nil
		}
	}
	return owner{}, false, nil
}

// store checks, analyses and stores an image for o, then raises its
// alerts. Nothing is stored unless the file passes every check.
func (im *Images) store(h chain.Hash, data []byte, o owner) error {
	a, format, err := im.decodeAndAnalyze(data, h)
	if err != nil {
		return err
	}
	m := chain.MustEncode(&meta{Format: format, Size: uint32(len(data)), Analysis: a, StoredAt: chain.TimeOf(im.clock.Now())})

	im.writeMu.Lock()
	defer im.writeMu.Unlock()
	if held, err := im.Held(h); err != nil || held {
		return err
	}
	b := im.kv.NewBatch()
	defer b.Discard()
	b.Set(recordKey(keyFile, h[:]), data)
	b.Set(recordKey(keyMeta, h[:]), m)
	b.Delete(recordKey(keyMissing, h[:]))
	raised, class := im.frameAlertsLive(h, &a, o)
	if class != nil {
		b.Set(recordKey(keyClass, o.reading.Device[:]), class)
	}
	if err := b.Write(); err != nil {
		return fmt.Errorf("storing image %s: %w", h.Short(), err)
	}
	im.log.Debug("image stored", "hash", h.Short(), "device", o.reading.Device.Short(), "seq", o.reading.Seq,
		"class", a.Class, "turbidity_index", a.Turbidity, "objects", a.ObjectCount)
	if len(raised) > 0 {
		im.sink.Raise(raised)
	}
	return nil
}

// acquireDecode takes one of the instance's decode slots; release gives it
// back.
func (im *Images) acquireDecode() (release func()) {
	im.decodeSem <- struct{}{}
	return func() { <-im.decodeSem }
}

// decodeAndAnalyze runs imaging.DecodeVerified and imaging.Analyze in one
// of the instance's decode slots.
func (im *Images) decodeAndAnalyze(data []byte, h chain.Hash) (imaging.Analysis, imaging.Format, error) {
	defer im.acquireDecode()()
	img, format, err := imaging.DecodeVerified(data, h, im.limits)
	if err != nil {
		return imaging.Analysis{}, 0, err
	}
	a, err := imaging.Analyze(img)
	if err != nil {
		return imaging.Analysis{}, 0, fmt.Errorf("%w: %w", imaging.ErrTooManyPixels, err)
	}
	return a, format, nil
}

// frameAlertsLive derives the alerts of a newly stored frame and, when the
// frame is its device's latest, the device's new class state to store
// with it (nil otherwise). Called with writeMu held.
func (im *Images) frameAlertsLive(h chain.Hash, a *imaging.Analysis, o owner) ([]alerts.Alert, []byte) {
	r := o.reading
	var prev classState
	havePrev := false
	if v, err := im.kv.Get(recordKey(keyClass, r.Device[:])); err == nil {
		havePrev = chain.Decode(v, &prev) == nil
	}
	fig := figuresOf(a)
	j := judgeFrame(fig, r.Seq, prev, havePrev)
	var out []alerts.Alert
	if im.sink != nil && j.raises() {
		out = frameAlerts(h, fig, r, prev, j, im.sink.Context(r.Device))
	}
	if !j.advance {
		return out, nil // a late older frame or a dark one leaves the device's class as it was
	}
	return out, chain.MustEncode(&classState{Seq: r.Seq, Class: a.Class})
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
// storage (frameAlertsLive) and the restart replay (ReplayAlerts) both
// use it, so they raise the same alerts.
func judgeFrame(f frameFigures, seq uint64, prev classState, havePrev bool) frameJudgement {
	latest := !havePrev || seq > prev.Seq
	return frameJudgement{
		// A dark frame (night, covered lens) says little about the water.
		floating:    f.ObjectCount > 0 && f.Class != imaging.ClassFoamy && !f.Dark,
		classChange: latest && havePrev && !f.Dark && prev.Class != f.Class,
		advance:     latest && !f.Dark,
	}
}

// frameAlerts builds the alerts j calls for, of image h of reading r.
// Their IDs hash the kind and the reading only (alerts.Alert.Finish).
func frameAlerts(h chain.Hash, f frameFigures, r *chain.Reading, prev classState, j frameJudgement, dc alerts.DeviceContext) []alerts.Alert {
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
