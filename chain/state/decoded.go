package state

import (
	"fmt"
	"slices"
	"sync"
)

// Records are decoded strictly (decode, re-encode, compare), which costs
// more than most state reads: every reading checked at the door or
// executed in a block reads its device's two records. A Cache therefore
// keeps the decoded form of flat records (those holding no pointer, slice
// or map, so a copy shares nothing with the cached one) beside their bytes.
// A cached decode is tied to the identity of the stored bytes it came from:
// values are never modified in place, so when a key's value is replaced
// the old decode simply stops matching.

// decodedReader is a Reader that may answer getRecord from decoded
// records. handled is false when it cannot (the caller decodes as usual).
type decodedReader interface {
	getDecoded(key []byte, rec record) (found, handled bool, err error)
}

// copyFlat copies src into dst when both are the same flat record type
// (DeviceData's gap list is copied too).
func copyFlat(dst, src record) bool {
	switch d := dst.(type) {
	case *Device:
		if s, ok := src.(*Device); ok {
			*d = *s
			return true
		}
	case *DeviceData:
		if s, ok := src.(*DeviceData); ok {
			*d = *s
			d.Gaps = slices.Clone(s.Gaps) // the one slice of these records
			return true
		}
	case *TxMeta:
		if s, ok := src.(*TxMeta); ok {
			*d = *s
			return true
		}
	case *DataMeta:
		if s, ok := src.(*DataMeta); ok {
			*d = *s
			return true
		}
	case *genesisRecord:
		if s, ok := src.(*genesisRecord); ok {
			*d = *s
			return true
		}
	case *Account:
		if s, ok := src.(*Account); ok {
			*d = *s
			return true
		}
	case *PermitRecord:
		if s, ok := src.(*PermitRecord); ok {
			*d = *s
			return true
		}
	}
	return false
}

// cloneFlat returns a copy of a flat record, or nil for any other.
func cloneFlat(rec record) record {
	var c record
	switch rec.(type) {
	case *Device:
		c = new(Device)
	case *DeviceData:
		c = new(DeviceData)
	case *TxMeta:
		c = new(TxMeta)
	case *DataMeta:
		c = new(DataMeta)
	case *genesisRecord:
		c = new(genesisRecord)
	case *Account:
		c = new(Account)
	case *PermitRecord:
		c = new(PermitRecord)
	default:
		return nil
	}
	copyFlat(c, rec)
	return c
}

// decodedMemo holds a Cache's decoded flat records.
type decodedMemo struct {
	mu sync.Mutex // guards m
	m  map[string]decodedEntry
}

type decodedEntry struct {
	from *byte // the first byte of the value it was decoded from
	rec  record
}

func (c *Cache) getDecoded(key []byte, rec record) (found, handled bool, err error) {
	if cloneFlat(rec) == nil {
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
	c.decoded.mu.Unlock()
	if hit && e.from == &v[0] && copyFlat(rec, e.rec) {
		return true, true, nil
	}
	if err := decodeRecord(v, rec); err != nil {
		return false, true, fmt.Errorf("key %q: %w", key, err)
	}
	c.decoded.mu.Lock()
	if c.decoded.m == nil {
		c.decoded.m = make(map[string]decodedEntry)
	}
	c.decoded.m[string(key)] = decodedEntry{from: &v[0], rec: cloneFlat(rec)}
	c.decoded.mu.Unlock()
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
