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
//
// DataBlockTime returns the time of the finalized data block at height
// (≥ 1). Settlement of a period waits until the data block a tx block
// anchors is timed at least ReadingWindow past the period's end, so that
// no later data block can hold a reading of the period (see doc.go).
type ReadingSource interface {
	ReadingsUpTo(device chain.PubKey, from, to chain.Time, maxDataHeight uint64, fn func(*chain.Reading) error) error
	DataBlockTime(height uint64) (chain.Time, error)
}

// MemReadings is an in-memory ReadingSource for tests and tools: readings
// added with the height and time of the data block that recorded them. It
// is safe for concurrent use; a mutex guards the maps.
type MemReadings struct {
	mu       sync.RWMutex // guards byDevice and times
	byDevice map[chain.PubKey][]heightReading
	times    map[uint64]chain.Time
}

type heightReading struct {
	height uint64
	rd     *chain.Reading
}

var _ ReadingSource = (*MemReadings)(nil)

// NewMemReadings returns an empty source.
func NewMemReadings() *MemReadings {
	return &MemReadings{byDevice: make(map[chain.PubKey][]heightReading), times: make(map[uint64]chain.Time)}
}

// Add records data block dataHeight, timed dataTime, with its readings. A
// device's readings come in increasing sequence order but for late ones,
// which fill a gap; a sequence number recorded already is refused.
func (m *MemReadings) Add(dataHeight uint64, dataTime chain.Time, readings ...*chain.Reading) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.times[dataHeight] = dataTime
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

// DataBlockTime implements ReadingSource.
func (m *MemReadings) DataBlockTime(height uint64) (chain.Time, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, ok := m.times[height]
	if !ok {
		return 0, fmt.Errorf("%w: no data block %d was added to the reading source", ErrAnchorAhead, height)
	}
	return t, nil
}
