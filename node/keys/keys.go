package keys

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/waterchain/waterchain/chain"
)

// Type is the only key type of a key file.
const Type = "ed25519"

// MaxFileSize bounds what Load reads; a key file is under 200 bytes.
const MaxFileSize = 4096

// Errors of this package, wrapped with the path and the values involved.
var (
	// ErrExists: New or Save would replace an existing file.
	ErrExists = errors.New("key file already exists")
	// ErrNotFound: Load found no file at the path.
	ErrNotFound = errors.New("key file not found")
	// ErrPermissions: the file may be read by group or others.
	ErrPermissions = errors.New("key file is readable by group or others")
	// ErrMalformed: the file is not a valid key file.
	ErrMalformed = errors.New("malformed key file")
)

// keyFile is the JSON form of a key file.
type keyFile struct {
	Type       string `json:"type"`
	PublicKey  string `json:"public_key"`
	PrivateKey string `json:"private_key"`
}

// Encode returns the key file content of key.
func Encode(key *chain.PrivateKey) []byte {
	b, err := json.MarshalIndent(keyFile{
		Type:       Type,
		PublicKey:  key.Public().String(),
		PrivateKey: hex.EncodeToString(key.Seed()),
	}, "", "  ")
	if err != nil { // a struct of strings always marshals
		panic(err)
	}
	return append(b, '\n')
}

// Decode parses key file content. It is strict: unknown fields, trailing
// data, another type, bad hex and a public key that is not the seed's are
// errors wrapping ErrMalformed.
func Decode(data []byte) (*chain.PrivateKey, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(data), MaxFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f keyFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the key object", ErrMalformed)
	}
	if f.Type != Type {
		return nil, fmt.Errorf("%w: type %q, want %q", ErrMalformed, f.Type, Type)
	}
	seed, err := hex.DecodeString(f.PrivateKey)
	if err != nil || len(seed) != 32 {
		return nil, fmt.Errorf("%w: private_key: want 64 hex digits (the ed25519 seed), got %d characters", ErrMalformed, len(f.PrivateKey))
	}
	key, err := chain.NewPrivateKey(seed)
	if err != nil {
		return nil, fmt.Errorf("%w: private_key: %v", ErrMalformed, err)
	}
	pub, err := chain.ParsePubKey(f.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: public_key: %v", ErrMalformed, err)
	}
	if err := pub.Check(); err != nil {
		return nil, fmt.Errorf("%w: public_key: %w", ErrMalformed, err)
	}
	if pub != key.Public() {
		return nil, fmt.Errorf("%w: public_key %s is not the key of private_key (which gives %s); the file was edited or damaged", ErrMalformed, pub.Short(), key.Public().Short())
	}
	return key, nil
}

// New makes a key from crypto/rand and writes it to path as Save does.
func New(path string) (*chain.PrivateKey, error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, existsErr(path)
	}
	key, err := chain.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("generating a key: %w", err)
	}
	if err := Save(path, key); err != nil {
		return nil, err
	}
	return key, nil
}

// Save writes key to path with mode 0600, creating the parent directory
// (mode 0700) when missing. It never replaces an existing file (ErrExists),
// and the file is synced to disk before Save returns.
func Save(path string, key *chain.PrivateKey) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("key file %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return existsErr(path)
		}
		return fmt.Errorf("key file %s: %w", path, err)
	}
	_, err = f.Write(Encode(key))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // a half-written key file must not be mistaken for a key
		return fmt.Errorf("key file %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// Load reads the key file at path. It refuses a file that group or others
// may read (ErrPermissions, saying how to fix it), a missing file
// (ErrNotFound) and a damaged one (ErrMalformed).
func Load(path string) (*chain.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s (make one with: waterchain keys new --out %s)", ErrNotFound, path, path)
		}
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrMalformed, path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%w: %s has mode %04o; run: chmod 600 %s", ErrPermissions, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	key, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}

func existsErr(path string) error {
	return fmt.Errorf("%w: %s; refusing to overwrite a key (move it away first, or choose another path)", ErrExists, path)
}

// syncDir makes a new directory entry durable. Failure is not reported:
// some file systems cannot sync directories, and the file itself is synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
