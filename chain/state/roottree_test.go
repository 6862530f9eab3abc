package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/waterchain/waterchain/chain"
)

// entryLeaf is the leaf Root hashes for one entry.
func entryLeaf(key, value []byte) []byte {
	leaf := binary.AppendUvarint(nil, uint64(len(key)))
	leaf = append(leaf, key...)
	return append(leaf, value...)
}

// testLeaves makes n distinct entry leaves and their hashes.
func testLeaves(n int, salt string) (leaves [][]byte, hashes []chain.Hash) {
	for i := 0; i < n; i++ {
		k, v := []byte(fmt.Sprintf("k%06d", i)), []byte(salt+fmt.Sprint(i))
		leaves = append(leaves, entryLeaf(k, v))
		hashes = append(hashes, EntryLeafHash(k, v))
	}
	return leaves, hashes
}

func TestEntryLeafHashIsRFC6962LeafHash(t *testing.T) {
	for _, c := range []struct{ key, value []byte }{
		{nil, nil},
		{[]byte("t/meta"), []byte{0xa1, 0x01}},
		{bytes.Repeat([]byte("k"), 200), bytes.Repeat([]byte("v"), 300)}, // past the stack buffer
		{bytes.Repeat([]byte("k"), 128), nil},                            // a two-byte uvarint
	} {
		if got, want := EntryLeafHash(c.key, c.value), chain.LeafHash(entryLeaf(c.key, c.value)); got != want {
			t.Errorf("key %d bytes, value %d bytes: %s, chain.LeafHash gives %s", len(c.key), len(c.value), got, want)
		}
	}
}

func TestRootTreeMatchesMerkleRoot(t *testing.T) {
	sizes := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33, 100, 255, 256, 257, 1000}
	for i := 0; i < 20; i++ {
		sizes = append(sizes, rand.IntN(3000))
	}
	for _, n := range sizes {
		leaves, hashes := testLeaves(n, "v")
		tr := NewRootTree(hashes)
		if got, want := tr.Root(), chain.MerkleRoot(leaves); got != want {
			t.Fatalf("%d leaves: root %s, chain.MerkleRoot gives %s", n, got, want)
		}
		if tr.Len() != n {
			t.Fatalf("%d leaves: Len %d", n, tr.Len())
		}
	}
}

// applyEdits is the leaf list after edits, done the obvious way.
func applyEdits(hashes []chain.Hash, edits []LeafEdit) []chain.Hash {
	var out []chain.Hash
	k := 0
	for i := 0; i <= len(hashes); i++ {
		keep := i < len(hashes)
		for ; k < len(edits) && edits[k].Pos == i; k++ {
			switch edits[k].Op {
			case EditInsert:
				out = append(out, edits[k].Hash)
			case EditUpdate:
				out = append(out, edits[k].Hash)
				keep = false
			case EditDelete:
				keep = false
			}
		}
		if keep {
			out = append(out, hashes[i])
		}
	}
	return out
}

// genEdits draws a valid edit list for a tree of n leaves.
func genEdits(t *rapid.T, n int, label string) []LeafEdit {
	var edits []LeafEdit
	structural := rapid.Bool().Draw(t, label+"structural")
	for pos := 0; pos <= n; pos++ {
		if structural && rapid.IntRange(0, 9).Draw(t, label+"ins") == 0 {
			for range rapid.IntRange(1, 3).Draw(t, label+"nins") {
				edits = append(edits, LeafEdit{Pos: pos, Op: EditInsert, Hash: randHash(t, label)})
			}
		}
		if pos == n {
			break
		}
		switch rapid.IntRange(0, 9).Draw(t, label+"op") {
		case 0, 1:
			edits = append(edits, LeafEdit{Pos: pos, Op: EditUpdate, Hash: randHash(t, label)})
		case 2:
			if structural {
				edits = append(edits, LeafEdit{Pos: pos, Op: EditDelete})
			}
		}
	}
	return edits
}

func randHash(t *rapid.T, label string) chain.Hash {
	return chain.Hash(EntryLeafHash([]byte(label), binary.AppendUvarint(nil, rapid.Uint64().Draw(t, label+"h"))))
}

