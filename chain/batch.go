package chain

import (
	"crypto/ed25519"
	"fmt"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// BatchVerifier checks many signatures at once, several times faster than
// one by one when all are valid (and no slower to find which are not). It
// applies exactly the rule of Verify. A BatchVerifier is not safe for
// concurrent use; make one per goroutine.
type BatchVerifier struct {
	v       *voi.BatchVerifier
	domains []string
	signers []PubKey
	bad     []bool // malformed before verification
}

// NewBatchVerifier makes a verifier with room for n signatures.
func NewBatchVerifier(n int) *BatchVerifier {
	return &BatchVerifier{v: voi.NewBatchVerifierWithCapacity(n)}
}

// Add queues one signature, as Verify(pub, domain, chainID, canonical, sig)
// would check it.
func (b *BatchVerifier) Add(pub PubKey, domain, chainID string, canonical []byte, sig Signature) {
	b.domains = append(b.domains, domain)
	b.signers = append(b.signers, pub)
	if len(sig) != ed25519.SignatureSize {
		b.bad = append(b.bad, true)
		// Keep indexes aligned with a placeholder that cannot verify.
		sig = make([]byte, ed25519.SignatureSize)
	} else {
		b.bad = append(b.bad, false)
	}
	d := SignDigest(domain, chainID, canonical)
	b.v.AddWithOptions(pub[:], d[:], sig, verifyOptions)
}

// Len is the number of queued signatures.
func (b *BatchVerifier) Len() int { return len(b.signers) }

// Verify checks every queued signature and returns one error per signature
// (nil for a valid one), in the order they were added, and whether all were
// valid. It resets the verifier.
func (b *BatchVerifier) Verify() (errs []error, allValid bool) {
	defer func() {
		b.v.Reset()
		b.domains, b.signers, b.bad = b.domains[:0], b.signers[:0], b.bad[:0]
	}()
	if len(b.signers) == 0 {
		return nil, true
	}
	ok, valid := b.v.Verify(nil)
	errs = make([]error, len(b.signers))
	allValid = true
	for i := range errs {
		if b.bad[i] || !(ok || valid[i]) {
			errs[i] = fmt.Errorf("%w: %s signature by %s does not verify", ErrBadSignature, b.domains[i], b.signers[i].Short())
			allValid = false
		}
	}
	return errs, allValid
}
