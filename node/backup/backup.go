// Package backup writes and restores backups of a node home: the store as
// a consistent snapshot (badger's backup stream), the home's config.toml
// and genesis.json, and the node key only when asked.
//
// A backup is a gzipped tar archive whose first entry is the manifest
// (manifest.json: format, network, heights, the store stream's size and
// SHA-256), then genesis.json, config.toml, node_key.json when included,
// and store.badger. Restore checks the manifest, the genesis hash and the
// stream's digest before it writes anything, and makes a new home; it
// never writes into an existing one.
//
// The consensus WAL is never backed up. It records what a validator
// signed; a restored older copy would let the validator sign again, at a
// height and round it already signed at, something else: equivocation,
// recorded as evidence against it. See RestoreOptions.
//
// A running node's store is locked by its process; Write then takes the
// snapshot through the node's admin socket (DIR/admin.sock, see
// node.AdminSocketName). A stopped node's store is opened read-only.
package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/keys"
)

// Format names the archive layout in the manifest.
const Format = "waterchain-backup/1"

// Names of the archive's entries.
const (
	manifestName = "manifest.json"
	storeName    = "store.badger"
)

// maxSmallEntry bounds every entry but the store: config, genesis and key
// files are kilobytes to a few megabytes.
const maxSmallEntry = 64 << 20

var (
	// ErrNotBackup: the file is not a backup this version can restore.
	ErrNotBackup = errors.New("not a waterchain backup")
	// ErrDamaged: the archive is cut short or its contents do not match
	// its manifest.
	ErrDamaged = errors.New("backup is damaged")
	// ErrNodeKey: restore needs a node key and none was given.
	ErrNodeKey = errors.New("no node key for the restored home")
)

// Manifest describes a backup.
type Manifest struct {
	Format      string     `json:"format"`
	ChainID     string     `json:"chain_id"`
	GenesisHash chain.Hash `json:"genesis_hash"`
	Created     time.Time  `json:"created"`
	// Software that took the backup.
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	// Online: taken from a running node through its admin socket.
	Online bool `json:"online"`
	// DataHeight and TxHeight: the store holds at least these heights.
	DataHeight uint64 `json:"data_height"`
	TxHeight   uint64 `json:"tx_height"`
	NodeKey    bool   `json:"node_key"`
	// StoreBytes and StoreSHA256 describe the store stream.
	StoreBytes  int64  `json:"store_bytes"`
	StoreSHA256 string `json:"store_sha256"`
}

// Options shape Write.
type Options struct {
	// IncludeNodeKey puts node_key.json in the backup. Off by default: a
	// backup is often kept where the validator's signing key must not be.
	IncludeNodeKey bool
	// TempDir holds the store stream while the archive is written ("":
	// the system's).
	TempDir string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Write writes a backup of the node home h to w.
func Write(ctx context.Context, w io.Writer, h home.Home, o Options) (*Manifest, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	g, err := h.LoadGenesis()
	if err != nil {
		return nil, err
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		return nil, err
	}
	b := node.Build()
	m := &Manifest{Format: Format, ChainID: g.ChainID, GenesisHash: g.Hash(), Created: o.Now().UTC(),
		Version: b.Version, Commit: b.Commit, NodeKey: o.IncludeNodeKey}

	tmp, err := os.CreateTemp(o.TempDir, "waterchain-store-*.badger")
	if err != nil {
		return nil, err
	}
	defer func() { tmp.Close(); os.Remove(tmp.Name()) }()
	digest := sha256.New()
	dataDir, _ := h.StorageDirs(cfg)
	if err := snapshot(ctx, h, dataDir, m, io.MultiWriter(tmp, digest)); err != nil {
		return nil, err
	}
	if m.GenesisHash != g.Hash() {
		return nil, fmt.Errorf("%w: the store belongs to network %s, the home's genesis.json to %s", ErrNotBackup, m.GenesisHash.Short(), g.Hash().Short())
	}
	if m.StoreBytes, err = tmp.Seek(0, io.SeekCurrent); err != nil {
		return nil, err
	}
	m.StoreSHA256 = hex.EncodeToString(digest.Sum(nil))
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}

	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	files := []struct {
		name string
		data func() ([]byte, error)
	}{
		{manifestName, func() ([]byte, error) { return manifest, nil }},
		{home.GenesisFileName, func() ([]byte, error) { return os.ReadFile(h.GenesisFile()) }},
		{home.ConfigFileName, func() ([]byte, error) { return os.ReadFile(h.ConfigFile()) }},
	}
	if o.IncludeNodeKey {
		files = append(files, struct {
			name string
			data func() ([]byte, error)
		}{home.NodeKeyFileName, func() ([]byte, error) { return os.ReadFile(h.NodeKeyFile()) }})
	}
	for _, f := range files {
		data, err := f.data()
		if err != nil {
			return nil, err
		}
		if err := writeEntry(tw, f.name, int64(len(data)), m.Created, bytes.NewReader(data)); err != nil {
			return nil, err
		}
	}
	if err := writeEntry(tw, storeName, m.StoreBytes, m.Created, tmp); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return m, zw.Close()
}

