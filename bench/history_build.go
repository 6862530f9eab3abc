package bench

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/audit/audittest"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/keys"
)

// historyNet is the network the history is built for and measured on.
type historyNet struct {
	o        HistoryOptions
	nw       *home.Network
	dataDirs []string            // each node's store directory, in nw.Nodes order
	nodeKeys []*chain.PrivateKey // in nw.Nodes order
	meters   []*chain.PrivateKey // in genesis order
	// lastSeq and lastTime are each meter's last reading in the history.
	lastSeq  []uint64
	lastTime []chain.Time
	procs    []*historyProc // running node processes, in nw.Nodes order (nil: stopped)
}

// historyMargin is how far before now the history ends, so that the
// running network's first block is after it.
const historyMargin = time.Minute

// writeHistoryNetwork writes a network of o.Validators and one auditor whose
// genesis lies far enough in the past for o.Blocks data blocks o.Interval
// apart, with o.Meters meters.
func writeHistoryNetwork(dir string, o HistoryOptions) (*historyNet, error) {
	base, err := freeBasePort(o.Validators + 1)
	if err != nil {
		return nil, err
	}
	span := time.Duration(o.Blocks)*o.Interval + historyMargin
	nw, err := home.WriteNetwork(dir, home.NetworkOptions{
		Validators: o.Validators, Auditors: 1, BasePort: base, ChainID: "waterchain-history",
		GenesisTime:        time.Now().Add(-span).UTC().Truncate(time.Second),
		DevicesPerIndustry: o.Meters / o.Validators,
	})
	if err != nil {
		return nil, err
	}
	hn := &historyNet{o: o, nw: nw, procs: make([]*historyProc, len(nw.Nodes))}
	for _, n := range nw.Nodes {
		h, err := home.Open(n.Home)
		if err != nil {
			return nil, err
		}
		cfg, err := h.LoadConfig()
		if err != nil {
			return nil, err
		}
		data, _ := h.StorageDirs(cfg)
		hn.dataDirs = append(hn.dataDirs, data)
		key, err := h.LoadNodeKey()
		if err != nil {
			return nil, err
		}
		hn.nodeKeys = append(hn.nodeKeys, key)
	}
	for _, d := range nw.Devices {
		k, err := keys.Load(d.KeyFile)
		if err != nil {
			return nil, err
		}
		hn.meters = append(hn.meters, k)
	}
	if len(hn.meters) != o.Meters {
		return nil, fmt.Errorf("genesis registers %d meters, want %d", len(hn.meters), o.Meters)
	}
	hn.lastSeq = make([]uint64, len(hn.meters))
	hn.lastTime = make([]chain.Time, len(hn.meters))
	return hn, nil
}

// historyStore is validator-1's store while the history is built.
type historyStore struct {
	dir string
	kv  *groupKV
}

func openHistoryStore(dir string) (*historyStore, *store.Store, error) {
	kv, err := store.OpenBadger(dir, store.BadgerOptions{})
	if err != nil {
		return nil, nil, err
	}
	g := newGroupKV(kv)
	st, err := store.Open(g)
	if err != nil {
		kv.Close()
		return nil, nil, err
	}
	return &historyStore{dir: dir, kv: g}, st, nil
}

