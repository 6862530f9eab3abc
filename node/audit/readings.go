package audit

import (
	"fmt"
	"slices"
	"sort"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
)

// verifiedReadings is the ReadingSource settlement reads during Verify:
// the readings of data blocks that Verify has already checked (signature,
// entries root, certificate, execution), never the store's indexes, so a
// damaged index cannot change what settlement counts. It keeps what
// settlement reads of a reading (device, sequence, time, measured values)
// in 96 bytes, without the signature (verified) or the image hash, so a
// store of millions of readings is replayed in a few hundred MB.
type verifiedReadings struct {
	byDevice map[chain.PubKey][]keptReading
	times    []chain.Time // times[h-1]: the time of verified data block h
}

type keptReading struct {
	height uint64
	seq    uint64
	time   chain.Time
	flow   int64
	volume int64
	total  int64
	cond   int64
	solids int64
	absorb int64
	turbid int64
}

var _ state.ReadingSource = (*verifiedReadings)(nil)

func newVerifiedReadings() *verifiedReadings {
	return &verifiedReadings{byDevice: make(map[chain.PubKey][]keptReading)}
}

// add records verified data block height, timed at, and its readings,
// kept in time order per device. They come in increasing sequence and time
// order (the data lane's rules, which execution has just checked), but for
// late readings that fill a gap, which are put in their place.
func (v *verifiedReadings) add(height uint64, at chain.Time, rs []*chain.Reading) error {
	if height != uint64(len(v.times))+1 {
		return fmt.Errorf("data block %d verified after block %d", height, len(v.times))
	}
	v.times = append(v.times, at)
	for _, r := range rs {
		list := v.byDevice[r.Device]
		k := keptReading{
			height: height, seq: r.Seq, time: r.Time,
			flow: r.FlowRate, volume: r.Volume, total: r.VolumeTotal,
			cond: r.Conductivity, solids: r.SuspendedSolids, absorb: r.Absorbance, turbid: r.Turbidity,
		}
		if n := len(list); n == 0 || (list[n-1].seq < r.Seq && list[n-1].time < r.Time) {
			v.byDevice[r.Device] = append(list, k)
			continue
		}
		i := sort.Search(len(list), func(i int) bool {
			return list[i].time > r.Time || (list[i].time == r.Time && list[i].seq >= r.Seq)
		})
		for _, e := range list {
			if e.seq == r.Seq {
				return fmt.Errorf("device %s reading seq %d recorded twice", r.Device.Short(), r.Seq)
			}
		}
		v.byDevice[r.Device] = slices.Insert(list, i, k)
	}
	return nil
}

// ReadingsUpTo implements state.ReadingSource.
func (v *verifiedReadings) ReadingsUpTo(device chain.PubKey, from, to chain.Time, maxDataHeight uint64, fn func(*chain.Reading) error) error {
	list := v.byDevice[device]
	i := sort.Search(len(list), func(i int) bool { return list[i].time >= from })
	for ; i < len(list) && list[i].time < to; i++ {
		k := &list[i]
		if k.height > maxDataHeight {
			continue
		}
		r := chain.Reading{
			Device: device, Seq: k.seq, Time: k.time,
			FlowRate: k.flow, Volume: k.volume, VolumeTotal: k.total,
			Conductivity: k.cond, SuspendedSolids: k.solids, Absorbance: k.absorb, Turbidity: k.turbid,
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return nil
}

// DataBlockTime implements state.ReadingSource.
func (v *verifiedReadings) DataBlockTime(height uint64) (chain.Time, error) {
	if height == 0 || height > uint64(len(v.times)) {
		return 0, fmt.Errorf("%w: data block %d is not verified (verified up to %d)", chain.ErrBadAnchor, height, len(v.times))
	}
	return v.times[height-1], nil
}