// snapshot writes the store's backup stream to w and fills the manifest's
// network and heights: through the admin socket of a node running on the
// home, or from the store itself when none runs.
func snapshot(ctx context.Context, h home.Home, dataDir string, m *Manifest, w io.Writer) error {
	kv, err := store.OpenBadger(dataDir, store.BadgerOptions{ReadOnly: true, Logger: quietLogger()})
	if errors.Is(err, store.ErrLocked) {
		m.Online = true
		return snapshotOnline(ctx, filepath.Join(h.Dir, node.AdminSocketName), m, w)
	}
	if err != nil {
		return err
	}
	defer kv.Close()
	s, err := store.Open(kv)
	if err != nil {
		return err
	}
	if m.GenesisHash, err = s.GenesisHash(); err != nil {
		return fmt.Errorf("store at %s: %w (has the node ever started?)", dataDir, err)
	}
	if head, ok := s.Head(chain.LaneData); ok {
		m.DataHeight = head.Height
	}
	if head, ok := s.Head(chain.LaneTx); ok {
		m.TxHeight = head.Height
	}
	_, err = kv.Backup(w)
	return err
}

// snapshotOnline asks the running node for its store's backup.
func snapshotOnline(ctx context.Context, socket string, m *Manifest, w io.Writer) error {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://admin"+node.AdminBackupPath, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("a node is running on this home, but its admin socket %s does not answer (%v): stop the node to back it up", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("admin socket: %s: %s", resp.Status, msg)
	}
	if err := m.GenesisHash.UnmarshalText([]byte(resp.Header.Get(node.HeaderGenesisHash))); err != nil {
		return fmt.Errorf("admin socket: genesis hash header: %w", err)
	}
	if m.DataHeight, err = strconv.ParseUint(resp.Header.Get(node.HeaderDataHeight), 10, 64); err != nil {
		return fmt.Errorf("admin socket: data height header: %w", err)
	}
	if m.TxHeight, err = strconv.ParseUint(resp.Header.Get(node.HeaderTxHeight), 10, 64); err != nil {
		return fmt.Errorf("admin socket: tx height header: %w", err)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("admin socket: backup stream: %w", err)
	}
	if resp.Trailer.Get(node.TrailerBackupDone) != "true" {
		return errors.New("admin socket: the node stopped the backup stream before its end (see the node's log)")
	}
	return nil
}

func writeEntry(tw *tar.Writer, name string, size int64, mod time.Time, r io.Reader) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: mod, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, r, size); err != nil {
		return fmt.Errorf("backup entry %s: %w", name, err)
	}
	return nil
}

// RestoreOptions shape Restore.
type RestoreOptions struct {
	// NodeKeyFile is the node key of the restored home; it overrides a key
	// in the backup. Without either, Restore fails unless NewNodeKey.
	NodeKeyFile string
	// NewNodeKey makes a new node key when the backup has none: the
	// restored node is then an observer, not the validator it backs up.
	NewNodeKey bool
	// TempDir holds the store stream while it is checked ("": next to
	// the new home).
	TempDir string
}

