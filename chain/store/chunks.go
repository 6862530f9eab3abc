package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// Entries are stored in chunks (schema 5): the entries of a block, in
// block order, EntriesPerChunk to a key, e<lane><height:8><chunk:4>, the
// last chunk holding the rest. Entry i of a block is entry i mod
// EntriesPerChunk of chunk i / EntriesPerChunk. A chunk is
//
//	format (1 byte, chunkV1)  count (uvarint)  count × length (uvarint)  the entries' canonical bytes
//
// so one entry is read with one Get of a few KB and sliced without
// decoding its neighbours, and a block is one prefix scan, as with one
// key per entry, for a sixteenth of the entry keys badger inserts.
const (
	// EntriesPerChunk is how many entries one chunk key holds: entry i of a
	// block is in chunk i / EntriesPerChunk.
	EntriesPerChunk = 16
	chunkV1         = 0x01
)

// errChunk is what a chunk decoder reports, wrapped as corruption of
// the chunk's key.
var errChunk = errors.New("bad entries chunk")

// chunkOf returns the chunk of an entry index and its place in it.
func chunkOf(index uint32) (chunk uint32, at int) {
	return index / EntriesPerChunk, int(index % EntriesPerChunk)
}

// chunkLen is the number of entries of chunk c of a block of n entries.
func chunkLen(n, c uint32) int {
	first := uint64(c) * EntriesPerChunk
	if first >= uint64(n) {
		return 0
	}
	return int(min(uint64(n)-first, EntriesPerChunk))
}

// chunkKey is the key of chunk c of the block of lane at height.
func chunkKey(lane chain.Lane, height uint64, c uint32) []byte {
	return appendChunkKey(make([]byte, 0, chunkKeyLen), lane, height, c)
}

func appendChunkKey(k []byte, lane chain.Lane, height uint64, c uint32) []byte {
	return binary.BigEndian.AppendUint32(appendLaneHeight(k, prefixEntry, lane, height), c)
}

