// Package store is the node's chain store: finalized blocks of both lanes
// with their commit certificates, their entries, the indexes over them, the
// state of the state machine and a little metadata, over a small ordered
// key-value interface (KV) with two implementations, badger v4 on disk
// (OpenBadger) and a sorted map in memory (NewMemory), that pass one shared
// suite (package kvtest).
//
// # What callers must do
//
// Commit only finalized blocks that have been verified (signatures, entries
// root, hash link, certificate against the validator set): Store checks
// only what keeps it consistent, that a block is the next of its lane and
// carries a certificate for itself. Commit blocks of one lane in height
// order, together with the state changes of executing them. Open a Store
// once per KV, and close the KV after the last use of the Store. A Store is
// safe for concurrent use.
//
// # Reads
//
// Head answers from memory. Block, BlockByHash, Header and Cert read
// blocks; Reading, Readings, LatestReadings and ReadingsUpTo read readings
// by device and sequence or time (ReadingsUpTo ignores blocks above a
// height, as settlement must); ReadingByHash and Tx find a reading or a
// transaction by hash; TxsByKind lists the transactions of one kind,
// newest first, from a cursor (kinds.go); State and
// IterateState serve the state machine (state.Reader, through a small
// adapter); GenesisHash and CheckGenesis tell which network a store
// belongs to. Absent things give ErrNotFound; a missing record that the
// store says exists (below the lane head, or named by an index) gives
// ErrCorrupt.
//
// # Atomicity and recovery
//
// Commit writes a block, its certificate, its entries, every index, the
// state changes and the new lane head in one KV batch; badger writes it as
// one transaction with SyncWrites, one fsync per block. CommitBlocks
// writes many blocks of both lanes the same way in one batch (split in
// order when they do not fit one), one fsync for all: block sync uses it.
// A crash at any instant leaves the store at the last fully written block
// of each lane (a prefix of the blocks of a CommitBlocks, each whole), and
// Open resumes there. badger's memtable is sized (DefaultMemTableSize)
// so that a maximal block fits one transaction.
//
// Badger is the fork in third_party/badger (go.mod's replace): upstream
// v4.9.6 with two changes (third_party/badger/WATERCHAIN.md). A
// transaction's writes are inserted into the memtable in key order rather
// than in a Go map's, which halves what an insert into a memtable of a
// million keys costs and was the largest single cost of a node at high
// load and of block sync. And an option, WithL0Compression, which
// OpenBadger sets to none: a memtable flush writes its level-0 table
// without compression, left to the compaction that rewrites it.
//
// Badger starts every transaction, a read's too, only once the writes
// committed before it are applied, fsync included: a read waits for the
// write in flight. The store therefore keeps the lane heads and the
// newest recentHeaders headers of each lane it wrote in memory, so that a
// node's loop checking a proposal against recent blocks does not wait for
// the commit writer (node/commitwriter.go); callers on such a path should
// not open batches they may not need either.
//
// # Key layout
//
// Integers are big-endian, so byte order is numeric order; a lane is one
// byte (chain.Lane); times are Unix milliseconds with the sign bit flipped,
// so byte order is time order. Values are canonical CBOR (chain.Encode)
// where they are chain types, except block records (record.go).
//
//	m<name>                        metadata: "schema" (8-byte version), "genesis" (32-byte hash)
//	l<lane>                        lane head: height (8), header (CBOR)
//	h<lane><height:8>              block record: header and certificate without derivable fields (record.go)
//	v<id:4>                        a value block records share: chain id, validator key, set hash (shared.go)
//	e<lane><height:8><chunk:4>     entries chunk: 16 entries (readings or transactions) in block order (chunks.go)
//	b<hash:8><lane><height:8>      block by hash (first 8 bytes), empty value
//	n<device:32><seq:8>            reading in order by device and sequence: time (8), height (8), index (4)
//	q<device:32><seq:8>            late reading by device and sequence: time (8), height (8), index (4)
//	r<device:32><time:8><seq:8>    late reading by device and time: height (8), index (4)
//	d<hash:8><height:8><index:4>   reading by hash (first 8 bytes), empty value
//	x<tx hash:32>                  transaction by hash: height (8), index (4)
//	k<kind:1><height:8><index:4>   transaction by kind (kinds.go), empty value
//	s<state key>                   state value
//	i<…>                           reserved for node/images (Reserve; reserved.go)
//
// A store of an older schema is upgraded in place by Open (migrate.go), a
// store of a newer one refused. Schema 3 stored a CBOR header under h, a
// CBOR certificate under c<lane><height:8> and b<block hash:32> → lane,
// height; schema 4 stores a block in about 360 bytes after compaction
// instead of 560 (docs/performance-log.md, "A long history"). Schema 4
// stored one entry per key, e<lane><height:8><index:4>; schema 5 stores
// them 16 to a key, so that a reading costs badger three keys and a
// sixteenth instead of four.
// Schema 5 indexed every reading twice by device, n<device><seq> and
// r<device><time><seq> → height, index; schema 6 indexes a reading in
// order once, under n with its time, so that it costs two keys and a
// sixteenth (devindex.go); and it keys the reading hash index by 8 bytes
// of the hash with the location, d<hash:8><height:8><index:4> (21 bytes,
// no value) instead of d<hash:32> → height, index (45 bytes), a lookup
// telling readings whose hashes begin the same apart by their entries.
//
// A block record holds what cannot be derived: its own hash (first, so a
// hash is one Get), time, state and entries roots, anchor height, round
// and signatures; the previous and anchor hashes are read from the records
// they name, and the header rebuilt from a record must hash to the hash it
// holds, so damage anywhere is found on read. A read that finds another
// block's record damaged names that block (BlockRecordError).
//
// Entries are stored in chunks of 16 per key: entry i of a block is entry
// i mod 16 of chunk i / 16, a chunk holding its entries' lengths before
// their canonical bytes. One reading or transaction is read with one Get
// of its chunk (a few KB), sliced without decoding the others; a block is
// read with one prefix scan, and EncodedBlock assembles its canonical
// encoding from the stored bytes without decoding them. The reading
// indexes hold locations, not copies. A reading is in order when its
// sequence number and time are both above those of its device's last
// reading in order when it is committed, as the data-lane rules make every
// reading but one that fills a gap late; the readings in order (n) are
// then in time order as well as in sequence order, and the late ones are
// indexed by sequence (q) and by time (r). "Readings of device D from T1
// to T2" is a search over the sequence numbers of n for T1 (two seeks
// for a device that reads regularly, O(log n) at worst), the last of
// which reads on through the range, plus a range scan of r, and one read
// per reading; "the latest N"
// is a reverse scan of n and of q. Which of n or q a reading goes to
// depends on the readings before it: BlockIndexSum digests it as its n
// entry either way, and IndexSum checks r against q and n's time order.
// State keys are under s, so no state key can collide with a block key.
//
// Tables are ZSTD-compressed in 16 KiB blocks (WithTableFormat), which
// finds the keys, hashes and field names that repeat between neighbouring
// records; a freshly flushed level-0 table is not, until its first
// compaction (at most NumLevelZeroTables of them, about a memtable each).
//
// Every stored value is decoded strictly (chain.Decode) and checked against
// the key it is stored under; bytes that fail give ErrCorrupt naming the
// key, never a panic.
package store
