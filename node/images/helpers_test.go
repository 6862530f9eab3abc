package images

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/mempool"
)

const testChainID = "waterchain-images-test"

func testKey(t testing.TB, label string) *chain.PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte(label))
	k, err := chain.NewPrivateKey(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testClock is a settable clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// recordingSink is an AlertSink that keeps what it is given.
type recordingSink struct {
	mu     sync.Mutex
	raised []alerts.Alert
}

var testIndustry = chain.Address{1, 2, 3}

func (s *recordingSink) Context(chain.PubKey) alerts.DeviceContext {
	return alerts.DeviceContext{Industry: testIndustry, IndustryName: "Test Mill"}
}

func (s *recordingSink) Raise(as []alerts.Alert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raised = append(s.raised, as...)
}

func (s *recordingSink) all() []alerts.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]alerts.Alert(nil), s.raised...)
}

// fixture is an image store over a real chain store in memory, with a
// real mempool, as a node wires it.
type fixture struct {
	t     testing.TB
	kv    *store.MemoryKV
	store *store.Store
	pool  *mempool.Readings
	sink  *recordingSink
	clock *testClock
	im    *Images
	dev   *chain.PrivateKey

	val     *chain.PrivateKey
	vs      *chain.ValidatorSet
	genesis chain.Hash
	head    *chain.Header
}

// baseTime is the time of the first data block.
var baseTime = time.Unix(1_780_000_000, 0)

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	f := &fixture{
		t: t, kv: store.NewMemory(), pool: mempool.NewReadings(1000), sink: &recordingSink{},
		clock: &testClock{now: baseTime}, dev: testKey(t, "device"), val: testKey(t, "validator"),
		genesis: chain.HashBytes([]byte("genesis of " + testChainID)),
	}
	var err error
	if f.vs, err = chain.NewValidatorSet([]chain.PubKey{f.val.Public()}); err != nil {
		t.Fatal(err)
	}
	if f.store, err = store.Open(f.kv); err != nil {
		t.Fatal(err)
	}
	if err := f.store.InitGenesis(f.genesis, nil); err != nil {
		t.Fatal(err)
	}
	f.im = f.open(cfg)
	return f
}

// open makes another instance over the fixture's KV, as a restarted node
// does.
func (f *fixture) open(cfg Config) *Images {
	f.t.Helper()
	return f.openOn(f.kv, cfg)
}

