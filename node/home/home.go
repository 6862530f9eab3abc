package home

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/config"
	"github.com/waterchain/waterchain/node/keys"
)

// Names of the entries of a node home.
const (
	ConfigFileName  = "config.toml"
	NodeKeyFileName = "node_key.json"
	GenesisFileName = "genesis.json"
	DataDirName     = "data"
	WALDirName      = "wal"
)

var (
	// ErrExists: Init or WriteNetwork would overwrite an existing home or
	// network.
	ErrExists = errors.New("already exists")
	// ErrNotHome: Open found no node home in the directory.
	ErrNotHome = errors.New("not a node home")
)

// Home is a node home directory. The zero value is not usable; make one
// with New, Open or Init.
type Home struct {
	// Dir is the home directory, absolute.
	Dir string
}

// New names the home at dir without checking it (see Open). A relative dir
// is made absolute, so the paths stay right after a chdir.
func New(dir string) (Home, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Home{}, fmt.Errorf("home %s: %w", dir, err)
	}
	return Home{Dir: abs}, nil
}

// ConfigFile is DIR/config.toml.
func (h Home) ConfigFile() string { return filepath.Join(h.Dir, ConfigFileName) }

// NodeKeyFile is DIR/node_key.json.
func (h Home) NodeKeyFile() string { return filepath.Join(h.Dir, NodeKeyFileName) }

// GenesisFile is DIR/genesis.json.
func (h Home) GenesisFile() string { return filepath.Join(h.Dir, GenesisFileName) }

// DataDir is DIR/data, where the database is unless config.toml moves it
// (see StorageDirs).
func (h Home) DataDir() string { return filepath.Join(h.Dir, DataDirName) }

// WALDir is DIR/wal, where the consensus WAL is unless config.toml moves it
// (see StorageDirs).
func (h Home) WALDir() string { return filepath.Join(h.Dir, WALDirName) }

// Path resolves a path of config.toml: relative paths are relative to the
// home.
func (h Home) Path(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(h.Dir, p)
}

// StorageDirs are the database and WAL directories that cfg names,
// resolved against the home.
func (h Home) StorageDirs(cfg *config.Config) (data, wal string) {
	return h.Path(cfg.Storage.DataDir), h.Path(cfg.Storage.WALDir)
}

// LoadConfig loads DIR/config.toml.
func (h Home) LoadConfig() (*config.Config, error) { return config.Load(h.ConfigFile()) }

// LoadGenesis loads DIR/genesis.json.
func (h Home) LoadGenesis() (*genesis.Genesis, error) { return genesis.Load(h.GenesisFile()) }

// LoadNodeKey loads DIR/node_key.json.
func (h Home) LoadNodeKey() (*chain.PrivateKey, error) { return keys.Load(h.NodeKeyFile()) }

// Open checks that dir holds a node home (its config, node key and genesis
// files exist) and names it. It does not parse them: the Load methods do.
func Open(dir string) (Home, error) {
	h, err := New(dir)
	if err != nil {
		return Home{}, err
	}
	for _, f := range []string{h.ConfigFile(), h.NodeKeyFile(), h.GenesisFile()} {
		if _, err := os.Stat(f); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return Home{}, fmt.Errorf("%w: %s has no %s (make a home with: waterchain init --home %s --genesis GENESIS)", ErrNotHome, h.Dir, filepath.Base(f), dir)
			}
			return Home{}, fmt.Errorf("home %s: %w", h.Dir, err)
		}
	}
	return h, nil
}

// Init makes a node home in dir: it copies the genesis file at genesisPath
// (after checking it), adopts the key file at keyPath or, when keyPath is
// "", makes a new node key, and writes the default config.toml. dir may
// exist but must not already hold any entry of a home: Init never
// overwrites a home (ErrExists), because its node key and chain data would
// be lost. On error, Init removes what it created.
func Init(dir, genesisPath, keyPath string) (Home, error) {
	h, err := New(dir)
	if err != nil {
		return Home{}, err
	}
	if err := h.checkFree(); err != nil {
		return Home{}, err
	}
	raw, err := readGenesis(genesisPath)
	if err != nil {
		return Home{}, err
	}
	var key *chain.PrivateKey
	if keyPath != "" {
		if key, err = keys.Load(keyPath); err != nil {
			return Home{}, err
		}
	} else if key, err = chain.GenerateKey(nil); err != nil {
		return Home{}, fmt.Errorf("generating a node key: %w", err)
	}
	if err := h.write(raw, key, config.Default()); err != nil {
		return Home{}, err
	}
	return h, nil
}

// readGenesis reads and checks a genesis file, returning its bytes so the
// home gets an exact copy (operators compare files with sha256sum).
func readGenesis(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("no genesis file given (the network's genesis.json, from its operators or from waterchain testnet)")
	}
	if _, err := genesis.Load(path); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("genesis file: %w", err)
	}
	// Parse what is copied, in case the file changed between the two reads.
	if _, err := genesis.Parse(raw); err != nil {
		return nil, fmt.Errorf("genesis file %s: %w", path, err)
	}
	return raw, nil
}

// checkFree refuses a directory that already holds any entry of a home.
func (h Home) checkFree() error {
	for _, name := range []string{ConfigFileName, NodeKeyFileName, GenesisFileName, DataDirName, WALDirName} {
		if _, err := os.Lstat(filepath.Join(h.Dir, name)); err == nil {
			return fmt.Errorf("home %s: %w: it holds %s, so it is a node home already; refusing to overwrite it (its node key and chain data would be lost). Choose another --home, or remove %s first to start over", h.Dir, ErrExists, name, h.Dir)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("home %s: %w", h.Dir, err)
		}
	}
	return nil
}

// write creates the home's entries; on error it removes those it made.
func (h Home) write(genesisJSON []byte, key *chain.PrivateKey, cfg *config.Config) (err error) {
	if err := h.checkFree(); err != nil {
		return err
	}
	var created []string
	defer func() {
		if err != nil {
			for i := len(created) - 1; i >= 0; i-- {
				os.RemoveAll(created[i])
			}
		}
	}()
	if _, statErr := os.Stat(h.Dir); errors.Is(statErr, os.ErrNotExist) {
		if err := os.MkdirAll(h.Dir, 0o700); err != nil {
			return fmt.Errorf("home %s: %w", h.Dir, err)
		}
		created = append(created, h.Dir)
	}
	if err := keys.Save(h.NodeKeyFile(), key); err != nil {
		return err
	}
	created = append(created, h.NodeKeyFile())
	if err := writeNew(h.GenesisFile(), genesisJSON, 0o644); err != nil {
		return err
	}
	created = append(created, h.GenesisFile())
	if err := cfg.Save(h.ConfigFile()); err != nil {
		return err
	}
	created = append(created, h.ConfigFile())
	for _, d := range []string{h.DataDir(), h.WALDir()} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("home %s: %w", h.Dir, err)
		}
		created = append(created, d)
	}
	return nil
}

// writeNew writes a new file (never replacing one) and syncs it.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s: %w", path, ErrExists)
		}
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