// buildHistory builds the history into validator-1's store and fills the
// build and disk figures of res. The empty data blocks come first, then
// the full ones; the store is closed, compacted and measured at genesis,
// between the two parts and at the end.
func buildHistory(ctx context.Context, hn *historyNet, o HistoryOptions, res *HistoryResult, say func(string, ...any)) error {
	dir := hn.dataDirs[0]
	hs, st, err := openHistoryStore(dir)
	if err != nil {
		return err
	}
	defer func() {
		if hs != nil {
			hs.kv.Close()
		}
	}()
	c, err := audittest.New(st, hn.nw.Genesis)
	if err != nil {
		return err
	}
	for _, k := range hn.nodeKeys {
		c.AddKey(k)
	}
	for _, k := range hn.meters {
		c.AddKey(k)
	}
	// c makes and signs the readings; the pipeline builds the blocks.
	pl, err := newHistoryPipeline(hn.nw.Genesis, hn.nodeKeys)
	if err != nil {
		return err
	}
	running := false
	defer func() {
		if running {
			_ = pl.stop()
		}
	}()
	// measure writes what is built, closes the store, measures it as
	// written (live) and compacted (size), and opens it again.
	measure := func() (size, live int64, err error) {
		if running {
			running = false
			if err := pl.stop(); err != nil {
				return 0, 0, err
			}
		}
		if err := hs.kv.Close(); err != nil {
			return 0, 0, err
		}
		hs = nil
		if live, err = historyDirSize(dir); err != nil {
			return 0, 0, err
		}
		if size, err = historyCompactedSize(dir); err != nil {
			return 0, 0, err
		}
		var st *store.Store
		if hs, st, err = openHistoryStore(dir); err != nil {
			return 0, 0, err
		}
		c.Store = st
		pl.start(st)
		running = true
		return size, live, nil
	}
	if res.DiskGenesisBytes, _, err = measure(); err != nil {
		return err
	}

	start := time.Now()
	lastSay := start
	gt := hn.nw.Genesis.GenesisTime
	empty := o.Blocks - o.FullBlocks
	var sizeAfterEmpty int64
	var emptyBlocks, fullBlocks int // both lanes
	var encodedBytes uint64
	nextMeter := 0
	var pending [][]*chain.Reading // signed readings of the next full blocks
	for i := 1; i <= o.Blocks; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		at := gt.Add(time.Duration(i) * o.Interval)
		var rs []*chain.Reading
		if i > empty {
			if len(pending) == 0 {
				pending = hn.signReadings(c, o, i, min(o.Blocks-i+1, max(1, 50_000/o.Readings)), &nextMeter)
			}
			rs, pending = pending[0], pending[1:]
			for _, r := range rs {
				encodedBytes += uint64(len(r.Encode()))
			}
		}
		if err := pl.Add(chain.LaneData, at, rs); err != nil {
			return fmt.Errorf("data/%d: %w", i, err)
		}
		built := 1
		if o.TxEvery > 0 && i%o.TxEvery == 0 {
			if err := pl.Add(chain.LaneTx, at.Add(o.Interval/2), nil); err != nil {
				return fmt.Errorf("tx block after data/%d: %w", i, err)
			}
			built++
		}
		res.DataBlocks = i
		res.TxBlocks += built - 1
		if i > empty {
			fullBlocks += built
			res.FullBlocks++
			res.Readings += uint64(len(rs))
		} else {
			emptyBlocks += built
		}
		if i == empty && o.FullBlocks > 0 {
			if sizeAfterEmpty, _, err = measure(); err != nil {
				return err
			}
		}
		if time.Since(lastSay) > 10*time.Second {
			lastSay = time.Now()
			say("building: data/%d of %d, %.0f blocks/s", i, o.Blocks, float64(res.DataBlocks+res.TxBlocks)/historySince(start))
		}
	}
	if err := pl.Sync(); err != nil {
		return err
	}
	res.Blocks = res.DataBlocks + res.TxBlocks
	res.BuildS = historySince(start)
	res.BuildBlocksPerS = float64(res.Blocks) / res.BuildS
	if res.DiskBytes, res.DiskBytesLive, err = measure(); err != nil {
		return err
	}
	running = false
	if err := pl.stop(); err != nil {
		return err
	}
	if err := hs.kv.Close(); err != nil {
		return err
	}
	hs = nil

	switch {
	case o.FullBlocks == 0:
		res.DiskBytesPerEmptyBlock = float64(res.DiskBytes-res.DiskGenesisBytes) / float64(emptyBlocks)
	case empty == 0:
		// No empty part: a reading's share includes its block's.
		res.DiskBytesPerReading = float64(res.DiskBytes-res.DiskGenesisBytes) / float64(res.Readings)
	default:
		res.DiskBytesPerEmptyBlock = float64(sizeAfterEmpty-res.DiskGenesisBytes) / float64(emptyBlocks)
		res.DiskBytesPerReading = (float64(res.DiskBytes-sizeAfterEmpty) - float64(fullBlocks)*res.DiskBytesPerEmptyBlock) / float64(res.Readings)
	}
	if res.Readings > 0 {
		res.ReadingEncodedBytes = float64(encodedBytes) / float64(res.Readings)
		res.DiskReadingRatio = res.DiskBytesPerReading / res.ReadingEncodedBytes
	}
	return nil
}

// signReadings makes and signs (on every core) the readings of blocks full
// data blocks from data height first: o.Readings each, from the next
// meters round robin, timed at their block's time.
func (hn *historyNet) signReadings(c *audittest.Chain, o HistoryOptions, first, blocks int, next *int) [][]*chain.Reading {
	gt := hn.nw.Genesis.GenesisTime
	out := make([][]*chain.Reading, blocks)
	var all []*chain.Reading
	for b := range blocks {
		at := gt.Add(time.Duration(first+b) * o.Interval)
		rs := make([]*chain.Reading, o.Readings)
		for k := range rs {
			m := *next
			*next = (m + 1) % len(hn.meters)
			rs[k] = c.NewReading(hn.meters[m].Public(), at, nil)
			hn.lastSeq[m], hn.lastTime[m] = rs[k].Seq, at
		}
		out[b] = rs
		all = append(all, rs...)
	}
	c.SignReadings(all)
	return out
}

// historyCompactedSize opens the closed badger store in dir, compacts it into
// one level (dropping overwritten versions) and collects the value log,
// closes it, and returns the bytes of its files. Level 0 is compacted on
// close: Flatten leaves a store whose tables are all in level 0 as it is,
// and the store writes level 0 uncompressed.
func historyCompactedSize(dir string) (int64, error) {
	// The options that decide the on-disk format are the store's own
	// (store.OpenBadger): its table format, default table and value-log
	// sizes.
	opts := store.WithTableFormat(badger.DefaultOptions(dir)).WithLogger(nil).
		WithNumCompactors(2).WithMetricsEnabled(false).WithCompactL0OnClose(true)
	db, err := badger.Open(opts)
	if err != nil {
		return 0, fmt.Errorf("opening %s to compact it: %w", dir, err)
	}
	if err := db.Flatten(2); err != nil {
		db.Close()
		return 0, fmt.Errorf("compacting %s: %w", dir, err)
	}
	for db.RunValueLogGC(0.5) == nil {
	}
	if err := db.Close(); err != nil {
		return 0, err
	}
	return historyDirSize(dir)
}

// historyDirSize is the bytes of the regular files under dir.
func historyDirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	return total, err
}

// copyStore copies validator-1's store into every other validator's home.
func (hn *historyNet) copyStore() error {
	src := hn.dataDirs[0]
	for i, n := range hn.nw.Nodes {
		if i == 0 || n.Role != "validator" {
			continue
		}
		if err := historyCopyDir(src, hn.dataDirs[i]); err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
	}
	return nil
}

func historyCopyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