// openOn is open over kv, which holds the fixture's KV.
func (f *fixture) openOn(kv store.KV, cfg Config) *Images {
	f.t.Helper()
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 4 << 20
	}
	if cfg.OrphanGrace == 0 {
		cfg.OrphanGrace = 10 * time.Minute
	}
	im, err := New(kv, cfg, Deps{
		Chain: f.store, Pool: f.pool, Alerts: f.sink, Clock: f.clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return im
}

// reading is a signed reading of the fixture's device naming image h.
func (f *fixture) reading(seq uint64, h chain.Hash) *chain.Reading {
	r := &chain.Reading{
		Device: f.dev.Public(), Seq: seq, Time: chain.TimeOf(baseTime.Add(time.Duration(seq) * time.Second)),
		FlowRate: 12_500_000, Volume: 12_500_000, VolumeTotal: 900_000_000 + int64(seq)*12_500_000,
		Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 450, ImageHash: &h,
	}
	r.Sign(testChainID, f.dev)
	return r
}

// readingWithoutImage is a signed reading of the fixture's device that
// names no image.
func (f *fixture) readingWithoutImage(seq uint64) *chain.Reading {
	r := f.reading(seq, chain.Hash{})
	r.ImageHash = nil
	r.Sign(testChainID, f.dev)
	return r
}

// wait puts readings in the mempool.
func (f *fixture) wait(rs ...*chain.Reading) {
	f.t.Helper()
	for _, r := range rs {
		if err := f.pool.Add(r.Hash(), r); err != nil {
			f.t.Fatal(err)
		}
	}
}

// commit makes the readings final in the next data block, timed at the
// clock, and runs the index as the node's loop does (unless noIndex);
// the block's readings leave the mempool.
func (f *fixture) commit(noIndex bool, rs ...*chain.Reading) *chain.Block {
	f.t.Helper()
	h := chain.Header{
		ChainID: testChainID, Lane: chain.LaneData, Height: 1, Time: chain.TimeOf(f.clock.Now()), PrevHash: f.genesis,
		StateRoot: chain.HashBytes([]byte(fmt.Sprintf("state %d", f.clock.Now().UnixNano()))),
		Anchor:    chain.Anchor{Height: 0, Hash: f.genesis}, ValidatorsHash: f.vs.Hash(),
	}
	if f.head != nil {
		h.Height, h.PrevHash = f.head.Height+1, f.head.Hash()
	}
	h.Proposer = f.vs.Proposer(h.Height, 0)
	b := &chain.Block{Header: h, Readings: rs}
	b.Header.NumEntries = uint32(b.NumEntries())
	b.Header.EntriesRoot = b.ComputeEntriesRoot()
	v := &chain.Vote{Type: chain.Precommit, Lane: chain.LaneData, Height: b.Header.Height, BlockHash: b.Hash(), Validator: f.val.Public()}
	v.Sign(testChainID, f.val)
	cert, err := chain.NewCertificate(f.vs, []*chain.Vote{v})
	if err != nil {
		f.t.Fatal(err)
	}
	b = b.WithCert(cert)
	if err := f.store.Commit(b, nil); err != nil {
		f.t.Fatalf("commit data/%d: %v", b.Header.Height, err)
	}
	f.head = &b.Header
	if !noIndex {
		f.im.Index(b)
	}
	var hashes []chain.Hash
	for _, r := range rs {
		hashes = append(hashes, r.Hash())
	}
	f.pool.Remove(hashes)
	return b
}

// records counts the file and metadata records held for h.
func (f *fixture) records(h chain.Hash) int {
	f.t.Helper()
	count := 0
	for _, kind := range []byte{keyFile, keyMeta} {
		_, err := f.im.kv.Get(recordKey(kind, h[:]))
		switch {
		case err == nil:
			count++
		case !errors.Is(err, store.ErrNotFound):
			f.t.Fatal(err)
		}
	}
	return count
}

// countKeys counts the records of kind.
func (f *fixture) countKeys(kind byte) int {
	f.t.Helper()
	count := 0
	if err := f.im.kv.Iterate([]byte{kind}, store.IterOptions{}, func(k, v []byte) error {
		count++
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	return count
}

// storedMeta reads the metadata of a held image.
func (f *fixture) storedMeta(h chain.Hash) meta {
	f.t.Helper()
	v, err := f.im.kv.Get(recordKey(keyMeta, h[:]))
	if err != nil {
		f.t.Fatalf("metadata of %s: %v", h.Short(), err)
	}
	var m meta
	if err := chain.Decode(v, &m); err != nil {
		f.t.Fatal(err)
	}
	return m
}

// writeRecords stores an image as an older node would have, with m as
// given, bypassing the upload checks.
func (f *fixture) writeRecords(data []byte, m meta) chain.Hash {
	f.t.Helper()
	h := chain.HashBytes(data)
	b := f.im.kv.NewBatch()
	b.Set(recordKey(keyFile, h[:]), data)
	b.Set(recordKey(keyMeta, h[:]), chain.MustEncode(&m))
	if err := b.Write(); err != nil {
		f.t.Fatal(err)
	}
	return h
}

func mustPut(t testing.TB, im *Images, data []byte) chain.Hash {
	t.Helper()
	h := chain.HashBytes(data)
	if err := im.Put(h, data); err != nil {
		t.Fatalf("put %s: %v", h.Short(), err)
	}
	return h
}
