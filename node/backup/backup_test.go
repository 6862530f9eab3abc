package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node"
	"github.com/waterchain/waterchain/node/backup"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/home/hometest"
)

// oneValidator writes a one-validator network (it finalizes alone) and
// returns its home.
func oneValidator(t *testing.T) home.Home {
	t.Helper()
	nw, err := home.WriteNetwork(t.TempDir(), home.NetworkOptions{
		Validators: 1, DevnetParams: true, DevicesPerIndustry: 1,
		BasePort: hometest.FreeBasePort(t, 1),
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := home.Open(nw.Nodes[0].Home)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// run starts a node on h and waits until its data lane reaches height.
func run(t *testing.T, h home.Home, height uint64) *node.Node {
	t.Helper()
	cfg, err := h.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.API.Listen = "127.0.0.1:0"
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"} // alone: nobody dials it
	cfg.MQTT.Enabled = false
	g, err := h.LoadGenesis()
	if err != nil {
		t.Fatal(err)
	}
	key, err := h.LoadNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := node.New(node.Options{Home: h.Dir, Config: cfg, Genesis: g, Key: key, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		n.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	deadline := time.Now().Add(60 * time.Second)
	for n.Height(chain.LaneData) < height {
		if time.Now().After(deadline) {
			t.Fatalf("data height %d after 60 s, want %d", n.Height(chain.LaneData), height)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

// restoredStore opens the store of a restored home and checks it holds
// the manifest's heights with the same blocks as the original.
func checkRestored(t *testing.T, dir string, m *backup.Manifest, original *store.Store) {
	t.Helper()
	h, err := home.Open(dir)
	if err != nil {
		t.Fatalf("restored home does not open: %v", err)
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	dataDir, walDir := h.StorageDirs(cfg)
	if entries, err := os.ReadDir(walDir); err != nil || len(entries) != 0 {
		t.Fatalf("restored WAL directory: %v entries, %v; want it present and empty", len(entries), err)
	}
	kv, err := store.OpenBadger(dataDir, store.BadgerOptions{ReadOnly: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	s, err := store.Open(kv)
	if err != nil {
		t.Fatal(err)
	}
	if gh, err := s.GenesisHash(); err != nil || gh != m.GenesisHash {
		t.Fatalf("restored store's genesis %v (%v), manifest %v", gh, err, m.GenesisHash)
	}
	for _, lane := range chain.Lanes {
		want := m.DataHeight
		if lane == chain.LaneTx {
			want = m.TxHeight
		}
		head, _ := s.Head(lane)
		if head.Height < want {
			t.Fatalf("restored %s head %d, the manifest promises %d", lane, head.Height, want)
		}
		for height := uint64(1); height <= want; height++ {
			got, err := s.Block(lane, height)
			if err != nil {
				t.Fatalf("restored %s block %d: %v", lane, height, err)
			}
			orig, err := original.Block(lane, height)
			if err != nil {
				t.Fatal(err)
			}
			if got.Hash() != orig.Hash() {
				t.Fatalf("restored %s block %d differs from the original", lane, height)
			}
		}
	}
}

func openOriginal(t *testing.T, h home.Home) *store.Store {
	t.Helper()
	cfg, err := h.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	dataDir, _ := h.StorageDirs(cfg)
	kv, err := store.OpenBadger(dataDir, store.BadgerOptions{ReadOnly: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	s, err := store.Open(kv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBackupOnlineAndOffline backs up a running node (through its admin
// socket) and then the stopped node (from its store), restores each into
// a fresh home and finds the same blocks there.
func TestBackupOnlineAndOffline(t *testing.T) {
	h := oneValidator(t)
	n := run(t, h, 3)

	var online bytes.Buffer
	m, err := backup.Write(context.Background(), &online, h, backup.Options{IncludeNodeKey: true})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Online || m.DataHeight < 3 || !m.NodeKey {
		t.Fatalf("online manifest %+v: want online, data height ≥ 3, node key", m)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h.Dir, node.AdminSocketName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("admin socket left behind after Close: %v", err)
	}

	var offline bytes.Buffer
	m2, err := backup.Write(context.Background(), &offline, h, backup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Online || m2.NodeKey || m2.DataHeight < m.DataHeight {
		t.Fatalf("offline manifest %+v after online %+v", m2, m)
	}
	original := openOriginal(t, h)

	dir := filepath.Join(t.TempDir(), "restored-online")
	got, err := backup.Restore(bytes.NewReader(online.Bytes()), dir, backup.RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkRestored(t, dir, got, original)
	wantKey, _ := os.ReadFile(h.NodeKeyFile())
	if gotKey, _ := os.ReadFile(filepath.Join(dir, home.NodeKeyFileName)); !bytes.Equal(gotKey, wantKey) {
		t.Fatal("the restored node key is not the backed-up one")
	}

	// The offline backup holds no key: restoring needs one.
	dir = filepath.Join(t.TempDir(), "restored-offline")
	if _, err := backup.Restore(bytes.NewReader(offline.Bytes()), dir, backup.RestoreOptions{}); !errors.Is(err, backup.ErrNodeKey) {
		t.Fatalf("restore without a key: %v, want ErrNodeKey", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused restore left %s behind", dir)
	}
	got, err = backup.Restore(bytes.NewReader(offline.Bytes()), dir, backup.RestoreOptions{NodeKeyFile: h.NodeKeyFile()})
	if err != nil {
		t.Fatal(err)
	}
	checkRestored(t, dir, got, original)
}

// TestRestoreRefusesDamage: a damaged, cut or foreign archive and a
// non-empty target are refused, and nothing is left behind.
func TestRestoreRefusesDamage(t *testing.T) {
	h := oneValidator(t)
	n := run(t, h, 1)
	n.Close()
	var buf bytes.Buffer
	if _, err := backup.Write(context.Background(), &buf, h, backup.Options{IncludeNodeKey: true}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x40
		return b
	}
	notEmpty := t.TempDir()
	if err := os.WriteFile(filepath.Join(notEmpty, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		dir  string
		want error
	}{
		{"cut short", good[:len(good)*2/3], "", nil},
		{"flipped byte early", flip(len(good) / 10), "", nil},
		{"flipped byte midway", flip(len(good) / 2), "", nil},
		{"flipped byte late", flip(len(good) - 12), "", nil},
		{"not gzip", []byte("hello"), "", backup.ErrNotBackup},
		{"target not empty", good, notEmpty, home.ErrExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == "" {
				dir = filepath.Join(t.TempDir(), "restored")
			}
			_, err := backup.Restore(bytes.NewReader(tc.data), dir, backup.RestoreOptions{})
			if err == nil {
				t.Fatal("restored")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if tc.dir == "" {
				if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
					t.Fatalf("refused restore (%v) left %s behind", err, dir)
				}
			}
			if strings.Contains(fmt.Sprint(err), "panic") {
				t.Fatalf("error carries a panic: %v", err)
			}
		})
	}
}
