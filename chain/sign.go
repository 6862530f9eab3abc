package chain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// verifyOptions is the one signature-validity rule of Waterchain: ZIP-215
// (cofactored verification, the rule of Zcash and of CometBFT's
// ed25519consensus). Single and batch verification agree exactly under it,
// so a node that checks a block in a batch and a node that checks each entry
// alone can never disagree about validity. crypto/ed25519 uses a slightly
// different (cofactorless) rule and is used here only to sign.
var verifyOptions = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// Signing domains: the kind part of the domain tag of each signed type.
const (
	DomainReading  = "reading"
	DomainTx       = "tx"
	DomainVote     = "vote"
	DomainProposal = "proposal"
)

// MaxChainIDLen bounds the chain id, which is length-prefixed by one byte in
// every signing digest.
const MaxChainIDLen = 64

// ErrBadSignature is returned (wrapped) when a signature does not verify.
var ErrBadSignature = errors.New("bad signature")

// SignDigest is the 32-byte digest that is signed for a value of the given
// domain: SHA-256("waterchain/" + domain + "/v1" || len(chainID) ||
// chainID || canonical). The one-byte length of the chain id keeps the
// concatenation unambiguous.
func SignDigest(domain, chainID string, canonical []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("waterchain/" + domain + "/v1"))
	h.Write([]byte{byte(len(chainID))})
	h.Write([]byte(chainID))
	h.Write(canonical)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// PrivateKey is an ed25519 private key together with its public key.
type PrivateKey struct {
	key ed25519.PrivateKey
	pub PubKey
}

// GenerateKey makes a new key from rand (crypto/rand.Reader when nil).
func GenerateKey(rand io.Reader) (*PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, err
	}
	return NewPrivateKey(priv.Seed())
}

// NewPrivateKey derives a key from a 32-byte ed25519 seed.
func NewPrivateKey(seed []byte) (*PrivateKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("private key seed: got %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	k := &PrivateKey{key: ed25519.NewKeyFromSeed(seed)}
	copy(k.pub[:], k.key.Public().(ed25519.PublicKey))
	return k, nil
}

// Public returns the public key.
func (k *PrivateKey) Public() PubKey { return k.pub }

// Seed returns the 32-byte seed the key is derived from.
func (k *PrivateKey) Seed() []byte { return k.key.Seed() }

// Ed25519 returns the standard library form of the key (for libp2p).
func (k *PrivateKey) Ed25519() ed25519.PrivateKey { return k.key }

// Sign signs canonical bytes of the given domain for chainID.
func (k *PrivateKey) Sign(domain, chainID string, canonical []byte) Signature {
	d := SignDigest(domain, chainID, canonical)
	return ed25519.Sign(k.key, d[:])
}

// Verify checks sig by pub over canonical bytes of the given domain for
// chainID.
func Verify(pub PubKey, domain, chainID string, canonical []byte, sig Signature) error {
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadSignature, len(sig), ed25519.SignatureSize)
	}
	d := SignDigest(domain, chainID, canonical)
	if !verifyMessage(pub, d[:], sig) {
		return fmt.Errorf("%w: %s signature by %s does not verify", ErrBadSignature, domain, pub.Short())
	}
	return nil
}

// verifyMessage applies the validity rule to a signature of sig's length
// over msg: a signing digest, or a public test vector's raw message.
func verifyMessage(pub PubKey, msg []byte, sig Signature) bool {
	return voi.VerifyWithOptions(pub[:], msg, sig, verifyOptions)
}
