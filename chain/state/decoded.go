package state

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
)

// Records are decoded strictly (decode, re-encode, compare), which costs
// more than most state reads: every reading checked at the door or
// executed in a block reads its device's two records. A Cache therefore
// keeps the decoded form of the records it reads most (memoTypes) beside
// their bytes, and hands out copies.
// A cached decode is tied to the identity of the stored bytes it came from:
// values are never modified in place, so when a key's value is replaced
// the old decode simply stops matching.

// decodedReader is a Reader that may answer getRecord from decoded
// records. handled is false when it cannot (the caller decodes as usual).
type decodedReader interface {
	getDecoded(key []byte, rec record) (found, handled bool, err error)
}

// memoTypes are the records a Cache keeps decoded: those a plain copy
// shares nothing with, but for DeviceData's gap list, which copyRecord
// clones.
var memoTypes = map[reflect.Type]bool{
	reflect.TypeFor[*Device](): true, reflect.TypeFor[*DeviceData](): true,
	reflect.TypeFor[*TxMeta](): true, reflect.TypeFor[*DataMeta](): true,
	reflect.TypeFor[*genesisRecord](): true, reflect.TypeFor[*Account](): true,
	reflect.TypeFor[*PermitRecord](): true,
}

// copyRecord copies src into dst, two records of one memoized type.
func copyRecord(dst, src record) {
	// The two records read for every reading first, without reflection.
	switch d := dst.(type) {
	case *Device:
		*d = *src.(*Device)
		return
	case *DeviceData:
		*d = *src.(*DeviceData)
		d.Gaps = slices.Clone(d.Gaps)
		return
	}
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src).Elem())
}

// decodedMemo holds a Cache's decoded records.
type decodedMemo struct {
	mu sync.Mutex // guards m and the records of its entries, which are copied in and out under it
	m  map[string]decodedEntry
}

type decodedEntry struct {
	key  string // the entry's key in m, to replace the entry without a new string
	from *byte  // the first byte of the value it was decoded from
	rec  record
}

func (c *Cache) getDecoded(key []byte, rec record) (found, handled bool, err error) {
	typ := reflect.TypeOf(rec)
	if !memoTypes[typ] {
		return false, false, nil
	}
	c.mu.RLock()
	v, ok := c.vals[string(key)]
	c.mu.RUnlock()
	if !ok {
		return false, true, nil
	}
	if len(v) == 0 {
		return false, false, nil
	}
	c.decoded.mu.Lock()
	e, hit := c.decoded.m[string(key)]
	if hit && e.from == &v[0] && reflect.TypeOf(e.rec) == typ {
		copyRecord(rec, e.rec)
		c.decoded.mu.Unlock()
		return true, true, nil
	}
	c.decoded.mu.Unlock()
	if err := decodeRecord(v, rec); err != nil {
		return false, true, fmt.Errorf("key %q: %w", key, err)
	}
	c.decoded.mu.Lock()
	defer c.decoded.mu.Unlock()
	if c.decoded.m == nil {
		c.decoded.m = make(map[string]decodedEntry)
	}
	// A key's entry keeps its record and key string when its value is
	// replaced: the new decode is copied over the old one, which readers
	// copy from under mu only. A new record and string for every changed
	// value were two allocations a reading on a busy network.
	if e, hit = c.decoded.m[string(key)]; !hit || reflect.TypeOf(e.rec) != typ {
		e = decodedEntry{key: string(key), rec: reflect.New(typ.Elem()).Interface().(record)}
	}
	copyRecord(e.rec, rec)
	e.from = &v[0]
	c.decoded.m[e.key] = e
	return true, true, nil
}

// forget drops the decoded records of deleted keys (replaced values stop
// matching by themselves).
func (m *decodedMemo) forget(changes []Change) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ch := range changes {
		if ch.Delete {
			delete(m.m, string(ch.Key))
		}
	}
}

func (o *overlay) getDecoded(key []byte, rec record) (found, handled bool, err error) {
	if _, written := o.writes[string(key)]; written {
		return false, false, nil
	}
	if d, ok := o.base.(decodedReader); ok {
		return d.getDecoded(key, rec)
	}
	return false, false, nil
}
