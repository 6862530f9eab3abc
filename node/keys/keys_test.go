package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

func fixedKey(t testing.TB) *chain.PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte("keys test"))
	k, err := chain.NewPrivateKey(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewWritesALoadableKeyWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "node_key.json")
	key, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", info.Mode().Perm())
	}
	if dir, _ := os.Stat(filepath.Dir(path)); dir.Mode().Perm() != 0o700 {
		t.Errorf("created directory mode %04o, want 0700", dir.Mode().Perm())
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Public() != key.Public() || !bytes.Equal(loaded.Seed(), key.Seed()) {
		t.Errorf("loaded key differs from the new one")
	}
	other, err := New(filepath.Join(filepath.Dir(path), "other.json"))
	if err != nil {
		t.Fatal(err)
	}
	if other.Public() == key.Public() {
		t.Errorf("two New keys are equal")
	}
}

func TestNewAndSaveNeverOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.json")
	first, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if _, err := New(path); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), path) {
		t.Errorf("New over an existing key: %v", err)
	}
	if err := Save(path, fixedKey(t)); !errors.Is(err, ErrExists) {
		t.Errorf("Save over an existing key: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("existing key file was changed")
	}
	if k, err := Load(path); err != nil || k.Public() != first.Public() {
		t.Fatalf("existing key no longer loads: %v", err)
	}
}

func TestSaveAndLoadFixedKey(t *testing.T) {
	key := fixedKey(t)
	path := filepath.Join(t.TempDir(), "k.json")
	if err := Save(path, key); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, want := range []string{`"type": "ed25519"`, `"public_key": "` + key.Public().String() + `"`, `"private_key": "` + hex.EncodeToString(key.Seed()) + `"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("key file lacks %s:\n%s", want, data)
		}
	}
}

func TestLoadRefusesReadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.json")
	if err := Save(path, fixedKey(t)); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if !errors.Is(err, ErrPermissions) || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: %v; want ErrPermissions telling to chmod 600", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Errorf("mode 0400 refused: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.json")); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "waterchain keys new") {
		t.Errorf("missing file: %v", err)
	}
	corrupt := filepath.Join(dir, "corrupt.json")
	if err := os.WriteFile(corrupt, []byte("{\"type\": \"ed25519\", \"public_"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(corrupt); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), corrupt) {
		t.Errorf("corrupt file: %v", err)
	}
	if _, err := Load(dir); !errors.Is(err, ErrMalformed) {
		t.Errorf("directory: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	key := fixedKey(t)
	other := sha256.Sum256([]byte("other"))
	otherKey, _ := chain.NewPrivateKey(other[:])
	valid := string(Encode(key))
	seedHex := hex.EncodeToString(key.Seed())
	tests := []struct{ name, data, want string }{
		{"empty", "", "EOF"},
		{"not json", "ed25519:abc", "invalid character"},
		{"unknown field", strings.Replace(valid, `"type"`, `"comment": "x", "type"`, 1), `unknown field "comment"`},
		{"trailing data", valid + "{}", "data after"},
		{"other type", strings.Replace(valid, `"ed25519"`, `"secp256k1"`, 1), `type "secp256k1"`},
		{"short seed", strings.Replace(valid, seedHex, seedHex[:62], 1), "private_key: want 64 hex digits"},
		{"bad hex seed", strings.Replace(valid, seedHex, "zz"+seedHex[2:], 1), "private_key"},
		{"bad public key", strings.Replace(valid, key.Public().String(), "xyz", 1), "public_key"},
		{"mismatched public key", strings.Replace(valid, key.Public().String(), otherKey.Public().String(), 1), "is not the key of private_key"},
		// A seed never gives these, but a hand-edited file can claim them.
		{"small-order public key", strings.Replace(valid, key.Public().String(), "0100000000000000000000000000000000000000000000000000000000000000", 1), "public_key: small-order"},
		{"non-canonical public key", strings.Replace(valid, key.Public().String(), "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", 1), "public_key: non-canonical"},
		{"too large", valid + strings.Repeat(" ", MaxFileSize), "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.data))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want ErrMalformed containing %q", err, tt.want)
			}
		})
	}
	if k, err := Decode([]byte(valid)); err != nil || k.Public() != key.Public() {
		t.Fatalf("valid file: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(fixedKey(f)))
	f.Add([]byte(`{"type":"ed25519","public_key":"","private_key":""}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, err := Decode(Encode(key))
		if err != nil || again.Public() != key.Public() {
			t.Fatalf("Decode(Encode(key)) = %v", err)
		}
	})
}
