// Package kvtest is the test suite every store.KV implementation must pass:
// the contract written on store.KV and store.Batch, checked the same way for
// badger and for memory.
package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/waterchain/waterchain/chain/store"
)

// Run runs the suite. open returns a new, empty KV for each subtest; it
// should close it in a t.Cleanup (ignoring ErrClosed, since some subtests
// close it themselves).
func Run(t *testing.T, open func(t *testing.T) store.KV) {
	tests := []struct {
		name string
		fn   func(t *testing.T, kv store.KV)
	}{
		{"GetMissing", testGetMissing},
		{"SetGetOverwriteDelete", testSetGetOverwriteDelete},
		{"EmptyValue", testEmptyValue},
		{"BinaryKeys", testBinaryKeys},
		{"BatchInvisibleUntilWrite", testBatchInvisibleUntilWrite},
		{"BatchDiscard", testBatchDiscard},
		{"BatchSpent", testBatchSpent},
		{"BatchLastWriteWins", testBatchLastWriteWins},
		{"BatchEmptyKeyWritesNothing", testBatchEmptyKeyWritesNothing},
		{"IterateOrderAndPrefix", testIterateOrderAndPrefix},
		{"IterateBounds", testIterateBounds},
		{"IterateReverse", testIterateReverse},
		{"IterateFFPrefix", testIterateFFPrefix},
		{"IterateStopAndError", testIterateStopAndError},
		{"IterateSnapshot", testIterateSnapshot},
		{"ValuesNotAliased", testValuesNotAliased},
		{"ConcurrentBatchesAtomic", testConcurrentBatchesAtomic},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// write applies sets (key, value pairs; a nil value deletes) in one batch.
func write(t *testing.T, kv store.KV, pairs ...string) {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatalf("write: odd number of arguments")
	}
	b := kv.NewBatch()
	defer b.Discard()
	for i := 0; i < len(pairs); i += 2 {
		b.Set([]byte(pairs[i]), []byte(pairs[i+1]))
	}
	if err := b.Write(); err != nil {
		t.Fatalf("batch write: %v", err)
	}
}

func del(t *testing.T, kv store.KV, keys ...string) {
	t.Helper()
	b := kv.NewBatch()
	defer b.Discard()
	for _, k := range keys {
		b.Delete([]byte(k))
	}
	if err := b.Write(); err != nil {
		t.Fatalf("batch write: %v", err)
	}
}

func wantValue(t *testing.T, kv store.KV, key, want string) {
	t.Helper()
	got, err := kv.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v, want %q", key, err, want)
	}
	if string(got) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

func wantMissing(t *testing.T, kv store.KV, key string) {
	t.Helper()
	got, err := kv.Get([]byte(key))
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, got, err)
	}
}

// keys lists what Iterate visits.
func keys(t *testing.T, kv store.KV, prefix string, opts store.IterOptions) []string {
	t.Helper()
	var out []string
	err := kv.Iterate([]byte(prefix), opts, func(k, v []byte) error {
		if !bytes.HasPrefix(k, []byte(prefix)) {
			t.Errorf("Iterate(%q) visited %q outside the prefix", prefix, k)
		}
		out = append(out, string(k))
		return nil
	})
	if err != nil {
		t.Fatalf("Iterate(%q): %v", prefix, err)
	}
	return out
}

func wantKeys(t *testing.T, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != len(want) {
		t.Fatalf("keys %q, want %q", got, want)
	}
}

func testGetMissing(t *testing.T, kv store.KV) {
	wantMissing(t, kv, "nothing")
	write(t, kv, "a", "1")
	wantMissing(t, kv, "b")
	wantMissing(t, kv, "a\x00")
}

func testSetGetOverwriteDelete(t *testing.T, kv store.KV) {
	write(t, kv, "k", "v1", "other", "o")
	wantValue(t, kv, "k", "v1")
	write(t, kv, "k", "v2")
	wantValue(t, kv, "k", "v2")
	del(t, kv, "k", "never-there")
	wantMissing(t, kv, "k")
	wantValue(t, kv, "other", "o")
}

