package chain

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/oasisprotocol/curve25519-voi/curve"
)

// Errors of CheckPublicKey. Each names a key that must never enter the
// chain: a device, validator, auditor, observer, regulator, industry or
// sender key.
var (
	// ErrKeyLength: the key is not 32 bytes.
	ErrKeyLength = errors.New("public key of the wrong length")
	// ErrNonCanonicalKey: the bytes are not the one standard encoding of a
	// point (y >= p, or x = 0 with the sign bit set).
	ErrNonCanonicalKey = errors.New("non-canonically encoded public key")
	// ErrKeyNotOnCurve: the bytes decode to no curve point.
	ErrKeyNotOnCurve = errors.New("public key is not a curve point")
	// ErrSmallOrderKey: the key is one of the 8 points of small order, for
	// which anyone can make a signature that verifies.
	ErrSmallOrderKey = errors.New("small-order public key")
)

// CheckPublicKey refuses an ed25519 public key that anyone could sign for,
// or that has more than one encoding. Every key that enters the chain
// (genesis, register-device, validator-add, a transaction's sender, a key
// file) passes it; signature verification itself stays ZIP-215 (see
// verifyOptions), which accepts these keys, so this check is what keeps them
// out.
//
// Small order means [8]A = identity: A is one of the 8 points of the torsion
// subgroup E[8] (the literature's "small-order points": ZIP-215; Chalkias,
// Garillot, Nikolaenko, "Taming the many EdDSAs", 2020; libsodium's
// ge25519_has_small_order). ZIP-215 checks [8]sB = [8]R + [8]kA, and
// [8]A = identity turns it into [8]sB = [8]R, true for R = identity, s = 0
// and every message: anyone can forge. With the non-canonical encodings
// (y + p for y < 19, and the sign bit set on x = 0) these points have the
// 14 encodings of ZIP-215's small-order test vectors.
//
// Mixed-order keys (A = A' + T, A' of prime order, T small) are allowed:
// the cofactor erases T, so only the holder of A's discrete log can sign,
// and refusing them would cost a full multiplication by the group order per
// key. Keys made by ed25519 key generation are always of prime order.
//
// The checks run cheapest first: length, encoding (byte comparisons),
// decoding (one square root), order (three doublings).
func CheckPublicKey(pub []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrKeyLength, len(pub), ed25519.PublicKeySize)
	}
	var c curve.CompressedEdwardsY
	copy(c[:], pub)
	if !c.IsCanonicalVartime() {
		return fmt.Errorf("%w: %x is not the standard encoding of its point (y >= p, or x = 0 with the sign bit set); make a new key (waterchain keys new)", ErrNonCanonicalKey, pub)
	}
	var p curve.EdwardsPoint
	if _, err := p.SetCompressedY(&c); err != nil {
		return fmt.Errorf("%w: %x does not decode (%v); make a new key (waterchain keys new)", ErrKeyNotOnCurve, pub, err)
	}
	if p.IsSmallOrder() {
		return fmt.Errorf("%w: %x is a point of order dividing 8, for which anyone can forge signatures; make a new key (waterchain keys new)", ErrSmallOrderKey, pub)
	}
	return nil
}

// Check is CheckPublicKey of k.
func (k PubKey) Check() error { return CheckPublicKey(k[:]) }