// Restore makes a new node home at dir from the backup in r. dir must not
// exist, or be empty. Nothing is written unless the whole archive checks
// out; a restore that fails later removes what it made.
func Restore(r io.Reader, dir string, o RestoreOptions) (m *Manifest, err error) {
	h, err := home.New(dir)
	if err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(h.Dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%w: %s is not empty; restore into a new directory", home.ErrExists, h.Dir)
	}
	if o.TempDir == "" {
		o.TempDir = filepath.Dir(h.Dir)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotBackup, err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	var storeFile *os.File
	defer func() {
		if storeFile != nil {
			storeFile.Close()
			os.Remove(storeFile.Name())
		}
	}()
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
		}
		if m == nil && hdr.Name != manifestName {
			return nil, fmt.Errorf("%w: the archive does not start with %s", ErrNotBackup, manifestName)
		}
		switch hdr.Name {
		case storeName:
			if m.StoreBytes != hdr.Size {
				return nil, fmt.Errorf("%w: %s is %d bytes, the manifest says %d", ErrDamaged, storeName, hdr.Size, m.StoreBytes)
			}
			if storeFile, err = os.CreateTemp(o.TempDir, "waterchain-restore-*.badger"); err != nil {
				return nil, err
			}
			digest := sha256.New()
			if _, err := io.CopyN(io.MultiWriter(storeFile, digest), tr, hdr.Size); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrDamaged, storeName, err)
			}
			if got := hex.EncodeToString(digest.Sum(nil)); got != m.StoreSHA256 {
				return nil, fmt.Errorf("%w: %s has SHA-256 %s, the manifest says %s", ErrDamaged, storeName, got, m.StoreSHA256)
			}
		case manifestName, home.GenesisFileName, home.ConfigFileName, home.NodeKeyFileName:
			if hdr.Size > maxSmallEntry {
				return nil, fmt.Errorf("%w: %s is %d bytes (at most %d)", ErrDamaged, hdr.Name, hdr.Size, maxSmallEntry)
			}
			data, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
			if err != nil || int64(len(data)) != hdr.Size {
				return nil, fmt.Errorf("%w: %s cut short", ErrDamaged, hdr.Name)
			}
			files[hdr.Name] = data
			if hdr.Name == manifestName {
				if m, err = parseManifest(data); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("%w: unexpected entry %q", ErrNotBackup, hdr.Name)
		}
	}
	if m == nil {
		return nil, fmt.Errorf("%w: empty archive", ErrNotBackup)
	}
	// Read the gzip stream to its end, so its CRC-32 covers every byte
	// of the archive, tar padding included, not only the entries' data.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	for _, name := range []string{home.GenesisFileName, home.ConfigFileName} {
		if files[name] == nil {
			return nil, fmt.Errorf("%w: no %s in the archive", ErrDamaged, name)
		}
	}
	if storeFile == nil {
		return nil, fmt.Errorf("%w: no %s in the archive", ErrDamaged, storeName)
	}
	key, err := restoredKey(files[home.NodeKeyFileName], o)
	if err != nil {
		return nil, err
	}
	if _, err := storeFile.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if err := writeHome(h, files, key, storeFile, m); err != nil {
		os.RemoveAll(h.Dir)
		return nil, err
	}
	return m, nil
}

func parseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrNotBackup, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("%w: format %q, this version restores %q", ErrNotBackup, m.Format, Format)
	}
	if m.StoreBytes < 0 || len(m.StoreSHA256) != 2*sha256.Size {
		return nil, fmt.Errorf("%w: manifest names no store stream", ErrDamaged)
	}
	return &m, nil
}

// restoredKey picks the restored home's node key file contents.
func restoredKey(inBackup []byte, o RestoreOptions) ([]byte, error) {
	switch {
	case o.NodeKeyFile != "":
		k, err := keys.Load(o.NodeKeyFile)
		if err != nil {
			return nil, err
		}
		return keys.Encode(k), nil
	case inBackup != nil:
		return inBackup, nil
	case o.NewNodeKey:
		k, err := chain.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		return keys.Encode(k), nil
	}
	return nil, fmt.Errorf("%w: the backup holds none; give the node's key file with --node-key (or --new-node-key for an observer)", ErrNodeKey)
}

// writeHome lays out the restored home: files, key, store, an empty WAL.
func writeHome(h home.Home, files map[string][]byte, key []byte, storeStream io.ReadSeeker, m *Manifest) error {
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		home.GenesisFileName: files[home.GenesisFileName],
		home.ConfigFileName:  files[home.ConfigFileName],
		home.NodeKeyFileName: key,
	} {
		if err := os.WriteFile(filepath.Join(h.Dir, name), data, 0o600); err != nil {
			return err
		}
	}
	// The files must make a home that opens: the genesis must be the
	// backup's network, the key a key.
	g, err := h.LoadGenesis()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	if g.Hash() != m.GenesisHash {
		return fmt.Errorf("%w: genesis.json hashes to %s, the manifest names %s", ErrDamaged, g.Hash().Short(), m.GenesisHash.Short())
	}
	if _, err := h.LoadNodeKey(); err != nil {
		return err
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	dataDir, walDir := h.StorageDirs(cfg)
	if err := store.RestoreBadger(dataDir, storeStream, store.BadgerOptions{Logger: quietLogger()}); err != nil {
		return err
	}
	return os.MkdirAll(walDir, 0o700)
}

// quietLogger keeps badger's chatter out of a command's output.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
