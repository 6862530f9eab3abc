package state

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/waterchain/waterchain/chain"
)

func TestCacheGetIterateApply(t *testing.T) {
	c := NewCache()
	c.Apply([]Change{{Key: []byte("d/b"), Value: []byte("2")}, {Key: []byte("d/a"), Value: []byte("1")}, {Key: []byte("t/x"), Value: []byte("9")}})
	c.Apply([]Change{{Key: []byte("d/c"), Value: []byte("3")}, {Key: []byte("d/b"), Delete: true}, {Key: []byte("d/a"), Value: []byte("1'")}})
	var got []string
	if err := c.Iterate([]byte("d/"), func(k, v []byte) error {
		got = append(got, fmt.Sprintf("%s=%s", k, v))
		_, err := c.Get(k) // nested reads are allowed
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[d/a=1' d/c=3]" {
		t.Fatalf("iterate d/: %v", got)
	}
	if _, err := c.Get([]byte("d/b")); !isNotFound(err) {
		t.Fatalf("deleted key: %v", err)
	}
	if v, err := c.Get([]byte("t/x")); err != nil || string(v) != "9" {
		t.Fatalf("t/x: %q %v", v, err)
	}
}

// drawChanges draws a change list over keys that often repeat, under both
// lanes and another prefix; keys may come more than once, in any order.
func drawCacheChanges(t *rapid.T, label string) []Change {
	var out []Change
	for range rapid.IntRange(0, 20).Draw(t, label+"n") {
		prefix := rapid.SampledFrom([]string{TxPrefix, DataPrefix, "x/", "t", "d/dev/"}).Draw(t, label+"prefix")
		k := []byte(prefix + rapid.StringMatching(`[a-d]{0,2}`).Draw(t, label+"suffix"))
		if rapid.IntRange(0, 3).Draw(t, label+"del") == 0 {
			out = append(out, Change{Key: k, Delete: true})
		} else {
			out = append(out, Change{Key: k, Value: []byte(rapid.StringN(0, 4, -1).Draw(t, label+"value"))})
		}
	}
	return out
}

// memCopy is a MemStore holding c's entries with changes applied after.
func memCopy(t *rapid.T, c *Cache, changes []Change) *MemStore {
	m := NewMemStore()
	var all []Change
	if err := c.Iterate(nil, func(k, v []byte) error {
		all = append(all, Change{Key: bytes.Clone(k), Value: bytes.Clone(v)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m.Apply(all)
	m.Apply(changes)
	return m
}

func lanesRoots(t *rapid.T, r Reader) [2]chain.Hash {
	tx, err := TxRoot(r)
	if err != nil {
		t.Fatal(err)
	}
	data, err := DataRoot(r)
	if err != nil {
		t.Fatal(err)
	}
	return [2]chain.Hash{tx, data}
}

// TestPropertyCacheRoots: after every apply the cache's lane roots
// equal those of a fresh MemStore copy (which walks the namespace), and
// the root of pending changes over the cache equals the root of a copy
// with them applied, leaving the cache's roots as they were.
func TestPropertyCacheRoots(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := NewCache()
		var pending []Change // the last step's, whose patches the cache remembers
		for step := range rapid.IntRange(1, 8).Draw(t, "steps") {
			label := fmt.Sprintf("s%d", step)
			// As a node does: commit the changes whose roots were just
			// worked out (the remembered patches are used), at times
			// with a value changed in place since (they must not be).
			commit := drawCacheChanges(t, label+"commit")
			if pending != nil && rapid.Bool().Draw(t, label+"same") {
				commit = pending
				if i := rapid.IntRange(-1, len(commit)-1).Draw(t, label+"changed"); i >= 0 && !commit[i].Delete {
					commit[i].Value = append(commit[i].Value, '!')
				}
			}
			c.Apply(commit)
			committed := lanesRoots(t, c)
			if want := lanesRoots(t, memCopy(t, c, nil)); committed != want {
				t.Fatalf("step %d: cache roots %x, a MemStore copy gives %x", step, committed, want)
			}
			pending = netChanges(drawCacheChanges(t, label+"pending"))
			after := memCopy(t, c, pending)
			for i, p := range laneNamespaces {
				got, ok, err := c.PendingRoot([]byte(p), underPrefix(pending, p))
				if err != nil || !ok {
					t.Fatalf("step %d: pending root of %q: %v %v", step, p, ok, err)
				}
				if want := lanesRoots(t, after)[i]; got != want {
					t.Fatalf("step %d: pending root of %q %s, a MemStore copy with the changes gives %s", step, p, got, want)
				}
			}
			if got := lanesRoots(t, c); got != committed {
				t.Fatalf("step %d: a pending root changed the committed roots", step)
			}
		}
	})
}

// TestCacheRemembersPatches: the patch a block's root was worked out with
// is the one its commit applies, and one made from a tree since changed is
// not used.
func TestCacheRemembersPatches(t *testing.T) {
	c := NewCache()
	var base []Change
	for i := range 100 {
		base = append(base, Change{Key: fmt.Appendf(nil, "d/dev/%03d", 2*i), Value: []byte("v")})
	}
	c.Apply(base)
	block := []Change{ // an insert near the front: the patch rehashes most of the tree
		{Key: []byte("d/dev/001"), Value: []byte("new")},
		{Key: []byte("d/dev/100"), Value: []byte("updated")},
	}
	const data = 1 // laneNamespaces[1] is DataPrefix
	patchOf := func(changes []Change) *TreePatch {
		c.mu.RLock()
		defer c.mu.RUnlock()
		p, err := c.patch(data, changes)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, _, err := c.PendingRoot([]byte(DataPrefix), block); err != nil {
		t.Fatal(err)
	}
	first := patchOf(block)
	if again := patchOf(block); again != first {
		t.Fatal("the same changes of the same tree made a second patch")
	}
	changed := slices.Clone(block)
	changed[1].Value = []byte("other")
	if other := patchOf(changed); other == first {
		t.Fatal("changes with another value were given the remembered patch")
	}
	c.Apply([]Change{{Key: []byte("d/dev/150"), Value: []byte("moved on")}})
	if stale := patchOf(block); stale == first {
		t.Fatal("a patch made from the tree before a commit was used after it")
	}
}

func TestCachePendingRootOtherPrefix(t *testing.T) {
	c := NewCache()
	c.Apply([]Change{{Key: []byte("x/a"), Value: []byte("1")}})
	if _, ok, err := c.PendingRoot([]byte("x/"), nil); ok || err != nil {
		t.Fatalf("a namespace without a tree: ok %v, err %v; want false, nil", ok, err)
	}
	if _, _, err := c.PendingRoot([]byte(TxPrefix), []Change{{Key: []byte("t/b"), Value: []byte("2")}, {Key: []byte("t/a"), Value: []byte("1")}}); !errors.Is(err, ErrBadLeafEdit) {
		t.Fatalf("changes out of key order: %v, want ErrBadLeafEdit", err)
	}
}

// TestCacheConcurrentRoots runs readers (roots, pending roots,
// iteration) while the cache applies blocks; run it with -race.
func TestCacheConcurrentRoots(t *testing.T) {
	c := NewCache()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pending := []Change{{Key: []byte("d/dev/00"), Value: []byte("p")}, {Key: []byte("d/new"), Value: []byte("n")}}
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := DataRoot(c); err != nil {
					t.Error(err)
					return
				}
				if _, _, err := c.PendingRoot([]byte(DataPrefix), pending); err != nil {
					t.Error(err)
					return
				}
				if err := c.Iterate([]byte(TxPrefix), func(k, v []byte) error { return nil }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		var ch []Change
		for j := 0; j < 20; j++ {
			ch = append(ch, Change{Key: []byte(fmt.Sprintf("d/dev/%02d", (i+j)%40)), Value: []byte(fmt.Sprint(i))})
		}
		ch = append(ch, Change{Key: []byte(fmt.Sprintf("t/settle/%04d", i)), Value: []byte("s")})
		if i%3 == 0 {
			ch = append(ch, Change{Key: []byte(fmt.Sprintf("t/settle/%04d", i/2)), Delete: true})
		}
		c.Apply(ch)
	}
	close(done)
	wg.Wait()
	m := NewMemStore()
	_ = c.Iterate(nil, func(k, v []byte) error {
		m.Apply([]Change{{Key: bytes.Clone(k), Value: bytes.Clone(v)}})
		return nil
	})
	for _, p := range laneNamespaces {
		got, _, _ := c.PendingRoot([]byte(p), nil)
		want, err := Root(m, []byte(p))
		if err != nil || got != want {
			t.Fatalf("root of %q after the blocks %s, a MemStore copy gives %s (%v)", p, got, want, err)
		}
	}
}

func TestNetChangesAndMergeKeys(t *testing.T) {
	net := netChanges([]Change{
		{Key: []byte("b"), Value: []byte("1")},
		{Key: []byte("a"), Delete: true},
		{Key: []byte("b"), Value: []byte("2")},
		{Key: []byte("c"), Value: []byte("3")},
		{Key: []byte("c"), Delete: true},
	})
	var got []string
	for _, ch := range net {
		got = append(got, fmt.Sprintf("%s=%s/%v", ch.Key, ch.Value, ch.Delete))
	}
	if fmt.Sprint(got) != "[a=/true b=2/false c=/true]" {
		t.Fatalf("net changes %v", got)
	}
	keys := []string{"a", "d"}
	vals := map[string][]byte{"a": nil, "d": nil}
	if got := mergeKeys(nil, keys, vals, net); fmt.Sprint(got) != "[b d]" {
		t.Fatalf("merged keys %v, want [b d]", got)
	}
	if !sort.StringsAreSorted(keys) || fmt.Sprint(keys) != "[a d]" {
		t.Fatalf("mergeKeys changed its input: %v", keys)
	}
	spare := make([]string, 1, 4)
	if got := mergeKeys(spare, keys, vals, net); fmt.Sprint(got) != "[b d]" || &got[0] != &spare[0] {
		t.Fatalf("merged keys over a spare slice with room: %v, in its memory %v", got, &got[0] == &spare[0])
	}
	if got := mergeKeys(spare, keys, vals, nil); &got[0] != &keys[0] {
		t.Fatal("no key came or went, and mergeKeys did not return its keys")
	}
}

// BenchmarkCacheBlockRoot is a block's root worked out (PendingRoot, as
// when the block is built or validated) and then committed (Apply), in a
// data namespace of 8,000 records. A block writes 25 records; with
// inserts=k, k of them are new keys (the first readings of meters that
// have not reported before), which move every leaf after them, and the
// block deletes the previous block's k new keys, so that the namespace
// keeps its size.
func BenchmarkCacheBlockRoot(b *testing.B) {
	const records, perBlock = 8000, 25
	for _, inserts := range []int{0, 1, perBlock} {
		b.Run(fmt.Sprintf("inserts=%d", inserts), func(b *testing.B) {
			c := NewCache()
			base := make([]Change, records)
			for i := range base {
				base[i] = Change{Key: fmt.Appendf(nil, "d/dev/%08d", 1000*i), Value: make([]byte, 120)}
			}
			c.Apply(base)
			newKey := func(block, j int) []byte {
				return fmt.Appendf(nil, "d/dev/%08d", 1000*((block*perBlock+j)%records)+1+block%999)
			}
			b.ResetTimer()
			for i := range b.N {
				block := make([]Change, 0, 2*perBlock)
				for j := range perBlock {
					if j < inserts {
						block = append(block, Change{Key: newKey(i, j), Value: fmt.Appendf(nil, "first %d", i)})
						if i > 0 {
							block = append(block, Change{Key: newKey(i-1, j), Delete: true})
						}
						continue
					}
					key := fmt.Appendf(nil, "d/dev/%08d", 1000*((i*perBlock+j)%records))
					block = append(block, Change{Key: key, Value: fmt.Appendf(nil, "reading %d", i)})
				}
				block = netChanges(block)
				if _, _, err := c.PendingRoot([]byte(DataPrefix), block); err != nil {
					b.Fatal(err)
				}
				c.Apply(block)
			}
		})
	}
}