// sameLevels reports whether two trees hold the same nodes, level by level.
func sameLevels(a, b *RootTree) bool {
	if len(a.levels) != len(b.levels) {
		return false
	}
	for l := range a.levels {
		if len(a.levels[l]) != len(b.levels[l]) {
			return false
		}
		for i := range a.levels[l] {
			if a.levels[l][i] != b.levels[l][i] {
				return false
			}
		}
	}
	return true
}

// TestPropertyPatch: a patch's root is the root of the tree built afresh
// from the edited leaves, making it leaves the tree as it was, and applying
// it gives the same nodes as building afresh; repeatedly.
func TestPropertyPatch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 70).Draw(t, "n")
		_, hashes := testLeaves(n, rapid.StringN(0, 4, -1).Draw(t, "salt"))
		tr := NewRootTree(hashes)
		for step := range rapid.IntRange(1, 5).Draw(t, "steps") {
			label := fmt.Sprintf("s%d", step)
			edits := genEdits(t, len(hashes), label)
			before := tr.Root()
			patch, err := tr.Patch(edits)
			if err != nil {
				t.Fatalf("patch: %v", err)
			}
			if tr.Root() != before {
				t.Fatalf("making a patch changed the tree's root")
			}
			hashes = applyEdits(hashes, edits)
			fresh := NewRootTree(hashes)
			if patch.Root() != fresh.Root() || patch.Len() != len(hashes) {
				t.Fatalf("patch root %s of %d leaves, built afresh %s of %d", patch.Root(), patch.Len(), fresh.Root(), len(hashes))
			}
			if err := tr.Apply(patch); err != nil {
				t.Fatalf("apply: %v", err)
			}
			if !sameLevels(tr, fresh) {
				t.Fatalf("applied tree's nodes differ from the tree built afresh")
			}
		}
	})
}

// TestPropertyPatchSizesArenas: Patch sizes its arenas from the edits
// exactly enough that it allocates the same four times (the patch, its
// levels, their overrides and tails) whatever the edits; an arena too
// small would be grown by append (still correct, but the allocations
// BenchmarkRootTreePatch counts would be back).
func TestPropertyPatchSizesArenas(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 300).Draw(t, "n")
		_, hashes := testLeaves(n, "a")
		tr := NewRootTree(hashes)
		edits := genEdits(t, n, "e")
		allocs := testing.AllocsPerRun(1, func() {
			if _, err := tr.Patch(edits); err != nil {
				t.Fatalf("patch: %v", err)
			}
		})
		if allocs > 4 {
			t.Fatalf("Patch of %d edits of %d leaves made %.0f allocations, want at most 4", len(edits), n, allocs)
		}
	})
}

// TestRootTreeCheckEdits starts from a valid edit list and breaks one
// thing at a time.
func TestRootTreeCheckEdits(t *testing.T) {
	var h chain.Hash
	valid := func() []LeafEdit {
		return []LeafEdit{
			{Pos: 0, Op: EditInsert, Hash: h},
			{Pos: 0, Op: EditUpdate, Hash: h},
			{Pos: 2, Op: EditInsert, Hash: h},
			{Pos: 2, Op: EditInsert, Hash: h},
			{Pos: 2, Op: EditDelete},
			{Pos: 4, Op: EditInsert, Hash: h},
		}
	}
	tr := NewRootTree(make([]chain.Hash, 4))
	if _, err := tr.Patch(valid()); err != nil {
		t.Fatalf("valid edits: %v", err)
	}
	for _, c := range []struct {
		name   string
		break_ func(e []LeafEdit) []LeafEdit
	}{
		{"unknown op", func(e []LeafEdit) []LeafEdit { e[1].Op = 0; return e }},
		{"negative position", func(e []LeafEdit) []LeafEdit { e[0].Pos = -1; return e }},
		{"update past the end", func(e []LeafEdit) []LeafEdit { e[5].Op = EditUpdate; return e }},
		{"insert beyond the end", func(e []LeafEdit) []LeafEdit { e[5].Pos = 5; return e }},
		{"out of order", func(e []LeafEdit) []LeafEdit { e[2].Pos = 1; e[3].Pos = 1; e[4].Pos = 1; e[0].Pos = 3; return e }},
		{"two updates of a leaf", func(e []LeafEdit) []LeafEdit {
			return append(e[:2:2], append([]LeafEdit{{Pos: 0, Op: EditUpdate}}, e[2:]...)...)
		}},
		{"insert after a delete", func(e []LeafEdit) []LeafEdit { e[3], e[4] = e[4], e[3]; return e }},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := tr.Patch(c.break_(valid()))
			if !errors.Is(err, ErrBadLeafEdit) {
				t.Fatalf("got %v, want ErrBadLeafEdit", err)
			}
		})
	}
}

