package consensus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/waterchain/waterchain/chain"
)

// File-backed WAL.
//
// The log is one file, DIR/wal, a sequence of frames:
//
//	length  uint32, big endian: payload bytes
//	crc     uint32, big endian: CRC-32C (Castagnoli) of length and payload
//	payload chain.Encode(Record)
//
// Each Append writes one frame and fsyncs the file before returning, so a
// crash can damage only the frame being written. OpenWAL therefore accepts
// a last frame that ends past the end of the file (a torn write) or a tail
// of zero bytes (a file extended but never written), and cuts it off. Any
// other damage — a bad checksum, an undecodable payload, a record that does
// not follow the one before — is corruption: OpenWAL fails with
// ErrWALCorrupt naming the file and offset, and the node must not sign
// until an operator has looked.
//
// The last record is the last-signed record; Append refuses anything that
// conflicts with it. Prune rewrites the file (to a temporary file, fsync,
// rename, fsync of the directory) keeping the records from a height on and
// always the last record: the file's tail, copied once its checksums hold.

const (
	walFileName = "wal"
	frameHeader = 8
	// maxRecordSize bounds a frame's payload: a proposal with the largest
	// block plus room for the record around it.
	maxRecordSize = chain.MaxMessageSize + 1<<16
	// pruneMinBytes keeps Prune from rewriting a small log at every height.
	pruneMinBytes = 4 << 20
	// walBufferKept bounds the frame buffer Append keeps between records:
	// a record holds a block of some kilobytes at most heights.
	walBufferKept = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FileWAL is a WAL in a file, for nodes. It is not safe for concurrent
// use, and one directory must be used by one engine only.
type FileWAL struct {
	dir  string
	path string
	f    *os.File
	size int64
	// index has each record's height and where its frame starts: all
	// Prune needs, since the records it keeps (from a height on, and the
	// last) are the file's tail. Records reads the records back from the
	// file. Keeping the records instead held every block the node
	// precommitted, with its proof of lock, until the next prune.
	index []walEntry
	// opened holds the records read at open until the first Records call
	// takes them (the engine's, at NewEngine), so that a start parses the
	// file once. Append and Prune drop them.
	opened []*Record
	buf    []byte  // the last frame appended, its room kept for the next
	last   *Signed // &lastPos once the log has a record
	// lastPos is the last-signed record, held here so that Append does
	// not allocate one per record.
	lastPos Signed
	broken  error
	pruneAt int64 // Prune rewrites only a file at least this large
}

// walEntry is what FileWAL keeps of a record: its height and the offset
// of its frame in the file.
type walEntry struct {
	height uint64
	off    int64
}

var _ WAL = (*FileWAL)(nil)

// OpenWAL opens (creating it if needed) the WAL in dir, replays it and
// cuts off a torn last record. It fails with ErrWALCorrupt for any other
// damage.
func OpenWAL(dir string) (*FileWAL, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("wal: create directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, walFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", path, err)
	}
	w := &FileWAL{dir: dir, path: path, f: f, pruneAt: pruneMinBytes}
	if err := w.load(); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

func (w *FileWAL) load() error {
	data, err := io.ReadAll(w.f)
	if err != nil {
		return fmt.Errorf("wal: read %s: %w", w.path, err)
	}
	recs, end, err := parseFrames(w.path, data)
	if err != nil {
		return err
	}
	if end < len(data) {
		if err := w.f.Truncate(int64(end)); err != nil {
			return fmt.Errorf("wal: cut torn last record of %s at offset %d: %w", w.path, end, err)
		}
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("wal: sync %s: %w", w.path, err)
		}
	}
	if _, err := w.f.Seek(int64(end), io.SeekStart); err != nil {
		return fmt.Errorf("wal: seek %s: %w", w.path, err)
	}
	w.size = int64(end)
	w.opened = recs
	var off int64
	for _, r := range recs {
		w.index = append(w.index, walEntry{height: r.Position().Height, off: off})
		off += frameHeader + int64(binary.BigEndian.Uint32(data[off:]))
	}
	if len(recs) > 0 {
		pos := recs[len(recs)-1].Position()
		w.lastPos = pos
		w.last = &w.lastPos
	}
	return nil
}

