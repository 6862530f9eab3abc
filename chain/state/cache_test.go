package state

import (
	"bytes"
	"errors"
	"fmt"
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
		for step := range rapid.IntRange(1, 8).Draw(t, "steps") {
			label := fmt.Sprintf("s%d", step)
			c.Apply(drawCacheChanges(t, label+"commit"))
			committed := lanesRoots(t, c)
			if want := lanesRoots(t, memCopy(t, c, nil)); committed != want {
				t.Fatalf("step %d: cache roots %x, a MemStore copy gives %x", step, committed, want)
			}
			pending := netChanges(drawCacheChanges(t, label+"pending"))
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
	if got := mergeKeys(keys, vals, net); fmt.Sprint(got) != "[b d]" {
		t.Fatalf("merged keys %v, want [b d]", got)
	}
	if !sort.StringsAreSorted(keys) || fmt.Sprint(keys) != "[a d]" {
		t.Fatalf("mergeKeys changed its input: %v", keys)
	}
}
