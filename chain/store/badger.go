package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Sizes of the badger store.
//
// Badger writes a transaction only if it is under 15% of MemTableSize and
// has fewer writes than that many bytes over 96. The largest batch a node
// writes is a maximal data block: chain.MaxBlockEntries readings of at
// most about 230 bytes each, at most three keys and a sixteenth per
// reading (a late reading's device, time and hash index entries and a
// sixteenth of an entries chunk; two and a sixteenth in order), and a
// state change per device: about 22 MB and 200,000 writes. A 192 MiB
// memtable takes 30 MB and 314,000 writes, which leaves margin;
// TestMaximalBlock commits such a block. The memtable's arena is
// allocated whole, so this is also the main memory cost of a store (two
// memtables at most: one filling, one being flushed).
const (
	DefaultMemTableSize   = 192 << 20
	MinMemTableSize       = 8 << 20
	DefaultBlockCacheSize = 64 << 20
)

// The table format of the store. ZSTD in 16 KiB blocks stores the chain
// in about three quarters of what Snappy in badger's 4 KiB blocks takes:
// headers, certificates and readings repeat chain ids, validator keys and
// device keys that a larger block and a stronger coder find again
// (measured with `waterchain bench history`; docs/performance-log.md,
// "A long history").
// A read that misses the block cache decompresses one 16 KiB block, tens
// of microseconds. Badger records each table's compression in its
// manifest, so tables written with Snappy by an older version stay
// readable and are rewritten in this format as compaction reaches them.
//
// Level 1 (klauspost's SpeedFastest) rather than 3 (SpeedDefault): the
// stored bytes are mostly hashes, keys and signatures, where the faster
// coder finds what repeats as well (`bench history --blocks 100000
// --full-blocks 1000`: 365 B per empty block and 162 B per reading, against
// 364 and 162 at level 3), and table builds, every byte flushed and
// compacted, were 10% of a catching-up auditor's CPU at level 3.
const (
	tableBlockSize = 16 << 10
	zstdLevel      = 1
)

// WithTableFormat sets the table format of the store (compression and
// block size) on badger options. OpenBadger uses it; a tool that opens a
// store's directory with badger directly (the history benchmark compacts
// one to measure it) uses it too, so that what it rewrites has the
// store's format.
func WithTableFormat(o badger.Options) badger.Options {
	return o.WithCompression(options.ZSTD).WithZSTDCompressionLevel(zstdLevel).WithBlockSize(tableBlockSize)
}

// ErrLocked is returned by OpenBadger when another process (or another
// BadgerKV in this one) has the directory open.
var ErrLocked = errors.New("store directory is in use")

// ErrOpen is returned (wrapped) by OpenBadger for a directory it cannot
// open as a store: unreadable, not a badger store, or damaged.
var ErrOpen = errors.New("cannot open store")

// BadgerOptions configure OpenBadger. The zero value is the production
// configuration.
type BadgerOptions struct {
	// Logger receives badger's messages: its errors and warnings at their
	// level, its chatter (table and compaction notices) at Debug, so it is
	// quiet at the default Info level. Nil: slog.Default().
	Logger *slog.Logger
	// MemTableSize bounds the in-memory write buffer and so the largest
	// atomic batch (15% of it). 0: DefaultMemTableSize, which a node must
	// use: below it a maximal block may not fit (ErrBatchTooBig). Tests
	// with small blocks may go down to MinMemTableSize, which opens
	// faster and takes less memory.
	MemTableSize int64
	// BlockCacheSize is the cache of decompressed table blocks. 0:
	// DefaultBlockCacheSize; negative: no cache.
	BlockCacheSize int64
	// ReadOnly opens an existing store for reading only (an audit of a
	// stopped node's store): the directory must exist, nothing is created
	// or written, and every batch fails. A read-only open shares the
	// directory lock with other read-only opens but not with a node
	// running on it (ErrLocked). A store whose last writer did not close
	// it cleanly cannot be opened read-only (ErrOpen says so): run the
	// node on it once to recover it.
	ReadOnly bool
}

// Validate names the first bad field.
func (o *BadgerOptions) Validate() error {
	if o.MemTableSize != 0 && o.MemTableSize < MinMemTableSize {
		return fmt.Errorf("badger options: mem_table_size %d is below the minimum %d", o.MemTableSize, MinMemTableSize)
	}
	return nil
}

