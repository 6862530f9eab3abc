package chain

import (
	"crypto/ed25519"
	"fmt"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// BatchVerifier checks many signatures at once, several times faster than
// one by one when all are valid (and no slower to find which are not). It
// applies exactly the rule of Verify. A BatchVerifier is not safe for
// concurrent use; make one per goroutine.
type BatchVerifier struct {
	// v is taken from voiVerifiers when a batch needs it and put back by
	// Verify; room is the capacity it is made with if there is none.
	v       *voi.BatchVerifier
	room    int
	domains []string
	signers []PubKey
	bad     []bool     // malformed before verification
	digests [][32]byte // the signing digests Add computed, read by v
	// first is the first signature queued, handed to v only when a second
	// comes: one alone is checked as Verify checks it, which costs about a
	// third less than a batch of one (BenchmarkBatchVerifySmall: 34–39
	// against 52–59 µs), and votes and a meter's own readings often come
	// one at a time. The rule is the same (ZIP-215 both ways;
	// TestBatchOfOneAgreesWithVerify).
	first struct {
		pub PubKey
		msg []byte
		sig Signature
	}
}

// NewBatchVerifier makes a verifier with room for n signatures.
func NewBatchVerifier(n int) *BatchVerifier {
	n = max(n, 0)
	return &BatchVerifier{
		room:    n,
		domains: make([]string, 0, n),
		signers: make([]PubKey, 0, n),
		bad:     make([]bool, 0, n),
		digests: make([][32]byte, 0, n),
	}
}

// maxPooledBatch is the most signatures a curve25519-voi verifier may have
// held to be put back in voiVerifiers: it keeps room for them, about 430
// bytes each (1.7 MiB), and a larger one is left to the garbage collector.
const maxPooledBatch = 4096

// voiVerifiers holds curve25519-voi's verifiers between batches, so that a
// BatchVerifier made for one batch, as block and door verification make
// them, does not allocate the verifier's entries every time; sync.Pool
// drops those unused for two garbage collections. A verifier is Reset
// before it is put back, keeping nothing of its batch.
var voiVerifiers sync.Pool

// Add queues one signature, as Verify(pub, domain, chainID, canonical, sig)
// would check it.
func (b *BatchVerifier) Add(pub PubKey, domain, chainID string, canonical []byte, sig Signature) {
	// The digest is kept in b.digests, not allocated on its own: v hashes
	// it within Add, the first signature's when the second comes.
	b.digests = append(b.digests, SignDigest(domain, chainID, canonical))
	b.addMessage(pub, domain, b.digests[len(b.digests)-1][:], sig)
}

// addMessage queues a signature over msg: a signing digest, or a public
// test vector's raw message.
func (b *BatchVerifier) addMessage(pub PubKey, domain string, msg []byte, sig Signature) {
	b.domains = append(b.domains, domain)
	b.signers = append(b.signers, pub)
	if len(sig) != ed25519.SignatureSize {
		b.bad = append(b.bad, true)
		// Keep indexes aligned with a placeholder that cannot verify.
		sig = make([]byte, ed25519.SignatureSize)
	} else {
		b.bad = append(b.bad, false)
	}
	switch len(b.signers) {
	case 1:
		b.first.pub, b.first.msg, b.first.sig = pub, msg, sig
		return
	case 2:
		b.addToBatch(b.first.pub, b.first.msg, b.first.sig)
	}
	b.addToBatch(pub, msg, sig)
}

func (b *BatchVerifier) addToBatch(pub PubKey, msg []byte, sig Signature) {
	if b.v == nil {
		if v, ok := voiVerifiers.Get().(*voi.BatchVerifier); ok {
			b.v = v
		} else {
			b.v = voi.NewBatchVerifierWithCapacity(min(b.room, maxPooledBatch))
		}
	}
	if xk := expandedKey(pub); xk != nil {
		b.v.AddExpandedWithOptions(xk, msg, sig, verifyOptions)
		return
	}
	b.v.AddWithOptions(pub[:], msg, sig, verifyOptions)
}

// verifyFirst checks the first signature queued on its own.
func (b *BatchVerifier) verifyFirst() bool {
	f := &b.first
	if xk := expandedKey(f.pub); xk != nil {
		return voi.VerifyExpandedWithOptions(xk, f.msg, f.sig, verifyOptions)
	}
	return voi.VerifyWithOptions(f.pub[:], f.msg, f.sig, verifyOptions)
}

// expandedKeyCacheSize bounds the expanded public keys kept (1,452 bytes
// each, so 91 MiB when full, whatever signs): room for every meter and
// validator of a river basin, tens of industries with up to a few
// thousand meters each. A network with more keys signing in turn than the
// cache holds expands a key for nearly every signature, which costs about
// half as much again as the signature's share of a batch check:
// BenchmarkBatchVerifyMeters gave 27–29 µs a signature for 16,000 meters
// with room for 8,192 keys (this bound until 3 December), 19–20 µs with
// room for all, and 18–19 µs for 4,000 meters either way. A variable for
// tests.
var expandedKeyCacheSize = 1 << 16

// expandedKeys caches public keys in curve25519-voi's expanded form. A key
// signs again and again (a meter every hour, a validator every height), and
// expanding it (decompressing the point and a table of its multiples) costs
// about as much as the rest of its share of a batch check. The expanded
// form is a pure function of the key's bytes, so a cached entry is always
// right; when the cache is full, a random half is dropped.
var expandedKeys = struct {
	sync.RWMutex
	m map[PubKey]*voi.ExpandedPublicKey
}{m: make(map[PubKey]*voi.ExpandedPublicKey)}

// expandedKey returns pub expanded, or nil when pub is not a valid point
// (the verifier then applies the validity rule and rejects the signature).
func expandedKey(pub PubKey) *voi.ExpandedPublicKey {
	expandedKeys.RLock()
	xk := expandedKeys.m[pub]
	expandedKeys.RUnlock()
	if xk != nil {
		return xk
	}
	xk, err := voi.NewExpandedPublicKey(pub[:])
	if err != nil {
		return nil
	}
	expandedKeys.Lock()
	if len(expandedKeys.m) >= expandedKeyCacheSize {
		for k := range expandedKeys.m { // in random order
			if len(expandedKeys.m) <= expandedKeyCacheSize/2 {
				break
			}
			delete(expandedKeys.m, k)
		}
	}
	expandedKeys.m[pub] = xk
	expandedKeys.Unlock()
	return xk
}

// Len is the number of queued signatures.
func (b *BatchVerifier) Len() int { return len(b.signers) }

// Verify checks every queued signature and returns one error per signature
// (nil for a valid one), in the order they were added, and whether all were
// valid. It resets the verifier.
func (b *BatchVerifier) Verify() (errs []error, allValid bool) {
	defer func() {
		if b.v != nil {
			b.v.Reset()
			if len(b.signers) <= maxPooledBatch {
				voiVerifiers.Put(b.v)
			}
			b.v = nil
		}
		b.domains, b.signers, b.bad = b.domains[:0], b.signers[:0], b.bad[:0]
		b.digests = b.digests[:0]
		b.first.msg, b.first.sig = nil, nil
	}()
	var ok bool
	var valid []bool
	switch len(b.signers) {
	case 0:
		return nil, true
	case 1:
		ok = b.verifyFirst()
		valid = []bool{ok}
	default:
		ok, valid = b.v.Verify(nil)
	}
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