// parseFrames decodes the frames of data. It returns the records and the
// offset where the intact frames end; data beyond it is a torn tail.
func parseFrames(path string, data []byte) ([]*Record, int, error) {
	var (
		recs []*Record
		last *Signed
		off  int
	)
	corrupt := func(at int, format string, args ...any) error {
		return fmt.Errorf("%w: %s at offset %d: %s; the node must not sign until this is resolved: "+
			"if the damage is in the last record, cut the file there (truncate -s %d %s) and restart, "+
			"otherwise restore the file from a backup or, knowing the validator may then double-sign "+
			"if it restarts below its last signed height, move it aside",
			ErrWALCorrupt, path, at, fmt.Sprintf(format, args...), at, path)
	}
	for off < len(data) {
		rest := data[off:]
		if allZero(rest) {
			return recs, off, nil // extended but never written: torn
		}
		if len(rest) < frameHeader {
			return recs, off, nil // torn header
		}
		n := binary.BigEndian.Uint32(rest[0:4])
		if n == 0 || n > maxRecordSize {
			return nil, 0, corrupt(off, "record length %d out of range 1..%d", n, maxRecordSize)
		}
		if uint64(len(rest)) < frameHeader+uint64(n) {
			if validFrameIn(rest[1:]) {
				return nil, 0, corrupt(off, "record length %d runs past the end of the file but intact records follow", n)
			}
			return recs, off, nil // torn payload
		}
		frame := rest[:frameHeader+int(n)]
		if got, want := frameSum(frame[0:4], frame[frameHeader:]), binary.BigEndian.Uint32(frame[4:8]); got != want {
			return nil, 0, corrupt(off, "checksum %08x, record has %08x", got, want)
		}
		var rec Record
		if err := chain.Decode(frame[frameHeader:], &rec); err != nil {
			return nil, 0, corrupt(off, "record does not decode: %v", err)
		}
		if err := rec.Validate(); err != nil {
			return nil, 0, corrupt(off, "%v", err)
		}
		pos := rec.Position()
		if _, err := checkSign(last, pos); err != nil {
			return nil, 0, corrupt(off, "record out of order: %v", err)
		}
		last = &pos
		recs = append(recs, &rec)
		off += len(frame)
	}
	return recs, off, nil
}

// validFrameIn reports whether a complete frame with a good checksum
// starts anywhere in b: then the frame before it was not the last one
// written, and its bad length is corruption, not a torn write.
func validFrameIn(b []byte) bool {
	for i := 0; i+frameHeader <= len(b); i++ {
		n := binary.BigEndian.Uint32(b[i : i+4])
		if n == 0 || uint64(len(b)-i) < frameHeader+uint64(n) {
			continue
		}
		payload := b[i+frameHeader : i+frameHeader+int(n)]
		if frameSum(b[i:i+4], payload) == binary.BigEndian.Uint32(b[i+4:i+8]) {
			return true
		}
	}
	return false
}

func allZero(b []byte) bool {
	return len(bytes.TrimLeft(b, "\x00")) == 0
}

// sealFrame fills in the header of fr, a frame whose payload follows
// frameHeader bytes of room: the payload's length and checksum.
func sealFrame(fr []byte) {
	binary.BigEndian.PutUint32(fr[0:4], uint32(len(fr)-frameHeader))
	binary.BigEndian.PutUint32(fr[4:8], frameSum(fr[0:4], fr[frameHeader:]))
}

// frameSum is the CRC-32C of a frame's length field and payload.
func frameSum(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

// Path is the log file's path.
func (w *FileWAL) Path() string { return w.path }

// Records returns the records in the file, oldest first: the ones read
// at open the first time, else read back from the file.
func (w *FileWAL) Records() ([]*Record, error) {
	if w.broken != nil {
		return nil, w.broken
	}
	if recs := w.opened; recs != nil {
		w.opened = nil
		return recs, nil
	}
	data := make([]byte, w.size)
	if _, err := w.f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("wal: read %s: %w", w.path, err)
	}
	recs, end, err := parseFrames(w.path, data)
	if err != nil {
		return nil, err
	}
	if end != len(data) || len(recs) != len(w.index) {
		return nil, fmt.Errorf("%w: %s reads back as %d records in %d of its %d bytes, %d were written; "+
			"the node must not sign until an operator has looked at it", ErrWALCorrupt, w.path, len(recs), end, len(data), len(w.index))
	}
	return recs, nil
}

// LastSigned returns the last-signed record, if any.
func (w *FileWAL) LastSigned() (Signed, bool) {
	if w.last == nil {
		return Signed{}, false
	}
	return *w.last, true
}

