package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrRestoreTarget is returned by RestoreBadger for a directory that
// already holds something: a restore never merges into a store.
var ErrRestoreTarget = errors.New("restore target is not empty")

// Backup writes a consistent snapshot of the whole store to w in badger's
// backup format (a stream of key-value lists, see badger's DB.Backup). The
// snapshot is one read transaction, so a node may keep committing blocks
// while it runs: the backup holds every block committed before it started
// and no half-written one (a block and its state are one batch). It
// returns the version up to which the backup is complete.
func (s *BadgerKV) Backup(w io.Writer) (uint64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	since, err := s.db.Backup(w, 0)
	if err != nil {
		return 0, fmt.Errorf("backup of %s: %w", s.dir, err)
	}
	return since, nil
}

// restorePendingWrites bounds the keys RestoreBadger buffers before it
// writes them: badger's own default for Load.
const restorePendingWrites = 256

// maxBackupFrame bounds one frame of a backup stream. Badger's Load
// allocates a frame's size before reading it and panics on a size it
// cannot allocate, so RestoreBadger checks every frame first. Badger
// writes frames of a few MiB.
const maxBackupFrame = 256 << 20

// ErrBadBackup is returned by RestoreBadger for a stream that is not a
// whole backup: truncated, or with a frame of an impossible size.
var ErrBadBackup = errors.New("not a complete store backup")

// RestoreBadger makes a new badger store in dir from a stream that Backup
// wrote. dir must not exist or be empty (ErrRestoreTarget): restoring over
// a store would mix two histories. The stream is checked whole (every
// frame present, of a sane size) before anything is written. The store is
// closed again when it returns; open it with OpenBadger.
func RestoreBadger(dir string, r io.ReadSeeker, o BadgerOptions) (err error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%w: %s holds %d entries; restore into a fresh directory", ErrRestoreTarget, dir, len(entries))
	}
	if err := checkBackupFrames(r); err != nil {
		return err
	}
	kv, err := OpenBadger(dir, o)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := kv.Close(); err == nil {
			err = cerr
		}
	}()
	if err := loadBackup(kv, r); err != nil {
		return fmt.Errorf("restore into %s: %w", dir, err)
	}
	// Load writes through badger's batch writer, not with SyncWrites:
	// make the restored store durable before it is reported done.
	if err := kv.db.Sync(); err != nil {
		return fmt.Errorf("restore into %s: sync: %w", dir, err)
	}
	return nil
}

// checkBackupFrames walks the frames of a backup stream (an 8-byte
// little-endian length, then that many bytes) and rewinds it.
func checkBackupFrames(r io.ReadSeeker) error {
	var frames int
	for {
		var hdr [8]byte
		n, err := io.ReadFull(r, hdr[:])
		if n == 0 && err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: frame %d: header cut short", ErrBadBackup, frames)
		}
		size := binary.LittleEndian.Uint64(hdr[:])
		if size > maxBackupFrame {
			return fmt.Errorf("%w: frame %d claims %d bytes (at most %d)", ErrBadBackup, frames, size, maxBackupFrame)
		}
		if _, err := io.CopyN(io.Discard, r, int64(size)); err != nil {
			return fmt.Errorf("%w: frame %d cut short", ErrBadBackup, frames)
		}
		frames++
	}
	_, err := r.Seek(0, io.SeekStart)
	return err
}

// loadBackup runs badger's Load, turning a panic on a damaged frame into
// an error: the frames' sizes were checked, their contents were not.
func loadBackup(kv *BadgerKV, r io.Reader) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrBadBackup, p)
		}
	}()
	if err := kv.db.Load(r, restorePendingWrites); err != nil {
		return fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	return nil
}

// Backuper is a KV that can write a consistent snapshot of itself.
type Backuper interface {
	Backup(w io.Writer) (uint64, error)
}

var _ Backuper = (*BadgerKV)(nil)
