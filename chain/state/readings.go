package state

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/waterchain/waterchain/chain"
)

// ReadingSource is how settlement reads the data chain. The node implements
// it over its data-chain store and index.
//
// ReadingsUpTo calls fn for every reading of device whose time t satisfies
// from ≤ t < to and that is recorded in a finalized data block of height at
// most maxDataHeight, in increasing sequence order, and stops at the first
// error fn returns. The answer must not depend on data blocks above
// maxDataHeight: that is what makes settlement the same on every node and
// for every later auditor, however far its data chain has got. fn must not
// keep the reading after it returns.
type ReadingSource interface {
	ReadingsUpTo(device chain.PubKey, from, to chain.Time, maxDataHeight uint64, fn func(*chain.Reading) error) error
}

// MemReadings is an in-memory ReadingSource for tests and tools: readings
// added with the data height of the block that recorded them. It is safe
// for concurrent use; a mutex guards the map.
type MemReadings struct {
	mu       sync.RWMutex // guards byDevice
	byDevice map[chain.PubKey][]heightReading
}

type heightReading struct {
	height uint64
	rd     *chain.Reading
}

var _ ReadingSource = (*MemReadings)(nil)

// NewMemReadings returns an empty source.
func NewMemReadings() *MemReadings {
	return &MemReadings{byDevice: make(map[chain.PubKey][]heightReading)}
}

// Add records readings as part of data block dataHeight. A device's
// readings come in increasing sequence order but for late ones, which fill
// a gap; a sequence number recorded already is refused.
func (m *MemReadings) Add(dataHeight uint64, readings ...*chain.Reading) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, rd := range readings {
		list := m.byDevice[rd.Device]
		i := sort.Search(len(list), func(i int) bool { return list[i].rd.Seq >= rd.Seq })
		if i < len(list) && list[i].rd.Seq == rd.Seq {
			return fmt.Errorf("%w: device %s seq %d is recorded already", ErrReplayedSeq, shortKey(rd.Device), rd.Seq)
		}
		c := *rd
		m.byDevice[rd.Device] = slices.Insert(list, i, heightReading{dataHeight, &c})
	}
	return nil
}

// ReadingsUpTo implements ReadingSource.
func (m *MemReadings) ReadingsUpTo(device chain.PubKey, from, to chain.Time, maxDataHeight uint64, fn func(*chain.Reading) error) error {
	m.mu.RLock()
	list := m.byDevice[device]
	var out []*chain.Reading
	for _, e := range list {
		if e.height <= maxDataHeight && e.rd.Time >= from && e.rd.Time < to {
			c := *e.rd
			out = append(out, &c)
		}
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	for _, rd := range out {
		if err := fn(rd); err != nil {
			return err
		}
	}
	return nil
}
