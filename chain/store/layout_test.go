package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// The digests of every key and value that TestStoredBytes writes, as the
// store wrote them before its writer was changed to allocate less (at
// commit c02d072). A change of the stored bytes needs a new schema
// version (keys.go) and a migration, never only a new digest here.
const (
	storedBytesDigest          = "946e4e16a7c6f8d35f37183ad0ea855460e402e2052d16b6c839d415f005798b"
	storedBytesNoGenesisDigest = "e26b48c454ce2dd4411109eda4c489e9560a52edf1389e8e65a8c821f26f17ab"
)

// TestStoredBytes commits blocks that take every path of the writer and
// compares what it stored, every key and value, with the digest of what
// it stored before: data blocks of one to three chunks, readings in order
// and late (a gap filled, a time behind the tip), with and without an
// image; tx blocks of several kinds; empty blocks; state changes and
// removals; CommitBlocks of blocks of both lanes anchored within the
// batch; after a reopen, anchors at the other lane's head, at a recent
// block, at an older one, at genesis, and anchors and previous hashes the
// store cannot derive (stored in the record).
func TestStoredBytes(t *testing.T) {
	kv := store.NewMemory()
	defer kv.Close()
	s := openStore(t, kv)
	c := newTestChain(t)
	if err := s.InitGenesis(c.genesis, []store.Change{set("g/a", "1"), set("g/b", "")}); err != nil {
		t.Fatal(err)
	}
	var devs []*chain.PrivateKey
	for i := range 5 {
		devs = append(devs, key(t, fmt.Sprintf("layout-device-%d", i)))
	}
	now := baseTime
	seqs := make([]uint64, len(devs))
	// in returns the next reading in order of device d, skipping skip
	// sequence numbers first.
	in := func(d int, skip uint64) *chain.Reading {
		seqs[d] += 1 + skip
		now += 100
		return reading(devs[d], seqs[d], now)
	}
	var rs []*chain.Reading
	for i := range 40 {
		var skip uint64
		if i == 7 {
			skip = 2 // device 2 leaves a gap
		}
		rs = append(rs, in(i%len(devs), skip))
	}
	img := chain.HashBytes([]byte("image"))
	rs[5].ImageHash = &img
	rs[5].Sign(testChainID, devs[0])
	c.commit(s, chain.LaneData, rs, nil, set("d/0", "a"), set("d/1", "b"))
	c.commit(s, chain.LaneTx, nil, []*chain.Tx{transfer(t, key(t, "payer"), 1), accept(t, key(t, "buyer"), 1), transfer(t, key(t, "payer"), 2)}, set("a/payer", "9"))
	late := []*chain.Reading{
		in(0, 0),
		reading(devs[2], seqs[2]-1, now-50_000), // fills device 2's gap
		in(1, 0),
		reading(devs[3], seqs[3]+5, now-90_000), // a later sequence number, an earlier time
		in(4, 0),
	}
	c.commit(s, chain.LaneData, late, nil, remove("g/a"), set("d/2", "c"))
	c.commit(s, chain.LaneData, nil, nil)
	c.commit(s, chain.LaneTx, nil, nil)

	// A batch of both lanes: tx/3 and tx/4 anchor at data/4, data/5 at
	// tx/4, all in the batch.
	var batch []store.BlockCommit
	for _, lane := range []chain.Lane{chain.LaneData, chain.LaneTx, chain.LaneTx, chain.LaneData} {
		var rs []*chain.Reading
		if lane == chain.LaneData {
			rs = []*chain.Reading{in(0, 0), in(1, 0), in(2, 0)}
		}
		b := c.next(lane, rs, nil)
		c.advance(b)
		batch = append(batch, store.BlockCommit{Block: b, Changes: []store.Change{set(fmt.Sprintf("h/%s/%d", lane, b.Header.Height), "x")}})
	}
	if err := s.CommitBlocks(batch); err != nil {
		t.Fatal(err)
	}

	// Reopened, the store holds no recent headers: an anchor below the
	// other lane's head is read from the KV.
	s = openStore(t, kv)
	anchored := func(anchor chain.Anchor) {
		t.Helper()
		b := c.next(chain.LaneData, []*chain.Reading{in(3, 0)}, nil)
		b.Header.Anchor = anchor
		b = c.certify(b)
		if err := s.Commit(b, nil); err != nil {
			t.Fatalf("data/%d anchored at tx/%d: %v", b.Header.Height, anchor.Height, err)
		}
		c.advance(b)
	}
	txHash := func(height uint64) chain.Hash {
		h, err := s.Header(chain.LaneTx, height)
		if err != nil {
			t.Fatal(err)
		}
		return h.Hash()
	}
	c.commit(s, chain.LaneData, []*chain.Reading{in(4, 0)}, nil)    // at the tx head
	anchored(chain.Anchor{Height: 3, Hash: txHash(3)})              // below it, read
	anchored(chain.Anchor{Height: 0, Hash: c.genesis})              // at genesis
	anchored(chain.Anchor{Height: 0, Hash: chain.HashBytes(nil)})   // genesis, wrongly
	anchored(chain.Anchor{Height: 100, Hash: chain.HashBytes(nil)}) // above the tx head
	anchored(chain.Anchor{Height: 2, Hash: chain.HashBytes(nil)})   // a wrong hash
	c.commit(s, chain.LaneTx, nil, nil)
	c.commit(s, chain.LaneTx, nil, nil)
	anchored(chain.Anchor{Height: 5, Hash: txHash(5)}) // a recent header
	checkDigest(t, kv, storedBytesDigest)

	// A store without a genesis record stores the first blocks' previous
	// and anchor hashes.
	kv = store.NewMemory()
	defer kv.Close()
	s = openStore(t, kv)
	c = newTestChain(t)
	c.commit(s, chain.LaneData, []*chain.Reading{reading(devs[0], 1, baseTime)}, nil)
	c.commit(s, chain.LaneTx, nil, nil)
	c.commit(s, chain.LaneData, nil, nil)
	checkDigest(t, kv, storedBytesNoGenesisDigest)
}

func checkDigest(t *testing.T, kv store.KV, want string) {
	t.Helper()
	sum := sha256.Sum256([]byte(dump(t, kv)))
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("the stored keys and values hash to %s, want %s", got, want)
	}
}