// BadgerKV is a KV on badger v4 in a directory. Every batch is one badger
// transaction, written with SyncWrites: when Write returns, the batch is on
// stable storage and survives a crash.
type BadgerKV struct {
	db     *badger.DB
	dir    string
	closed atomic.Bool
}

var _ KV = (*BadgerKV)(nil)

// OpenBadger opens (creating it when needed) the badger store in dir.
// A directory in use by another process gives ErrLocked; one that badger
// cannot open gives ErrOpen.
func OpenBadger(dir string, o BadgerOptions) (*BadgerKV, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "badger", "dir", dir)
	mem := o.MemTableSize
	if mem == 0 {
		mem = DefaultMemTableSize
	}
	cache := o.BlockCacheSize
	switch {
	case cache == 0:
		cache = DefaultBlockCacheSize
	case cache < 0:
		cache = 0
	}
	if o.ReadOnly {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			return nil, fmt.Errorf("%w at %s: no store directory there (has a node run with this home?)", ErrOpen, dir)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrOpen, dir, err)
	}
	opts := WithTableFormat(badger.DefaultOptions(dir)).
		WithLogger(slogLogger{log}).
		// One fsync per batch, that is per block: a committed block
		// survives a crash.
		WithSyncWrites(true).
		WithMemTableSize(mem).
		// Two memtables (one filling, one flushing) bound memory; a
		// memtable takes minutes of full-rate ingestion to fill.
		WithNumMemtables(2).
		WithBlockCacheSize(cache).
		// Two compactors suit the small machines validators run on.
		WithNumCompactors(2).
		// A memtable flush writes its level-0 table uncompressed (the
		// fork's option, third_party/badger/WATERCHAIN.md): compaction
		// rewrites it with ZSTD anyway, and a flush compressing 192 MiB
		// with ZSTD took a second or two of a core, on every validator at
		// once. Level 0 holds at most NumLevelZeroTables (5) tables.
		WithL0Compression(options.None).
		// Store serializes its writes, so badger's conflict detection
		// would only cost memory.
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithReadOnly(o.ReadOnly)
	db, err := badger.Open(opts)
	if err != nil {
		if o.ReadOnly && errors.Is(err, badger.ErrTruncateNeeded) {
			return nil, fmt.Errorf("%w at %s: the store was not closed cleanly (its node crashed or was killed), and a read-only open cannot recover it; start the node on it once and stop it cleanly, then try again", ErrOpen, dir)
		}
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("%w: %s is open in another process (is a node already running with this home?); stop it or use another home directory", ErrLocked, dir)
		}
		return nil, fmt.Errorf("%w at %s: %v (if the store is damaged, move it aside and resync the node from its peers)", ErrOpen, dir, err)
	}
	return &BadgerKV{db: db, dir: dir}, nil
}

// Dir is the directory of the store.
func (s *BadgerKV) Dir() string { return s.dir }

