package state

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// TestCacheDecodedRecords: records read through a Cache (directly or
// through an overlay) are decoded once per stored value, are copies the
// caller may change, follow the value when a block replaces it, and an
// overlay's own write still wins.
func TestCacheDecodedRecords(t *testing.T) {
	var dev chain.PubKey
	dev[0] = 7
	key := deviceDataKey(dev)
	c := NewCache()
	c.Apply([]Change{{Key: key, Value: chain.MustEncode(&DeviceData{LastSeq: 3, Readings: 3})}})

	read := func(r Reader) DeviceData {
		t.Helper()
		var dd DeviceData
		found, err := getRecord(r, key, &dd)
		if err != nil || !found {
			t.Fatalf("getRecord: found %v, %v", found, err)
		}
		return dd
	}
	if dd := read(c); dd.LastSeq != 3 {
		t.Fatalf("first read: %+v", dd)
	}
	c.decoded.mu.Lock()
	_, memoized := c.decoded.m[string(key)]
	c.decoded.mu.Unlock()
	if !memoized {
		t.Fatal("the decoded record was not kept")
	}
	// A copy: changing it does not change what the next reader gets.
	dd := read(c)
	dd.LastSeq = 99
	if again := read(c); again.LastSeq != 3 {
		t.Fatalf("a caller's change leaked into the cache: %+v", again)
	}
	// A block replaces the value: the next read sees the new one.
	c.Apply([]Change{{Key: key, Value: chain.MustEncode(&DeviceData{LastSeq: 5, Readings: 4, Missing: 1})}})
	if dd := read(c); dd.LastSeq != 5 || dd.Missing != 1 {
		t.Fatalf("after a block: %+v", dd)
	}
	// Through an overlay: the committed value, unless the overlay wrote.
	o := newOverlay(c)
	if dd := read(o); dd.LastSeq != 5 {
		t.Fatalf("through an overlay: %+v", dd)
	}
	putRecord(o, key, &DeviceData{LastSeq: 6, Readings: 5, Missing: 1})
	if dd := read(o); dd.LastSeq != 6 {
		t.Fatalf("the overlay's write: %+v", dd)
	}
	if dd := read(c); dd.LastSeq != 5 {
		t.Fatalf("the overlay's write reached the cache: %+v", dd)
	}
	// Deleted: not found, and the decode is dropped.
	c.Apply([]Change{{Key: key, Delete: true}})
	var gone DeviceData
	if found, err := getRecord(c, key, &gone); found || err != nil {
		t.Fatalf("deleted key: found %v, %v", found, err)
	}
	c.decoded.mu.Lock()
	_, memoized = c.decoded.m[string(key)]
	c.decoded.mu.Unlock()
	if memoized {
		t.Fatal("a deleted key's decode was kept")
	}
	// A corrupt value is an error, not a cached zero.
	c.Apply([]Change{{Key: key, Value: []byte{0xa1, 0x01, 0x05}}}) // readings 0 + missing 0 ≠ last seq 5
	if _, err := getRecord(c, key, &gone); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("corrupt record: %v, want ErrCorruptState", err)
	}
	// Records outside memoTypes (an Industry holds a pointer) are decoded
	// each time.
	var ind Industry
	if found, handled, _ := c.getDecoded(industryKey(chain.Address{}), &ind); handled || found {
		t.Fatalf("an Industry went through the memo (handled %v)", handled)
	}
}

// TestCacheDecodedRecordsConcurrent reads devices while blocks replace
// their records; run with -race. Every read is a value some block wrote.
func TestCacheDecodedRecordsConcurrent(t *testing.T) {
	c := NewCache()
	keys := make([][]byte, 8)
	for i := range keys {
		var dev chain.PubKey
		dev[0] = byte(i)
		keys[i] = deviceDataKey(dev)
	}
	write := func(n uint64) {
		var ch []Change
		for _, k := range keys {
			ch = append(ch, Change{Key: k, Value: chain.MustEncode(&DeviceData{LastSeq: n, Readings: n})})
		}
		c.Apply(ch)
	}
	write(1)
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				var dd DeviceData
				if _, err := getRecord(c, keys[i%len(keys)], &dd); err != nil || dd.Readings != dd.LastSeq || dd.LastSeq == 0 {
					errs <- fmt.Errorf("read %+v, %v", dd, err)
					return
				}
			}
		}()
	}
	for n := uint64(2); n < 300; n++ {
		write(n)
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var dd DeviceData
	if _, err := getRecord(c, keys[3], &dd); err != nil || dd.LastSeq != 299 {
		t.Fatalf("last read %+v, %v; want seq 299", dd, err)
	}
}
