package chain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Hash is a SHA-256 digest. It encodes as a 32-byte CBOR byte string and as
// lower-case hex in JSON.
type Hash [32]byte

// HashBytes returns the SHA-256 digest of b.
func HashBytes(b []byte) Hash { return sha256.Sum256(b) }

// IsZero reports whether h is all zeros, the value of "no block".
func (h Hash) IsZero() bool { return h == Hash{} }

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Short is the first eight hex digits, for logs.
func (h Hash) Short() string { return hex.EncodeToString(h[:4]) }

func (h Hash) MarshalText() ([]byte, error)  { return []byte(h.String()), nil }
func (h *Hash) UnmarshalText(b []byte) error { return decodeHexInto(h[:], string(b), "hash") }

// UnmarshalBinary rejects byte strings of the wrong length, which the CBOR
// decoder would otherwise truncate or pad.
func (h *Hash) UnmarshalBinary(b []byte) error { return copyExact(h[:], b, "hash") }
func (h Hash) MarshalBinary() ([]byte, error)  { return h[:], nil }

// ParseHash parses 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	return h, h.UnmarshalText([]byte(s))
}

// PubKey is an ed25519 public key: of an account, a device (meter) or a
// validator node.
type PubKey [ed25519.PublicKeySize]byte

func (k PubKey) String() string { return hex.EncodeToString(k[:]) }

// Short is the first eight hex digits, for logs.
func (k PubKey) Short() string { return hex.EncodeToString(k[:4]) }

// IsZero reports whether k is unset.
func (k PubKey) IsZero() bool { return k == PubKey{} }

func (k PubKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }
func (k *PubKey) UnmarshalText(b []byte) error {
	return decodeHexInto(k[:], string(b), "public key")
}
func (k *PubKey) UnmarshalBinary(b []byte) error { return copyExact(k[:], b, "public key") }
func (k PubKey) MarshalBinary() ([]byte, error)  { return k[:], nil }

// Address is the account address of k.
func (k PubKey) Address() Address {
	sum := sha256.Sum256(k[:])
	var a Address
	copy(a[:], sum[:len(a)])
	return a
}

// ParsePubKey parses 64 hex digits.
func ParsePubKey(s string) (PubKey, error) {
	var k PubKey
	return k, k.UnmarshalText([]byte(s))
}

// Address names an account: the first 20 bytes of SHA-256 of its public key.
// Written as "wc" followed by 40 hex digits.
type Address [20]byte

const addressPrefix = "wc"

func (a Address) String() string { return addressPrefix + hex.EncodeToString(a[:]) }

// IsZero reports whether a is unset.
func (a Address) IsZero() bool { return a == Address{} }

func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }
func (a *Address) UnmarshalText(b []byte) error {
	s := string(b)
	if !strings.HasPrefix(s, addressPrefix) {
		return fmt.Errorf("address %q: must start with %q", s, addressPrefix)
	}
	return decodeHexInto(a[:], strings.TrimPrefix(s, addressPrefix), "address")
}
func (a *Address) UnmarshalBinary(b []byte) error { return copyExact(a[:], b, "address") }
func (a Address) MarshalBinary() ([]byte, error)  { return a[:], nil }

// ParseAddress parses "wc" followed by 40 hex digits.
func ParseAddress(s string) (Address, error) {
	var a Address
	return a, a.UnmarshalText([]byte(s))
}

// Signature is an ed25519 signature. It is a slice so that an unsigned value
// encodes without it (the signing bytes of a value are its encoding with the
// signature left out); ValidateBasic checks its length.
type Signature []byte

func (s Signature) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(s)) }
func (s *Signature) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("signature: want a hex string: %w", err)
	}
	raw, err := hex.DecodeString(str)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if len(raw) != ed25519.SignatureSize {
		return fmt.Errorf("signature: got %d bytes, want %d", len(raw), ed25519.SignatureSize)
	}
	*s = raw
	return nil
}

func decodeHexInto(dst []byte, s, what string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%s %q: want %d hex digits, got %d", what, s, 2*len(dst), len(s))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("%s %q: %w", what, s, err)
	}
	return nil
}

func copyExact(dst, src []byte, what string) error {
	if len(src) != len(dst) {
		return fmt.Errorf("%s: got %d bytes, want %d", what, len(src), len(dst))
	}
	copy(dst, src)
	return nil
}
