package audit_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/audit"
	"github.com/waterchain/waterchain/node/audit/audittest"
)

// Keys of the store's layout (chain/store doc.go).
func laneHeightKey(prefix byte, lane chain.Lane, height uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefix, byte(lane)}, height)
}

// headerKey is the block record: header and certificate (schema 4).
func headerKey(lane chain.Lane, height uint64) []byte { return laneHeightKey('h', lane, height) }

// entryKey is the key of the entries chunk holding entry i (schema 5).
func entryKey(lane chain.Lane, height uint64, i uint32) []byte {
	return binary.BigEndian.AppendUint32(laneHeightKey('e', lane, height), i/store.EntriesPerChunk)
}
func blockHashKey(h chain.Hash, lane chain.Lane, height uint64) []byte {
	return binary.BigEndian.AppendUint64(append(append([]byte{'b'}, h[:8]...), byte(lane)), height)
}
func stateKey(k []byte) []byte { return append([]byte{'s'}, k...) }

// industryStateKey is the tx-lane state key of industry i's record
// ("t/ind/" + address).
func industryStateKey(c *audittest.Chain, i int) []byte {
	a := c.Industry(i).Public().Address()
	return append([]byte("t/ind/"), a[:]...)
}

// target is a stored record to damage and where Verify must say it is.
type target struct {
	name     string
	key      []byte
	lane     chain.Lane
	height   uint64
	stateKey string
}

func (tg target) check(t *testing.T, err error, what string) {
	t.Helper()
	var f *audit.Failure
	if !errors.As(err, &f) || !errors.Is(err, audit.ErrAudit) {
		t.Fatalf("%s: Verify = %v, want an audit failure", what, err)
	}
	if f.Lane != tg.lane || f.Height != tg.height || f.StateKey != tg.stateKey {
		t.Fatalf("%s: Verify blames %s/%d state key %q, want %s/%d state key %q: %v", what, f.Lane, f.Height, f.StateKey, tg.lane, tg.height, tg.stateKey, err)
	}
}

func targets(c *audittest.Chain) []target {
	ind := industryStateKey(c, 2)
	return []target{
		{name: "reading", key: entryKey(chain.LaneData, 4, 1), lane: chain.LaneData, height: 4},
		{name: "transaction", key: entryKey(chain.LaneTx, 1, 0), lane: chain.LaneTx, height: 1},
		{name: "data header", key: headerKey(chain.LaneData, 3), lane: chain.LaneData, height: 3},
		{name: "tx header", key: headerKey(chain.LaneTx, 2), lane: chain.LaneTx, height: 2},
		{name: "data block record", key: headerKey(chain.LaneData, 5), lane: chain.LaneData, height: 5},
		{name: "tx block record", key: headerKey(chain.LaneTx, 1), lane: chain.LaneTx, height: 1},
		{name: "state entry", key: stateKey(ind), stateKey: "t/ind/" + fmt.Sprintf("%x", ind[len("t/ind/"):])},
	}
}

func set(t *testing.T, kv store.KV, key, value []byte) {
	t.Helper()
	b := kv.NewBatch()
	b.Set(key, value)
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
}

// TestEveryByteFlipIsFound flips, one at a time, every byte of a stored
// reading, transaction, header of each lane, certificate of each lane and
// state entry, and wants Verify to blame exactly that block or key. One
// validator keeps it quick; TestFlipInBadger has four.
func TestEveryByteFlipIsFound(t *testing.T) {
	c, kv, st := memScenario(t, audittest.Options{Validators: 1, Industries: 2}, 9, 3)
	if _, err := audit.Verify(st, c.Genesis, audit.VerifyOptions{}); err != nil {
		t.Fatalf("the undamaged chain: %v", err)
	}
	runs := 0
	start := time.Now()
	for _, tg := range targets(c) {
		orig, err := kv.Get(tg.key)
		if err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
		for pos := range orig {
			for _, mask := range []byte{0x01, 0x80} {
				if mask == 0x80 && pos%4 != 0 {
					continue // the low bit everywhere, the high bit at every fourth byte
				}
				bad := bytes.Clone(orig)
				bad[pos] ^= mask
				set(t, kv, tg.key, bad)
				st2, err := store.Open(kv)
				if err != nil {
					t.Fatalf("%s byte %d: reopening: %v", tg.name, pos, err)
				}
				_, err = audit.Verify(st2, c.Genesis, audit.VerifyOptions{})
				tg.check(t, err, fmt.Sprintf("%s byte %d ^%#x", tg.name, pos, mask))
				runs++
			}
		}
		set(t, kv, tg.key, orig)
	}
	t.Logf("%d flips found and named in %s", runs, time.Since(start).Round(time.Millisecond))
}

