package home

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/config"
	"github.com/waterchain/waterchain/node/keys"
)

// otherNodeKey is the public key of a validator that is not the node under
// test (a real key: genesis refuses forgeable ones such as 0100…00).
func otherNodeKey(t *testing.T) chain.PubKey {
	t.Helper()
	k, err := chain.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// testGenesisFile writes a valid one-validator genesis naming validator and
// returns its path.
func testGenesisFile(t *testing.T, dir string, validator chain.PubKey) string {
	t.Helper()
	other, err := chain.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &genesis.Genesis{
		ChainID:     "waterchain-home-test",
		GenesisTime: chain.TimeOf(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)),
		Params:      genesis.DevnetParams(),
		Validators:  []genesis.Node{{Name: "validator-1", NodeKey: validator}},
		Regulators:  []genesis.Regulator{{Name: "Regulator", Account: other.Public()}},
	}
	path := filepath.Join(dir, "genesis-in.json")
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInitWithNewKey(t *testing.T) {
	tmp := t.TempDir()
	gpath := testGenesisFile(t, tmp, otherNodeKey(t))
	dir := filepath.Join(tmp, "node")
	h, err := Init(dir, gpath, "")
	if err != nil {
		t.Fatal(err)
	}
	if h.Dir != dir {
		t.Errorf("Dir = %s, want %s", h.Dir, dir)
	}
	want, _ := os.ReadFile(gpath)
	got, _ := os.ReadFile(h.GenesisFile())
	if string(got) != string(want) {
		t.Errorf("genesis.json is not an exact copy")
	}
	if _, err := h.LoadNodeKey(); err != nil {
		t.Errorf("node key: %v", err)
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, config.Default()) {
		t.Errorf("config.toml is not the default: %+v", cfg)
	}
	for _, d := range []string{h.DataDir(), h.WALDir()} {
		if info, err := os.Stat(d); err != nil || !info.IsDir() || info.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v", d, info, err)
		}
	}
	data, wal := h.StorageDirs(cfg)
	if data != h.DataDir() || wal != h.WALDir() {
		t.Errorf("StorageDirs = %s %s", data, wal)
	}
	if _, err := Open(dir); err != nil {
		t.Errorf("Open: %v", err)
	}
}

func TestInitAdoptsKey(t *testing.T) {
	tmp := t.TempDir()
	keyPath := filepath.Join(tmp, "mine.json")
	key, err := keys.New(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	gpath := testGenesisFile(t, tmp, key.Public())
	h, err := Init(filepath.Join(tmp, "node"), gpath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.LoadNodeKey()
	if err != nil || got.Public() != key.Public() {
		t.Fatalf("adopted key: %v", err)
	}
	g, err := h.LoadGenesis()
	if err != nil {
		t.Fatal(err)
	}
	if role, _, ok := g.RoleOf(got.Public()); !ok || role != genesis.RoleValidator {
		t.Errorf("role of the adopted key = %q %v", role, ok)
	}
}

func TestInitRefusesExistingHome(t *testing.T) {
	tmp := t.TempDir()
	gpath := testGenesisFile(t, tmp, otherNodeKey(t))
	dir := filepath.Join(tmp, "node")
	h, err := Init(dir, gpath, "")
	if err != nil {
		t.Fatal(err)
	}
	keyBefore, _ := os.ReadFile(h.NodeKeyFile())
	_, err = Init(dir, gpath, "")
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second Init: %v", err)
	}
	keyAfter, _ := os.ReadFile(h.NodeKeyFile())
	if string(keyAfter) != string(keyBefore) {
		t.Fatal("node key changed")
	}
	// Any one entry of a home is enough to refuse.
	partial := filepath.Join(tmp, "partial")
	if err := os.MkdirAll(filepath.Join(partial, WALDirName), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(partial, gpath, ""); !errors.Is(err, ErrExists) {
		t.Errorf("Init over a wal/: %v", err)
	}
}

func TestInitErrorsLeaveNothing(t *testing.T) {
	tmp := t.TempDir()
	gpath := testGenesisFile(t, tmp, otherNodeKey(t))

	// An existing empty directory is fine and is kept on error.
	dir := filepath.Join(tmp, "node")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, gpath, filepath.Join(tmp, "missing-key.json")); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("missing key: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed Init left %v", entries)
	}

	bad := filepath.Join(tmp, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"chain_id": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(tmp, "fresh")
	_, err := Init(fresh, bad, "")
	if !errors.Is(err, genesis.ErrInvalid) || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad genesis: %v", err)
	}
	if _, statErr := os.Stat(fresh); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("failed Init created %s", fresh)
	}
	if _, err := Init(fresh, "", ""); err == nil {
		t.Errorf("Init without a genesis succeeded")
	}

	// A failure after files were written removes them: an invalid config
	// fails after the key and genesis are on disk.
	late := filepath.Join(tmp, "late")
	h, _ := New(late)
	cfg := config.Default()
	cfg.Log.Level = "loud"
	if err := h.write([]byte("{}"), mustKey(t), cfg); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("write with a bad config: %v", err)
	}
	if _, statErr := os.Stat(late); !errors.Is(statErr, os.ErrNotExist) {
		entries, _ := os.ReadDir(late)
		t.Errorf("failed write left %s: %v", late, entries)
	}
}

func mustKey(t *testing.T) *chain.PrivateKey {
	t.Helper()
	k, err := chain.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestOpenRefusesNonHome(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); !errors.Is(err, ErrNotHome) || !strings.Contains(err.Error(), "waterchain init") {
		t.Errorf("Open(empty dir) = %v", err)
	}
}

func TestPathResolution(t *testing.T) {
	h := Home{Dir: "/srv/node"}
	if got := h.Path("data"); got != "/srv/node/data" {
		t.Errorf("Path(data) = %s", got)
	}
	if got := h.Path("/var/lib/wc//data"); got != "/var/lib/wc/data" {
		t.Errorf("Path(abs) = %s", got)
	}
	rel, err := New("relative/dir")
	if err != nil || !filepath.IsAbs(rel.Dir) {
		t.Errorf("New(relative) = %v %v", rel, err)
	}
}

func TestPeerIDMatchesLibp2p(t *testing.T) {
	key := mustKey(t)
	priv, err := crypto.UnmarshalEd25519PrivateKey(key.Ed25519())
	if err != nil {
		t.Fatal(err)
	}
	want, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := PeerID(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("PeerID = %s, libp2p says %s", got, want)
	}
	if !strings.HasPrefix(got.String(), "12D3KooW") {
		t.Errorf("ed25519 peer ID %s does not have the usual prefix", got)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Aqua Falls Water Park": "aqua-falls-water-park",
		"Valley Dairy Co-op":    "valley-dairy-co-op",
		"Industry 13":           "industry-13",
		"  Odd -- Name! ":       "odd-name",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}
