package store_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/waterchain/waterchain/chain/store"
)

// A validator at 500 readings/s commits a data block of about 25
// readings every 50 ms; BenchmarkCommitDataBlock commits such blocks.
const (
	dataBlockReadings = 25
	dataBlockDevices  = 100 // each block has a reading of a quarter of them
	dataBlockBuild    = 64  // blocks built at a time, the timer stopped
)

// BenchmarkCommitDataBlock commits data blocks of 25 readings (25 of 100
// devices, each continuing its sequence, so every reading is in order)
// with a state change per device: on badger with the production options
// (a synced transaction a block; B/op and allocs/op include badger's),
// and on lastBatchKV, which keeps only the last batch and allocates
// nothing in steady state, so that B/op and allocs/op are the store's
// own.
//
//	go test ./chain/store -run '^$' -bench CommitDataBlock -benchmem
func BenchmarkCommitDataBlock(b *testing.B) {
	for _, kv := range []struct {
		name string
		open func(b *testing.B) store.KV
	}{
		{"badger", func(b *testing.B) store.KV { return openBadgerIn(b, b.TempDir()) }},
		{"lastBatch", func(*testing.B) store.KV { return &lastBatchKV{} }},
	} {
		b.Run(kv.name, func(b *testing.B) {
			s := openStore(b, kv.open(b))
			c := newTestChain(b)
			c.unsignedCerts = true
			if err := s.InitGenesis(c.genesis, nil); err != nil {
				b.Fatal(err)
			}
			feed := newDataBlockFeed()
			var queue []store.BlockCommit
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if len(queue) == 0 {
					b.StopTimer()
					queue = feed.groups(c, 1, dataBlockBuild)[0]
					b.StartTimer()
				}
				if err := s.Commit(queue[0].Block, queue[0].Changes); err != nil {
					b.Fatal(err)
				}
				queue = queue[1:]
			}
		})
	}
}

// TestCommitDataBlockAllocs: the store writes a data block of 25 readings
// with three allocations: the buffer of its keys and values, the
// prepared block and the header kept among the recent ones.
func TestCommitDataBlockAllocs(t *testing.T) {
	s := openStore(t, &lastBatchKV{})
	c := newTestChain(t)
	c.unsignedCerts = true
	if err := s.InitGenesis(c.genesis, nil); err != nil {
		t.Fatal(err)
	}
	feed := newDataBlockFeed()
	const warm, runs = dataBlockDevices / dataBlockReadings, 100
	blocks := feed.groups(c, 1, warm+runs+1)[0]
	commit := func() {
		if err := s.Commit(blocks[0].Block, blocks[0].Changes); err != nil {
			t.Fatal(err)
		}
		blocks = blocks[1:]
	}
	for range warm { // every device's last reading read once
		commit()
	}
	if n := testing.AllocsPerRun(runs, commit); n > 3 {
		t.Fatalf("a data block of %d readings is written with %v allocations, want 3", dataBlockReadings, n)
	}
}

// newDataBlockFeed is BenchmarkCommitDataBlock's feed: a block every 50 ms.
func newDataBlockFeed() *readingFeed { return newReadingFeed(dataBlockDevices, dataBlockReadings, 50) }

// lastBatchKV is a KV that keeps only the last batch written: enough for
// what a commit reads of the commit before it (the parent's block
// record, the devices' last readings), which is all a benchmark
// committing one block after another reads. It reuses its memory, so a
// benchmark over it measures the allocations of the store. Its batches
// are one at a time; it is not safe for concurrent use.
type lastBatchKV struct {
	last, spare []lastBatchOp
	batch       lastBatch
}

type lastBatchOp struct {
	key, value []byte
	del        bool
}

type lastBatch struct {
	kv  *lastBatchKV
	ops []lastBatchOp
}

var _ store.KV = (*lastBatchKV)(nil)

func (kv *lastBatchKV) Get(key []byte) ([]byte, error) {
	for i := len(kv.last) - 1; i >= 0; i-- {
		if op := kv.last[i]; bytes.Equal(op.key, key) {
			if op.del {
				break
			}
			return bytes.Clone(op.value), nil
		}
	}
	return nil, store.ErrNotFound
}

func (kv *lastBatchKV) Iterate(prefix []byte, opts store.IterOptions, fn func(key, value []byte) error) error {
	var ops []lastBatchOp
	for _, op := range kv.last {
		if !op.del && bytes.HasPrefix(op.key, prefix) &&
			(opts.Start == nil || bytes.Compare(op.key, opts.Start) >= 0) &&
			(opts.End == nil || bytes.Compare(op.key, opts.End) < 0) {
			ops = append(ops, op)
		}
	}
	slices.SortStableFunc(ops, func(a, b lastBatchOp) int { return bytes.Compare(a.key, b.key) })
	if opts.Reverse {
		slices.Reverse(ops)
	}
	for _, op := range ops {
		if err := fn(bytes.Clone(op.key), bytes.Clone(op.value)); err != nil {
			if err == store.ErrStop {
				return nil
			}
			return err
		}
	}
	return nil
}

func (kv *lastBatchKV) NewBatch() store.Batch {
	kv.batch = lastBatch{kv: kv, ops: kv.spare[:0]}
	kv.spare = nil
	return &kv.batch
}

func (kv *lastBatchKV) Close() error { return nil }

func (b *lastBatch) Set(key, value []byte) {
	b.ops = append(b.ops, lastBatchOp{key: key, value: value})
}
func (b *lastBatch) Delete(key []byte) { b.ops = append(b.ops, lastBatchOp{key: key, del: true}) }

func (b *lastBatch) Write() error {
	if b.kv == nil {
		return store.ErrBatchDone
	}
	b.kv.spare, b.kv.last = b.kv.last, b.ops
	b.kv, b.ops = nil, nil
	return nil
}

func (b *lastBatch) Discard() {
	if b.kv != nil {
		b.kv.spare = b.ops
	}
	b.kv, b.ops = nil, nil
}