func testEmptyValue(t *testing.T, kv store.KV) {
	b := kv.NewBatch()
	b.Set([]byte("empty"), nil)
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	got, err := kv.Get([]byte("empty"))
	if err != nil || len(got) != 0 {
		t.Fatalf("Get(empty) = %q, %v; want an empty value", got, err)
	}
	wantKeys(t, keys(t, kv, "", store.IterOptions{}), "empty")
}

func testBinaryKeys(t *testing.T, kv store.KV) {
	k1 := []byte{0x00}
	k2 := []byte{0x00, 0x00}
	k3 := []byte{0xff, 0x00, 0xff}
	b := kv.NewBatch()
	b.Set(k3, []byte{3})
	b.Set(k1, []byte{1})
	b.Set(k2, []byte{2})
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	if err := kv.Iterate(nil, store.IterOptions{}, func(k, v []byte) error {
		got = append(got, append(bytes.Clone(k), v...))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{{0x00, 1}, {0x00, 0x00, 2}, {0xff, 0x00, 0xff, 3}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("iteration %v, want %v", got, want)
	}
}

func testBatchInvisibleUntilWrite(t *testing.T, kv store.KV) {
	b := kv.NewBatch()
	defer b.Discard()
	b.Set([]byte("a"), []byte("1"))
	b.Set([]byte("b"), []byte("2"))
	wantMissing(t, kv, "a")
	wantKeys(t, keys(t, kv, "", store.IterOptions{}))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	wantValue(t, kv, "a", "1")
	wantValue(t, kv, "b", "2")
}

func testBatchDiscard(t *testing.T, kv store.KV) {
	write(t, kv, "keep", "1")
	b := kv.NewBatch()
	b.Set([]byte("a"), []byte("1"))
	b.Delete([]byte("keep"))
	b.Discard()
	b.Discard() // twice is fine
	wantMissing(t, kv, "a")
	wantValue(t, kv, "keep", "1")
	if err := b.Write(); !errors.Is(err, store.ErrBatchDone) {
		t.Fatalf("Write after Discard: %v, want ErrBatchDone", err)
	}
	wantMissing(t, kv, "a")
}

func testBatchSpent(t *testing.T, kv store.KV) {
	b := kv.NewBatch()
	b.Set([]byte("a"), []byte("1"))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(); !errors.Is(err, store.ErrBatchDone) {
		t.Fatalf("second Write: %v, want ErrBatchDone", err)
	}
	b.Discard() // after Write is fine
	wantValue(t, kv, "a", "1")
}

func testBatchLastWriteWins(t *testing.T, kv store.KV) {
	write(t, kv, "gone", "x")
	b := kv.NewBatch()
	b.Set([]byte("k"), []byte("1"))
	b.Delete([]byte("k"))
	b.Set([]byte("k"), []byte("2"))
	b.Set([]byte("gone"), []byte("y"))
	b.Delete([]byte("gone"))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	wantValue(t, kv, "k", "2")
	wantMissing(t, kv, "gone")
}

func testBatchEmptyKeyWritesNothing(t *testing.T, kv store.KV) {
	for _, setEmpty := range []bool{true, false} {
		b := kv.NewBatch()
		b.Set([]byte("a"), []byte("1"))
		if setEmpty {
			b.Set(nil, []byte("x"))
		} else {
			b.Delete([]byte{})
		}
		b.Set([]byte("b"), []byte("2"))
		if err := b.Write(); !errors.Is(err, store.ErrEmptyKey) {
			t.Fatalf("Write with an empty key: %v, want ErrEmptyKey", err)
		}
		wantMissing(t, kv, "a")
		wantMissing(t, kv, "b")
	}
}

func testIterateOrderAndPrefix(t *testing.T, kv store.KV) {
	write(t, kv, "p/3", "c", "p/1", "a", "q/1", "x", "p/2", "b", "p", "root", "o/9", "y", "p/10", "d")
	wantKeys(t, keys(t, kv, "p/", store.IterOptions{}), "p/1", "p/10", "p/2", "p/3")
	wantKeys(t, keys(t, kv, "p", store.IterOptions{}), "p", "p/1", "p/10", "p/2", "p/3")
	wantKeys(t, keys(t, kv, "", store.IterOptions{}), "o/9", "p", "p/1", "p/10", "p/2", "p/3", "q/1")
	wantKeys(t, keys(t, kv, "r/", store.IterOptions{}))
	var values []string
	if err := kv.Iterate([]byte("p/"), store.IterOptions{}, func(k, v []byte) error {
		values = append(values, string(v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, values, "a", "d", "b", "c")
}

func testIterateBounds(t *testing.T, kv store.KV) {
	write(t, kv, "p/1", "", "p/2", "", "p/3", "", "p/4", "", "q/0", "")
	tests := []struct {
		name       string
		start, end string
		rev        bool
		want       []string
	}{
		{"start", "p/2", "", false, []string{"p/2", "p/3", "p/4"}},
		{"start between keys", "p/25", "", false, []string{"p/3", "p/4"}},
		{"end exclusive", "", "p/3", false, []string{"p/1", "p/2"}},
		{"start and end", "p/2", "p/4", false, []string{"p/2", "p/3"}},
		{"start before prefix", "a", "", false, []string{"p/1", "p/2", "p/3", "p/4"}},
		{"end after prefix", "", "z", false, []string{"p/1", "p/2", "p/3", "p/4"}},
		{"start after prefix", "q", "", false, nil},
		{"end before prefix", "", "a", false, nil},
		{"end before start", "p/3", "p/2", false, nil},
		{"end equals start", "p/2", "p/2", false, nil},
		{"reverse start", "p/2", "", true, []string{"p/4", "p/3", "p/2"}},
		{"reverse end exclusive", "", "p/3", true, []string{"p/2", "p/1"}},
		{"reverse end between keys", "", "p/35", true, []string{"p/3", "p/2", "p/1"}},
		{"reverse start and end", "p/2", "p/4", true, []string{"p/3", "p/2"}},
		{"reverse end after prefix", "", "z", true, []string{"p/4", "p/3", "p/2", "p/1"}},
		{"reverse end before start", "p/3", "p/2", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := store.IterOptions{Reverse: tc.rev}
			if tc.start != "" {
				opts.Start = []byte(tc.start)
			}
			if tc.end != "" {
				opts.End = []byte(tc.end)
			}
			wantKeys(t, keys(t, kv, "p/", opts), tc.want...)
		})
	}
}

func testIterateReverse(t *testing.T, kv store.KV) {
	// "p0" is the first key after the prefix "p/": a reverse iteration
	// must not stop on it.
	write(t, kv, "p/1", "", "p/2", "", "p/3", "", "p0", "", "p", "", "a", "", "z", "")
	wantKeys(t, keys(t, kv, "p/", store.IterOptions{Reverse: true}), "p/3", "p/2", "p/1")
	wantKeys(t, keys(t, kv, "", store.IterOptions{Reverse: true}), "z", "p0", "p/3", "p/2", "p/1", "p", "a")
	wantKeys(t, keys(t, kv, "q", store.IterOptions{Reverse: true}))
	// Latest N: reverse, stop after 2.
	var got []string
	if err := kv.Iterate([]byte("p/"), store.IterOptions{Reverse: true}, func(k, v []byte) error {
		got = append(got, string(k))
		if len(got) == 2 {
			return store.ErrStop
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, got, "p/3", "p/2")
}

func testIterateFFPrefix(t *testing.T, kv store.KV) {
	write(t, kv, "\xff", "", "\xff\xff", "", "\xff\xff\x01", "", "\xfe\xff", "")
	wantKeys(t, keys(t, kv, "\xff\xff", store.IterOptions{}), "\xff\xff", "\xff\xff\x01")
	wantKeys(t, keys(t, kv, "\xff\xff", store.IterOptions{Reverse: true}), "\xff\xff\x01", "\xff\xff")
	wantKeys(t, keys(t, kv, "\xfe", store.IterOptions{Reverse: true}), "\xfe\xff")
}

func testIterateStopAndError(t *testing.T, kv store.KV) {
	write(t, kv, "a", "", "b", "", "c", "")
	n := 0
	err := kv.Iterate(nil, store.IterOptions{}, func(k, v []byte) error {
		n++
		return store.ErrStop
	})
	if err != nil || n != 1 {
		t.Fatalf("ErrStop: Iterate returned %v after %d keys, want nil after 1", err, n)
	}
	boom := errors.New("boom")
	n = 0
	err = kv.Iterate(nil, store.IterOptions{}, func(k, v []byte) error {
		n++
		if n == 2 {
			return fmt.Errorf("at %q: %w", k, boom)
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 2 {
		t.Fatalf("Iterate returned %v after %d keys, want boom after 2", err, n)
	}
}

func testIterateSnapshot(t *testing.T, kv store.KV) {
	write(t, kv, "s/1", "a", "s/2", "b", "s/3", "c")
	var seen []string
	err := kv.Iterate([]byte("s/"), store.IterOptions{}, func(k, v []byte) error {
		seen = append(seen, string(k)+"="+string(v))
		if string(k) == "s/1" {
			// A batch written during the iteration is not seen by it,
			// but Get sees it at once.
			b := kv.NewBatch()
			b.Set([]byte("s/2"), []byte("changed"))
			b.Set([]byte("s/25"), []byte("new"))
			b.Delete([]byte("s/3"))
			if err := b.Write(); err != nil {
				return err
			}
			got, err := kv.Get([]byte("s/2"))
			if err != nil || string(got) != "changed" {
				return fmt.Errorf("Get inside Iterate = %q, %v", got, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantKeys(t, seen, "s/1=a", "s/2=b", "s/3=c")
	wantKeys(t, keys(t, kv, "s/", store.IterOptions{}), "s/1", "s/2", "s/25")
}

func testValuesNotAliased(t *testing.T, kv store.KV) {
	key := []byte("key")
	val := []byte("value")
	b := kv.NewBatch()
	b.Set(key, val)
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	// The caller's slices are its own again after Write.
	key[0], val[0] = 'X', 'X'
	wantValue(t, kv, "key", "value")
	wantMissing(t, kv, "Xey")
	// A value returned by Get is the caller's.
	got, err := kv.Get([]byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	got[0] = 'Y'
	wantValue(t, kv, "key", "value")
	// Copies made inside Iterate stay valid after it.
	var kept [][]byte
	write(t, kv, "key2", "value2")
	if err := kv.Iterate(nil, store.IterOptions{}, func(k, v []byte) error {
		kept = append(kept, bytes.Clone(v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	write(t, kv, "key", "other", "key2", "other2")
	if string(kept[0]) != "value" || string(kept[1]) != "value2" {
		t.Fatalf("copied values changed to %q", kept)
	}
}

// testConcurrentBatchesAtomic has writers set two keys to the same value in
// one batch while readers check, on snapshots, that they never differ.
func testConcurrentBatchesAtomic(t *testing.T, kv store.KV) {
	write(t, kv, "pair/a", "0", "pair/b", "0")
	const writers, rounds, readers = 2, 50, 2
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	done := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				v := []byte(fmt.Sprintf("%d-%d", w, i))
				b := kv.NewBatch()
				b.Set([]byte("pair/a"), v)
				b.Set([]byte("pair/b"), v)
				if err := b.Write(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var rwg sync.WaitGroup
	for r := 0; r < readers; r++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				var vals []string
				if err := kv.Iterate([]byte("pair/"), store.IterOptions{}, func(k, v []byte) error {
					vals = append(vals, string(v))
					return nil
				}); err != nil {
					errs <- err
					return
				}
				if len(vals) != 2 || vals[0] != vals[1] {
					errs <- fmt.Errorf("snapshot saw half a batch: %q", vals)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testClose(t *testing.T, kv store.KV) {
	write(t, kv, "a", "1")
	pending := kv.NewBatch()
	pending.Set([]byte("b"), []byte("2"))
	if err := kv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := kv.Get([]byte("a")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if err := kv.Iterate(nil, store.IterOptions{}, func(k, v []byte) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Iterate after Close: %v, want ErrClosed", err)
	}
	if err := pending.Write(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Write of a batch begun before Close: %v, want ErrClosed", err)
	}
	b := kv.NewBatch()
	b.Set([]byte("c"), []byte("3"))
	if err := b.Write(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if err := kv.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}