// Get implements KV.
func (s *BadgerKV) Get(key []byte) ([]byte, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return nil, fmt.Errorf("%w: key %q", ErrNotFound, key)
	case errors.Is(err, badger.ErrEmptyKey):
		return nil, fmt.Errorf("%w: key %q", ErrNotFound, key)
	case err != nil:
		return nil, s.wrap(err)
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// Iterate implements KV. The snapshot is a badger read transaction.
func (s *BadgerKV) Iterate(prefix []byte, opts IterOptions, fn func(key, value []byte) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	lo, hi := iterBounds(prefix, opts)
	if hi != nil && bytes.Compare(lo, hi) >= 0 {
		return nil
	}
	err := s.db.View(func(txn *badger.Txn) error {
		io := badger.IteratorOptions{
			// Values live in the LSM tree (under ValueThreshold), so
			// reading them in the loop costs no extra I/O.
			PrefetchValues: false,
			Reverse:        opts.Reverse,
		}
		if !opts.Reverse {
			// Prefix lets badger skip tables. Not in reverse: there
			// the seek lands on hi, which may lie outside the prefix,
			// and badger would end the iteration on it.
			io.Prefix = prefix
		}
		it := txn.NewIterator(io)
		defer it.Close()
		var valid func() bool
		if opts.Reverse {
			if hi != nil {
				it.Seek(hi) // the largest key ≤ hi; hi itself is skipped below
			} else {
				it.Rewind()
			}
			valid = func() bool { return it.Valid() && bytes.Compare(it.Item().Key(), lo) >= 0 }
		} else {
			it.Seek(lo)
			valid = func() bool { return it.Valid() && (hi == nil || bytes.Compare(it.Item().Key(), hi) < 0) }
		}
		for ; valid(); it.Next() {
			item := it.Item()
			key := item.Key()
			if opts.Reverse && hi != nil && bytes.Compare(key, hi) >= 0 {
				continue
			}
			var ferr error
			if err := item.Value(func(v []byte) error {
				ferr = fn(key, v)
				return nil
			}); err != nil {
				return err
			}
			if ferr != nil {
				return ferr
			}
		}
		return nil
	})
	if err == nil {
		return nil
	}
	if errors.Is(err, badger.ErrDBClosed) {
		return ErrClosed
	}
	return stopped(err)
}

// NewBatch implements KV. The batch is a badger write transaction.
func (s *BadgerKV) NewBatch() Batch {
	if s.closed.Load() {
		return &badgerBatch{kv: s, err: ErrClosed}
	}
	return &badgerBatch{kv: s, txn: s.db.NewTransaction(true)}
}

// Close implements KV: it flushes and closes badger.
func (s *BadgerKV) Close() error {
	if s.closed.Swap(true) {
		return ErrClosed
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing store at %s: %w", s.dir, err)
	}
	return nil
}

func (s *BadgerKV) wrap(err error) error {
	if errors.Is(err, badger.ErrDBClosed) {
		return ErrClosed
	}
	return fmt.Errorf("store at %s: %w", s.dir, err)
}

type badgerBatch struct {
	kv   *BadgerKV
	txn  *badger.Txn
	err  error // the first error of Set or Delete, reported by Write
	done bool
}

func (b *badgerBatch) Set(key, value []byte) {
	if b.err != nil || b.done {
		return
	}
	if len(key) == 0 {
		b.err = fmt.Errorf("%w in Set", ErrEmptyKey)
		return
	}
	b.err = b.kv.batchErr(b.txn.Set(key, value))
}

func (b *badgerBatch) Delete(key []byte) {
	if b.err != nil || b.done {
		return
	}
	if len(key) == 0 {
		b.err = fmt.Errorf("%w in Delete", ErrEmptyKey)
		return
	}
	b.err = b.kv.batchErr(b.txn.Delete(key))
}

func (b *badgerBatch) Write() error {
	if b.done {
		return ErrBatchDone
	}
	b.done = true
	if b.txn == nil {
		return b.err
	}
	if b.kv.closed.Load() {
		// Badger has stopped: discarding the transaction now would
		// signal goroutines that are gone.
		b.txn = nil
		return ErrClosed
	}
	defer b.release()
	if b.err != nil {
		return b.err
	}
	return b.kv.batchErr(b.txn.Commit())
}

func (b *badgerBatch) Discard() {
	b.done = true
	b.release()
}

// release discards the transaction once, unless the KV is closed.
func (b *badgerBatch) release() {
	if b.txn != nil && !b.kv.closed.Load() {
		b.txn.Discard()
	}
	b.txn = nil
}

func (s *BadgerKV) batchErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrTxnTooBig):
		return fmt.Errorf("%w: over %d bytes or %d writes", ErrBatchTooBig, s.db.MaxBatchSize(), s.db.MaxBatchCount())
	}
	return s.wrap(err)
}

// slogLogger adapts slog to badger.Logger. Badger's Info messages are
// routine (tables opened, compactions) and go to Debug.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) logf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l slogLogger) Errorf(f string, a ...any)   { l.logf(slog.LevelError, f, a...) }
func (l slogLogger) Warningf(f string, a ...any) { l.logf(slog.LevelWarn, f, a...) }
func (l slogLogger) Infof(f string, a ...any)    { l.logf(slog.LevelDebug, f, a...) }
func (l slogLogger) Debugf(f string, a ...any)   { l.logf(slog.LevelDebug-4, f, a...) }