func TestRootTreeApplyStalePatch(t *testing.T) {
	tr := NewRootTree(make([]chain.Hash, 3))
	grow, err := tr.Patch([]LeafEdit{{Pos: 3, Op: EditInsert}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := tr.Patch([]LeafEdit{{Pos: 0, Op: EditDelete}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Apply(grow); err != nil {
		t.Fatal(err)
	}
	if err := tr.Apply(other); !errors.Is(err, ErrStalePatch) {
		t.Fatalf("applying a patch of the 3-leaf tree to the 4-leaf tree: %v, want ErrStalePatch", err)
	}
}

// FuzzRootTreePatch: any edit list either is refused with ErrBadLeafEdit
// or gives the root of the edited leaves; it never panics.
func FuzzRootTreePatch(f *testing.F) {
	f.Add(uint8(0), []byte{})
	f.Add(uint8(5), []byte{0, 1, 1, 2, 2, 3, 4, 1, 5, 2})
	f.Add(uint8(9), []byte{9, 2, 9, 2, 0, 3, 0, 3, 3, 1})
	f.Fuzz(func(t *testing.T, n uint8, raw []byte) {
		_, hashes := testLeaves(int(n)%64, "f")
		var edits []LeafEdit
		for i := 0; i+1 < len(raw); i += 2 {
			edits = append(edits, LeafEdit{Pos: int(raw[i]), Op: EditOp(raw[i+1] % 5), Hash: chain.LeafHash([]byte{raw[i]})})
		}
		tr := NewRootTree(hashes)
		patch, err := tr.Patch(edits)
		if err != nil {
			if !errors.Is(err, ErrBadLeafEdit) {
				t.Fatalf("error %v does not wrap ErrBadLeafEdit", err)
			}
			return
		}
		if want := NewRootTree(applyEdits(hashes, edits)).Root(); patch.Root() != want {
			t.Fatalf("patch root %s, want %s", patch.Root(), want)
		}
	})
}

// treeCache is a committed state like the node's: sorted keys and a map,
// with the trees of TxPrefix and DataPrefix kept up to date as change sets
// commit. It implements RootReader the way the node's cache does.
type treeCache struct {
	mu    sync.RWMutex // guards everything below
	keys  []string
	vals  map[string][]byte
	trees map[string]*RootTree
}

var _ RootReader = (*treeCache)(nil)

func newTreeCache() *treeCache {
	return &treeCache{vals: map[string][]byte{}, trees: map[string]*RootTree{TxPrefix: NewRootTree(nil), DataPrefix: NewRootTree(nil)}}
}

func (c *treeCache) Get(key []byte) ([]byte, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.vals[string(key)]
	if !ok {
		return nil, ErrNotFound
	}
	return v, nil
}

func (c *treeCache) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	c.mu.RLock()
	var keys []string
	for _, k := range c.keys {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = c.vals[k]
	}
	c.mu.RUnlock()
	for i, k := range keys {
		if err := fn([]byte(k), vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func (c *treeCache) patch(prefix string, changes []Change) (*TreePatch, error) {
	from := sort.SearchStrings(c.keys, prefix)
	edits, err := LeafEdits(changes, func(key []byte) (int, bool) {
		i := sort.SearchStrings(c.keys, string(key))
		return i - from, i < len(c.keys) && c.keys[i] == string(key)
	})
	if err != nil {
		return nil, err
	}
	return c.trees[prefix].Patch(edits)
}

func (c *treeCache) PendingRoot(prefix []byte, changes []Change) (chain.Hash, bool, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.trees[string(prefix)] == nil {
		return chain.Hash{}, false, nil
	}
	p, err := c.patch(string(prefix), changes)
	if err != nil {
		return chain.Hash{}, false, err
	}
	return p.Root(), true, nil
}

// commit applies a change set (key order, each key once).
func (c *treeCache) commit(t *rapid.T, changes []Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for prefix := range c.trees {
		var mine []Change
		for _, ch := range changes {
			if hasPrefix(ch.Key, prefix) {
				mine = append(mine, ch)
			}
		}
		p, err := c.patch(prefix, mine)
		if err != nil {
			t.Fatalf("patch of %q: %v", prefix, err)
		}
		if err := c.trees[prefix].Apply(p); err != nil {
			t.Fatalf("apply to %q: %v", prefix, err)
		}
	}
	for _, ch := range changes {
		if ch.Delete {
			delete(c.vals, string(ch.Key))
		} else {
			c.vals[string(ch.Key)] = ch.Value
		}
	}
	c.keys = c.keys[:0]
	for k := range c.vals {
		c.keys = append(c.keys, k)
	}
	sort.Strings(c.keys)
}

// drawKey draws keys that often repeat, under both lane prefixes, other
// prefixes and at their edges.
func drawKey(t *rapid.T) []byte {
	prefix := rapid.SampledFrom([]string{TxPrefix, DataPrefix, "a/", "t", "d", "u/", "t/acct/", "d/dev/"}).Draw(t, "prefix")
	return []byte(prefix + rapid.StringMatching(`[a-c]{0,2}`).Draw(t, "suffix"))
}

// writeRandomly makes random writes to o: updates, inserts and deletes.
func writeRandomly(t *rapid.T, o *overlay) {
	for range rapid.IntRange(0, 12).Draw(t, "writes") {
		k := drawKey(t)
		if rapid.IntRange(0, 3).Draw(t, "del") == 0 {
			o.del(k)
		} else {
			o.set(k, []byte(rapid.StringN(0, 3, -1).Draw(t, "value")))
		}
	}
}

// TestPropertyIncrementalRoot: over a cache committing random change sets,
// Root of the cache and of random (nested, merged) overlays on it equals
// the walked root for both lanes, and computing an overlay's root never
// changes the committed roots.
func TestPropertyIncrementalRoot(t *testing.T) {
	prefixes := [][]byte{[]byte(TxPrefix), []byte(DataPrefix)}
	rapid.Check(t, func(t *rapid.T) {
		c := newTreeCache()
		check := func(where string, r Reader) {
			for _, p := range prefixes {
				got, err := Root(r, p)
				if err != nil {
					t.Fatalf("%s: root of %q: %v", where, p, err)
				}
				want, err := walkRoot(r, p)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("%s: root of %q %s, walking gives %s", where, p, got, want)
				}
			}
		}
		for step := range rapid.IntRange(1, 8).Draw(t, "steps") {
			check(fmt.Sprintf("committed %d", step), c)
			committed := [2]chain.Hash{c.trees[TxPrefix].Root(), c.trees[DataPrefix].Root()}

			block := newOverlay(c)
			writeRandomly(t, block)
			check("block overlay", block)
			if rapid.Bool().Draw(t, "nested") {
				tx := newOverlay(block)
				writeRandomly(t, tx)
				check("nested overlay", tx)
				if rapid.Bool().Draw(t, "merge") {
					block.merge(tx)
					check("merged overlay", block)
				}
			}
			if got := [2]chain.Hash{c.trees[TxPrefix].Root(), c.trees[DataPrefix].Root()}; got != committed {
				t.Fatalf("an overlay's root changed the committed roots")
			}
			if rapid.Bool().Draw(t, "commit") {
				c.commit(t, block.changes())
			}
		}
		check("end", c)
	})
}

// TestRootFallsBackWithoutTrees: a Reader without trees, and a RootReader
// asked about a namespace it keeps no tree for, get the walked root.
func TestRootFallsBackWithoutTrees(t *testing.T) {
	m := NewMemStore()
	m.Apply([]Change{{Key: []byte("t/a"), Value: []byte("1")}, {Key: []byte("t/b"), Value: []byte("2")}, {Key: []byte("x/c"), Value: []byte("3")}})
	leaves := [][]byte{entryLeaf([]byte("t/a"), []byte("1")), entryLeaf([]byte("t/b"), []byte("2"))}
	if got, err := TxRoot(m); err != nil || got != chain.MerkleRoot(leaves) {
		t.Fatalf("MemStore tx root %s %v", got, err)
	}
	c := newTreeCache()
	c.mu.Lock()
	c.keys, c.vals = []string{"x/c"}, map[string][]byte{"x/c": []byte("3")}
	c.mu.Unlock()
	o := newOverlay(c)
	o.set([]byte("x/d"), []byte("4"))
	got, err := Root(o, []byte("x/"))
	want := chain.MerkleRoot([][]byte{entryLeaf([]byte("x/c"), []byte("3")), entryLeaf([]byte("x/d"), []byte("4"))})
	if err != nil || got != want {
		t.Fatalf("root of x/ %s %v, want %s", got, err, want)
	}
}

// benchCache is a treeCache of n tx-lane entries (account-sized values)
// and a block overlay on it updating 100 of them and inserting inserts
// new keys.
func benchCache(b *testing.B, n, inserts int) (*treeCache, *overlay) {
	c := newTreeCache()
	rng := rand.New(rand.NewPCG(1, 2))
	value := func() []byte { return binary.BigEndian.AppendUint64(bytes.Repeat([]byte{0xa3}, 40), rng.Uint64()) }
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("%s%08d", pfxAccount, 2*i)
		c.keys = append(c.keys, k)
		c.vals[k] = value()
	}
	leaves := make([]chain.Hash, n)
	for i, k := range c.keys {
		leaves[i] = EntryLeafHash([]byte(k), c.vals[k])
	}
	c.trees[TxPrefix] = NewRootTree(leaves)
	o := newOverlay(c)
	for range 100 {
		o.set([]byte(c.keys[rng.IntN(n)]), value())
	}
	for i := range inserts { // in the middle of the keys and on
		o.set([]byte(fmt.Sprintf("%s%08d", pfxAccount, 2*(n/2+i)+1)), value())
	}
	return c, o
}

var benchSizes = []int{10_000, 100_000}

// BenchmarkRootIncremental is a block's tx root over a committed state of
// n entries when the block updates 100 of them: the cached tree patched
// copy-on-write.
func BenchmarkRootIncremental(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			_, o := benchCache(b, n, 0)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Root(o, []byte(TxPrefix)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRootFull is the same root computed the way Root did before the
// trees: walking and hashing the whole namespace.
func BenchmarkRootFull(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			_, o := benchCache(b, n, 0)
			want, err := Root(o, []byte(TxPrefix))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				got, err := walkRoot(o, []byte(TxPrefix))
				if err != nil || got != want {
					b.Fatalf("walked root %s %v, incremental %s", got, err, want)
				}
			}
		})
	}
}

// BenchmarkRootIncrementalInsert is BenchmarkRootIncremental with one new
// key as well, in the middle: the half of the leaves after it move, so the
// nodes above them are hashed again.
func BenchmarkRootIncrementalInsert(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			_, o := benchCache(b, n, 1)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Root(o, []byte(TxPrefix)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRootCommit is writing the block's 100 updates into the
// committed tree (Patch and Apply), as the node does when the block
// commits.
func BenchmarkRootCommit(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			c, o := benchCache(b, n, 0)
			changes := o.changes()
			b.ReportAllocs()
			for b.Loop() {
				p, err := c.patch(TxPrefix, changes)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.trees[TxPrefix].Apply(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