// chunkSize is the encoded size of a chunk of entries.
func chunkSize(entries [][]byte) int {
	n := 1 + uvarintLen(uint64(len(entries)))
	for _, e := range entries {
		n += uvarintLen(uint64(len(e))) + len(e)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendChunk encodes a chunk of entries.
func appendChunk(b []byte, entries [][]byte) []byte {
	b = append(b, chunkV1)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = binary.AppendUvarint(b, uint64(len(e)))
	}
	for _, e := range entries {
		b = append(b, e...)
	}
	return b
}

// putChunks adds the chunks of a block's encoded entries to batch, their
// values cut from one buffer.
func putChunks(batch Batch, lane chain.Lane, height uint64, encs [][]byte) {
	if len(encs) == 0 {
		return
	}
	size := 0
	for c := 0; c < len(encs); c += EntriesPerChunk {
		size += chunkSize(encs[c:min(c+EntriesPerChunk, len(encs))])
	}
	buf := make([]byte, 0, size)
	for c := 0; c < len(encs); c += EntriesPerChunk {
		start := len(buf)
		buf = appendChunk(buf, encs[c:min(c+EntriesPerChunk, len(encs))])
		batch.Set(chunkKey(lane, height, uint32(c/EntriesPerChunk)), buf[start:len(buf):len(buf)])
	}
}

// chunkEntries splits the chunk stored under key into its entries,
// slices of v; want is the number of entries the chunk must hold.
func chunkEntries(key, v []byte, want int) ([][]byte, error) {
	if len(v) < 2 || v[0] != chunkV1 {
		return nil, corrupt(key, "not an entries chunk (%d bytes)", len(v))
	}
	r := &recordReader{b: v[1:], kind: errChunk}
	n := int(r.uvarint("entry count", EntriesPerChunk))
	if r.err == nil && n == 0 {
		r.fail("no entries")
	}
	if r.err == nil && n != want {
		r.fail("%d entries, want %d", n, want)
	}
	if r.err != nil {
		return nil, corrupt(key, "%v", r.err)
	}
	lens := make([]int, n)
	for i := range lens {
		lens[i] = int(r.uvarint("entry length", uint64(len(v))))
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = r.bytes("entry", lens[i])
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d bytes after the entries", len(r.b))
	}
	if r.err != nil {
		return nil, corrupt(key, "%v", r.err)
	}
	return out, nil
}

// chunkEntry returns entry at of the chunk stored under key, a slice of
// v, reading only the lengths before it.
func chunkEntry(key, v []byte, at int) ([]byte, error) {
	if len(v) < 2 || v[0] != chunkV1 {
		return nil, corrupt(key, "not an entries chunk (%d bytes)", len(v))
	}
	r := &recordReader{b: v[1:], kind: errChunk}
	n := int(r.uvarint("entry count", EntriesPerChunk))
	if r.err == nil && at >= n {
		r.fail("holds %d entries, entry %d is asked for", n, at)
	}
	off, size := 0, 0
	for i := 0; i < n && r.err == nil; i++ {
		l := int(r.uvarint("entry length", uint64(len(v))))
		if i < at {
			off += l
		} else if i == at {
			size = l
		}
	}
	if r.err == nil && off+size > len(r.b) {
		r.fail("entry %d ends at %d, the chunk holds %d bytes of entries", at, off+size, len(r.b))
	}
	if r.err != nil {
		return nil, corrupt(key, "%v", r.err)
	}
	return r.b[off : off+size : off+size], nil
}

// entry reads the stored bytes of the entry at loc: one Get of its chunk.
// A missing chunk is reported as ErrNotFound naming the chunk; the caller,
// which found loc in an index, reports it as corruption.
func (s *Store) entry(loc Location) (key, v []byte, err error) {
	c, at := chunkOf(loc.Index)
	key = chunkKey(loc.Lane, loc.Height, c)
	cv, err := s.kv.Get(key)
	if err != nil {
		return key, nil, err
	}
	v, err = chunkEntry(key, cv, at)
	return key, v, err
}

// entryMissing wraps the failure to read an entry an index names: its
// absence is corruption.
func entryMissing(key []byte, loc Location, err error, format string, args ...any) error {
	if errors.Is(err, ErrNotFound) {
		return corrupt(key, "entry %d missing, %s", loc.Index, fmt.Sprintf(format, args...))
	}
	return err
}

// blockEntries calls fn with each stored entry of the block of lane at
// height, which has n entries, in order, checking that the chunks are
// whole and in sequence. The entries are slices of a copy fn may keep.
func (s *Store) blockEntries(lane chain.Lane, height uint64, n uint32, fn func(index uint32, key, entry []byte) error) error {
	prefix := entriesPrefix(lane, height)
	var next uint32 // the next chunk
	err := s.kv.Iterate(prefix, IterOptions{}, func(k, v []byte) error {
		if len(k) != len(prefix)+indexLen {
			return corrupt(k, "entries chunk key of %d bytes, want %d", len(k), len(prefix)+indexLen)
		}
		if c := binary.BigEndian.Uint32(k[len(prefix):]); c != next {
			return corrupt(chunkKey(lane, height, next), "missing (chunk %d is the next stored)", c)
		}
		want := chunkLen(n, next)
		if want == 0 {
			return corrupt(k, "beyond the %d entries of %s/%d", n, lane, height)
		}
		entries, err := chunkEntries(k, bytes.Clone(v), want)
		if err != nil {
			return err
		}
		for i, e := range entries {
			if err := fn(next*EntriesPerChunk+uint32(i), k, e); err != nil {
				return err
			}
		}
		next++
		return nil
	})
	if err != nil {
		return err
	}
	if chunkLen(n, next) > 0 {
		return corrupt(chunkKey(lane, height, next), "missing: %s/%d has %d entries", lane, height, n)
	}
	return nil
}

// EncodedBlock returns the canonical encoding of the committed block of
// lane at height, exactly what chain.Encode of Block(lane, height) gives,
// assembled from the stored entry bytes without decoding them: block
// sync serves blocks this way. Like Block, it rebuilds the header and
// certificate from the block record and checks the entries against the
// header's entries root, so damage is reported, never served.
func (s *Store) EncodedBlock(lane chain.Lane, height uint64) ([]byte, error) {
	key, h, cert, err := s.headerAndCert(lane, height)
	if err != nil {
		return nil, err
	}
	cb, err := chain.Encode(cert)
	if err != nil {
		return nil, corrupt(key, "encoding the rebuilt certificate: %v", err)
	}
	// A block is a CBOR map of its header (1), its readings (2) or
	// transactions (3), left out when there are none, and its
	// certificate (4), keys in that order (chain.Encode is canonical).
	fields := byte(2)
	if h.NumEntries > 0 {
		fields++
	}
	out := make([]byte, 0, 16+chain.HeaderEncodingCap+len(cb)+int(h.NumEntries)*256)
	out = append(out, 0xa0|fields, 0x01)
	out = h.AppendEncoding(out)
	spans := make([][2]int, 0, h.NumEntries)
	if h.NumEntries > 0 {
		field := byte(0x02)
		if lane == chain.LaneTx {
			field = 0x03
		}
		out = append(out, field)
		out = chain.AppendCBORHead(out, 4, uint64(h.NumEntries)) // an array
		err = s.blockEntries(lane, height, h.NumEntries, func(_ uint32, _, e []byte) error {
			spans = append(spans, [2]int{len(out), len(out) + len(e)})
			out = append(out, e...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	leaves := make([][]byte, len(spans))
	for i, sp := range spans {
		leaves[i] = out[sp[0]:sp[1]]
	}
	if err := checkEntriesRoot(lane, height, &h, leaves); err != nil {
		return nil, err
	}
	out = append(out, 0x04)
	return append(out, cb...), nil
}

// checkEntriesRoot checks the stored entries of a block against its
// header's entries root.
func checkEntriesRoot(lane chain.Lane, height uint64, h *chain.Header, leaves [][]byte) error {
	if root := chain.MerkleRoot(leaves); root != h.EntriesRoot {
		// Also chain.ErrInvalid: a block whose entries do not hash to its
		// root is refused so wherever it is met (Block.ValidateBasic).
		return fmt.Errorf("%w: %w", corrupt(entriesPrefix(lane, height), "the entries of %s/%d hash to %s, the header commits to %s", lane, height, root, h.EntriesRoot), chain.ErrInvalid)
	}
	return nil
}