// Append writes rec and fsyncs the file. After a failed write the WAL
// refuses every further call: the file may end in a torn frame, which only
// a reopen may cut off.
func (w *FileWAL) Append(rec *Record) error {
	if w.broken != nil {
		return w.broken
	}
	if err := rec.Validate(); err != nil {
		return err
	}
	pos := rec.Position()
	repeat, err := checkSign(w.last, pos)
	if err != nil || repeat {
		return err
	}
	w.opened = nil
	fr, err := appendRecord(append(w.buf[:0], make([]byte, frameHeader)...), rec)
	if err != nil {
		return fmt.Errorf("wal: encode %s: %w", pos, err)
	}
	if n := len(fr) - frameHeader; n > maxRecordSize {
		return fmt.Errorf("wal: record %s of %d bytes exceeds %d", pos, n, maxRecordSize)
	}
	sealFrame(fr)
	if cap(fr) <= walBufferKept {
		w.buf = fr[:0]
	} else {
		w.buf = nil // a large block's: not held for the small frames that follow
	}
	if _, err := w.f.Write(fr); err != nil {
		w.broken = fmt.Errorf("%w: write %s: %w", ErrWALClosed, w.path, err)
		return w.broken
	}
	if err := w.f.Sync(); err != nil {
		w.broken = fmt.Errorf("%w: fsync %s: %w", ErrWALClosed, w.path, err)
		return w.broken
	}
	w.index = append(w.index, walEntry{height: pos.Height, off: w.size})
	w.size += int64(len(fr))
	w.lastPos = pos
	w.last = &w.lastPos
	return nil
}

// Prune drops the records below height, keeping the last one, once the
// file has grown past a few megabytes.
func (w *FileWAL) Prune(height uint64) error {
	if w.broken != nil {
		return w.broken
	}
	w.opened = nil
	if w.size < w.pruneAt {
		return nil
	}
	// It keeps what pruneRecords keeps: the records from the first at
	// height or above, and the last in any case. Heights only grow along
	// the file (checkSign), so these are its tail, copied as it is: the
	// frames chain.Encode gave those records when they were appended.
	first, _ := slices.BinarySearchFunc(w.index, height, func(e walEntry, h uint64) int { return cmp(e.height, h) })
	if first = min(first, len(w.index)-1); first <= 0 {
		return nil
	}
	from := w.index[first].off
	tail := make([]byte, w.size-from)
	if _, err := w.f.ReadAt(tail, from); err != nil {
		return fmt.Errorf("wal: prune %s: read: %w", w.path, err)
	}
	if err := w.checkFrames(tail, w.index[first:]); err != nil {
		return fmt.Errorf("wal: prune: %w", err)
	}
	tmp := w.path + ".tmp"
	if err := writeFileSync(tmp, tail); err != nil {
		return fmt.Errorf("wal: prune %s: %w", w.path, err)
	}
	if err := os.Rename(tmp, w.path); err != nil {
		return fmt.Errorf("wal: prune %s: %w", w.path, err)
	}
	if err := syncDir(w.dir); err != nil {
		return fmt.Errorf("wal: prune %s: %w", w.path, err)
	}
	f, err := os.OpenFile(w.path, os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		w.broken = fmt.Errorf("%w: reopen %s after prune: %w", ErrWALClosed, w.path, err)
		return w.broken
	}
	w.f.Close()
	w.f = f
	w.index = w.index[:copy(w.index, w.index[first:])]
	for i := range w.index {
		w.index[i].off -= from
	}
	w.size -= from
	return nil
}

// checkFrames checks that tail, the file from entries[0].off on, holds
// the frames of entries as they were written: lengths that match the
// offsets, and good checksums. A prune must not carry damage over.
func (w *FileWAL) checkFrames(tail []byte, entries []walEntry) error {
	base := entries[0].off
	for i, e := range entries {
		end := int64(len(tail))
		if i+1 < len(entries) {
			end = entries[i+1].off - base
		}
		fr := tail[e.off-base : end]
		if len(fr) < frameHeader || binary.BigEndian.Uint32(fr[0:4]) != uint32(len(fr)-frameHeader) ||
			binary.BigEndian.Uint32(fr[4:8]) != frameSum(fr[0:4], fr[frameHeader:]) {
			return fmt.Errorf("%w: %s: the record at offset %d does not read back as it was written; "+
				"the node must not sign until an operator has looked at it", ErrWALCorrupt, w.path, e.off)
		}
	}
	return nil
}

// Close closes the file. The WAL refuses every call after it.
func (w *FileWAL) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if w.broken == nil {
		w.broken = fmt.Errorf("%w: %s", ErrWALClosed, w.path)
	}
	return err
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