// TestFlipInBadger damages one byte of each kind of record directly in
// badger, with the node's store closed, as an attacker with the disk
// would, and audits the directory read-only.
func TestFlipInBadger(t *testing.T) {
	dir := t.TempDir()
	kv, st := openBadger(t, dir, false)
	c, err := audittest.New(st, audittest.Genesis(audittest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Scenario(9, 3); err != nil {
		t.Fatal(err)
	}
	g := c.Genesis
	tgs := targets(c)
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tg := range tgs {
		t.Run(strings.ReplaceAll(tg.name, " ", "_"), func(t *testing.T) {
			kv, _ := openBadger(t, dir, false)
			orig, err := kv.Get(tg.key)
			if err != nil {
				t.Fatal(err)
			}
			bad := bytes.Clone(orig)
			bad[len(bad)/2] ^= 0x10
			set(t, kv, tg.key, bad)
			if err := kv.Close(); err != nil {
				t.Fatal(err)
			}

			ro, st := openBadger(t, dir, true)
			_, verr := audit.Verify(st, g, audit.VerifyOptions{})
			if err := ro.Close(); err != nil {
				t.Fatal(err)
			}
			tg.check(t, verr, tg.name)
			t.Logf("%s: %v", tg.name, verr)

			kv, _ = openBadger(t, dir, false)
			set(t, kv, tg.key, orig)
			if err := kv.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
	ro, st := openBadger(t, dir, true)
	defer ro.Close()
	if _, err := audit.Verify(st, g, audit.VerifyOptions{}); err != nil {
		t.Fatalf("restored store: %v", err)
	}
}

// TestStateEntriesAddedOrRemoved wants Verify to name a state entry the
// store has and re-execution does not, and one the store lost.
func TestStateEntriesAddedOrRemoved(t *testing.T) {
	c, kv, st := memScenario(t, audittest.Options{Validators: 1}, 4, 2)
	extra := stateKey([]byte("t/acct/\x00\x01"))
	set(t, kv, extra, []byte{0xa0})
	_, err := audit.Verify(st, c.Genesis, audit.VerifyOptions{})
	tg := target{stateKey: "t/acct/0001"}
	tg.check(t, err, "extra entry")
	if !strings.Contains(err.Error(), "no such entry") {
		t.Errorf("extra entry: %v", err)
	}
	b := kv.NewBatch()
	b.Delete(extra)
	ind := industryStateKey(c, 1)
	b.Delete(stateKey(ind))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	_, err = audit.Verify(st, c.Genesis, audit.VerifyOptions{})
	tg = target{stateKey: fmt.Sprintf("t/ind/%x", ind[len("t/ind/"):])}
	tg.check(t, err, "missing entry")
	if !strings.Contains(err.Error(), "missing from the store") {
		t.Errorf("missing entry: %v", err)
	}
}

// TestIndexDamageIsFound damages the store's indexes, which the API and
// proofs look entries up by, and wants Verify to name the index check and
// the block whose entry lost or changed its index entry (or, for an entry
// pointing at nothing, the count).
func TestIndexDamageIsFound(t *testing.T) {
	c, kv, st := memScenario(t, audittest.Options{Validators: 1, Industries: 2}, 6, 3)
	data4, err := st.Block(chain.LaneData, 4)
	if err != nil {
		t.Fatal(err)
	}
	tx1, err := st.Block(chain.LaneTx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(data4.Readings) < 2 || len(tx1.Txs) == 0 {
		t.Fatalf("scenario too small: %d readings at data/4, %d txs at tx/1", len(data4.Readings), len(tx1.Txs))
	}
	r := data4.Readings[1]
	seqKey := binary.BigEndian.AppendUint64(append([]byte{'n'}, r.Device[:]...), r.Seq)
	txHash := tx1.Txs[0].Hash()
	blockHash := data4.Header.Hash()
	loc := func(height uint64, index uint32) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, height), index)
	}
	for _, tc := range []struct {
		name   string
		key    []byte
		value  []byte // nil: delete the key
		lane   chain.Lane
		height uint64
		msg    string
	}{
		{"reading seq entry deleted", seqKey, nil, chain.LaneData, 4, "is missing"},
		{"reading seq entry points elsewhere", seqKey, append(binary.BigEndian.AppendUint64(nil, uint64(r.Time)^(1<<63)), loc(4, 0)...), chain.LaneData, 4, "names data/4[0]"},
		{"tx hash entry deleted", append([]byte{'x'}, txHash[:]...), nil, chain.LaneTx, 1, "is missing"},
		{"block hash entry deleted", blockHashKey(blockHash, chain.LaneData, 4), nil, chain.LaneData, 4, "is missing"},
		{"a seq entry for no reading", binary.BigEndian.AppendUint64(append([]byte{'n'}, r.Device[:]...), 1<<40), loc(4, 1), 0, 0, "the reading seq index holds"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			orig, getErr := kv.Get(tc.key)
			b := kv.NewBatch()
			if tc.value == nil {
				b.Delete(tc.key)
			} else {
				b.Set(tc.key, tc.value)
			}
			if err := b.Write(); err != nil {
				t.Fatal(err)
			}
			_, err := audit.Verify(st, c.Genesis, audit.VerifyOptions{})
			var f *audit.Failure
			if !errors.As(err, &f) || f.Check != audit.CheckIndex || f.Lane != tc.lane || f.Height != tc.height || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Verify = %v; want the index check at %s/%d saying %q", err, tc.lane, tc.height, tc.msg)
			}
			if !errors.Is(err, store.ErrIndex) {
				t.Fatalf("%v does not wrap store.ErrIndex", err)
			}
			b = kv.NewBatch()
			if getErr != nil {
				b.Delete(tc.key)
			} else {
				b.Set(tc.key, orig)
			}
			if err := b.Write(); err != nil {
				t.Fatal(err)
			}
			if _, err := audit.Verify(st, c.Genesis, audit.VerifyOptions{}); err != nil {
				t.Fatalf("restored: %v", err)
			}
		})
	}
}
