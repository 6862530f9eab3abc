package chain

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestBatchVerifierAgreesWithVerify(t *testing.T) {
	bv := NewBatchVerifier(8)
	var readings []*Reading
	for i := 0; i < 8; i++ {
		r := validReading(t, uint64(i+1))
		if i == 3 {
			r.Volume++ // signature no longer matches
		}
		if i == 6 {
			r.Sig = r.Sig[:12] // malformed
		}
		readings = append(readings, r)
		bv.Add(r.Device, DomainReading, testChainID, r.SigningBytes(), r.Sig)
	}
	errs, all := bv.Verify()
	if all {
		t.Fatal("batch with bad signatures reported all valid")
	}
	for i, r := range readings {
		single := r.VerifySignature(testChainID)
		if (single == nil) != (errs[i] == nil) {
			t.Errorf("reading %d: batch says %v, single says %v", i, errs[i], single)
		}
		if i == 3 || i == 6 {
			if !errors.Is(errs[i], ErrBadSignature) {
				t.Errorf("reading %d: want a bad signature, got %v", i, errs[i])
			}
		}
	}
	if bv.Len() != 0 {
		t.Fatal("Verify did not reset the batch")
	}
	r := validReading(t, 1)
	bv.Add(r.Device, DomainReading, testChainID, r.SigningBytes(), r.Sig)
	if _, all := bv.Verify(); !all {
		t.Fatal("valid batch rejected")
	}
}

// TestBatchVerifierPooledAcrossBatches checks batches of many sizes, every
// other one with a bad signature, against Verify one by one, from two
// goroutines at once, each with one verifier kept and one made a batch in
// turn: curve25519-voi's verifiers pass from one BatchVerifier to another
// through voiVerifiers.
func TestBatchVerifierPooledAcrossBatches(t *testing.T) {
	const most = 120
	keys, msgs, sigs := signedMessages(t, "pooled", most)
	sizes := []int{1, 11, 2, most, 3, 95, 64, 1, 94, 7}
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kept := NewBatchVerifier(4)
			for round, n := range sizes {
				bv := kept
				if round%2 == g {
					bv = NewBatchVerifier(n)
				}
				off := (round*13 + g*29) % (most - n + 1)
				bad := -1
				if round%2 == 1 {
					bad = off + round%n
				}
				var want []error
				for i := off; i < off+n; i++ {
					msg := msgs[i]
					if i == bad {
						msg = []byte("not the reading")
					}
					bv.Add(keys[i], DomainReading, testChainID, msg, sigs[i])
					want = append(want, Verify(keys[i], DomainReading, testChainID, msg, sigs[i]))
				}
				errs, all := bv.Verify()
				if all != (bad < 0) {
					t.Errorf("goroutine %d, round %d (%d signatures): all valid %v, want %v", g, round, n, all, bad < 0)
				}
				for k, err := range errs {
					if (err == nil) != (want[k] == nil) || (err == nil) == (off+k == bad) {
						t.Errorf("goroutine %d, round %d: signature %d: batch says %v, Verify %v", g, round, off+k, err, want[k])
					}
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkBatchVerifyMeters checks readings of many meters in batches of
// 256, the meters taking turns as meters reporting at a fixed interval do,
// so that each key signs again only after every other one has: the case
// where the expanded-key cache must hold every meter's key.
//
//	go test ./chain -run XXX -bench BatchVerifyMeters
func BenchmarkBatchVerifyMeters(b *testing.B) {
	for _, meters := range []int{4_000, 16_000} {
		b.Run(fmt.Sprintf("meters=%d", meters), func(b *testing.B) {
			rs := make([]*Reading, meters)
			for i := range rs {
				key := testKey(b, fmt.Sprintf("meter-%d", i))
				rs[i] = &Reading{Device: key.Public(), Seq: 1, Time: 1_764_000_000_000, Volume: int64(i)}
				rs[i].Sign(testChainID, key)
			}
			bv := NewBatchVerifier(256)
			for _, r := range rs { // every key seen once, as on a running node
				bv.Add(r.Device, DomainReading, testChainID, r.SigningBytes(), r.Sig)
				if bv.Len() == 256 {
					bv.Verify()
				}
			}
			bv.Verify()
			next := 0
			b.ResetTimer()
			for b.Loop() {
				for range 256 {
					r := rs[next%meters]
					next++
					bv.Add(r.Device, DomainReading, testChainID, r.SigningBytes(), r.Sig)
				}
				if _, all := bv.Verify(); !all {
					b.Fatal("invalid")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(next), "ns/signature")
		})
	}
}

func BenchmarkBatchVerify64(b *testing.B) {
	rs := make([]*Reading, 64)
	for i := range rs {
		rs[i] = validReading(b, uint64(i+1))
	}
	bv := NewBatchVerifier(64)
	b.ResetTimer()
	for b.Loop() {
		for _, r := range rs {
			bv.Add(r.Device, DomainReading, testChainID, r.SigningBytes(), r.Sig)
		}
		if _, all := bv.Verify(); !all {
			b.Fatal("invalid")
		}
	}
	b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "sigs/s")
}

// BenchmarkBatchVerifySmall is the verifier with the few signatures votes
// and one-reading requests bring (validators' votes, each key's expanded
// form cached), per signature.
func BenchmarkBatchVerifySmall(b *testing.B) {
	keys := make([]*PrivateKey, 16)
	msgs := make([][]byte, len(keys))
	sigs := make([]Signature, len(keys))
	for i := range keys {
		keys[i] = testKey(b, fmt.Sprintf("validator-%d", i))
		msgs[i] = fmt.Appendf(nil, "vote %d", i)
		sigs[i] = keys[i].Sign(DomainVote, testChainID, msgs[i])
	}
	for _, n := range []int{1, 2, 4, 8, 16} {
		b.Run(fmt.Sprintf("sigs=%d", n), func(b *testing.B) {
			bv := NewBatchVerifier(n)
			for b.Loop() {
				for i := range n {
					bv.Add(keys[i].Public(), DomainVote, testChainID, msgs[i], sigs[i])
				}
				if _, all := bv.Verify(); !all {
					b.Fatal("invalid")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/signature")
		})
	}
}

// TestBatchVerifierAgreesOnEdgeKeys checks batch and single verification
// agree on the keys where Ed25519 rules differ (small-order points, a
// non-canonical encoding), with the expanded-key cache cold and then warm.
// Under ZIP-215, R = identity and S = 0 verify for a small-order key and
// any message.
func TestBatchVerifierAgreesOnEdgeKeys(t *testing.T) {
	hexKey := func(s string) PubKey {
		k, err := ParsePubKey(s)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keys := map[string]PubKey{
		"identity":        hexKey("0100000000000000000000000000000000000000000000000000000000000000"),
		"order 2":         hexKey("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
		"order 8":         hexKey("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
		"non-canonical y": hexKey("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
		"not a point":     hexKey("0200000000000000000000000000000000000000000000000000000000000000"),
		"an ordinary key": validReading(t, 1).Device,
	}
	identityR := make([]byte, 32)
	identityR[0] = 1
	sigs := map[string]Signature{
		"S=0": append(append(Signature{}, identityR...), make([]byte, 32)...),
		"S=1": append(append(Signature{}, identityR...), append([]byte{1}, make([]byte, 31)...)...),
	}
	msg := []byte("any message")
	for round := 0; round < 2; round++ { // the second round finds the keys cached
		for kn, key := range keys {
			for sn, sig := range sigs {
				single := Verify(key, DomainReading, testChainID, msg, sig)
				bv := NewBatchVerifier(2)
				bv.Add(key, DomainReading, testChainID, msg, sig)
				r := validReading(t, 2)
				bv.Add(r.Device, DomainReading, testChainID, r.SigningBytes(), r.Sig)
				errs, _ := bv.Verify()
				if (single == nil) != (errs[0] == nil) {
					t.Errorf("round %d, %s, %s: batch says %v, single says %v", round, kn, sn, errs[0], single)
				}
				if errs[1] != nil {
					t.Errorf("round %d, %s, %s: the good reading beside it failed: %v", round, kn, sn, errs[1])
				}
			}
		}
	}
	for _, kn := range []string{"identity", "order 8"} {
		if err := Verify(keys[kn], DomainReading, testChainID, msg, sigs["S=0"]); err != nil {
			t.Errorf("%s key, R = identity, S = 0: want valid under ZIP-215, got %v", kn, err)
		}
	}
}

func TestExpandedKeyCacheStaysBounded(t *testing.T) {
	defer func(n int) { expandedKeyCacheSize = n }(expandedKeyCacheSize)
	expandedKeyCacheSize = 4
	for i := 0; i < 10; i++ {
		key := testKey(t, fmt.Sprintf("cache-%d", i))
		r := &Reading{Device: key.Public(), Seq: 1, Time: 1}
		r.Sign(testChainID, key)
		bv := NewBatchVerifier(1)
		bv.Add(r.Device, DomainReading, testChainID, r.SigningBytes(), r.Sig)
		if _, all := bv.Verify(); !all {
			t.Fatalf("key %d: a valid signature failed", i)
		}
		expandedKeys.RLock()
		n := len(expandedKeys.m)
		expandedKeys.RUnlock()
		if n > expandedKeyCacheSize {
			t.Fatalf("after key %d the cache holds %d keys, bound %d", i, n, expandedKeyCacheSize)
		}
	}
}

// BenchmarkBatchVerifySizes checks batches of a phase's votes at 11
// validators (11), of readings at a moderate rate (64) and at peak load
// (1024), each signature by a key of its own (expanded and cached, as on a
// running node), per signature and with the bytes allocated. "reused"
// keeps one verifier, as the vote reader does; "fresh" makes one a batch,
// as block and door verification do.
//
//	go test ./chain -run XXX -bench BatchVerifySizes -benchmem
func BenchmarkBatchVerifySizes(b *testing.B) {
	const most = 1024
	keys, msgs, sigs := signedMessages(b, "signer", most)
	for _, n := range []int{11, 64, most} {
		for _, fresh := range []bool{false, true} {
			name := fmt.Sprintf("sigs=%d/reused", n)
			if fresh {
				name = fmt.Sprintf("sigs=%d/fresh", n)
			}
			b.Run(name, func(b *testing.B) {
				bv := NewBatchVerifier(n)
				for i := range n { // every key expanded once, as on a running node
					bv.Add(keys[i], DomainReading, testChainID, msgs[i], sigs[i])
				}
				bv.Verify()
				for b.Loop() {
					if fresh {
						bv = NewBatchVerifier(n)
					}
					for i := range n {
						bv.Add(keys[i], DomainReading, testChainID, msgs[i], sigs[i])
					}
					if _, all := bv.Verify(); !all {
						b.Fatal("invalid")
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/signature")
			})
		}
	}
}

// signedMessages makes n messages, each signed in the reading domain by a
// key of its own (label-i).
func signedMessages(t testing.TB, label string, n int) (keys []PubKey, msgs [][]byte, sigs []Signature) {
	keys, msgs, sigs = make([]PubKey, n), make([][]byte, n), make([]Signature, n)
	for i := range keys {
		k := testKey(t, fmt.Sprintf("%s-%d", label, i))
		keys[i] = k.Public()
		msgs[i] = fmt.Appendf(nil, "reading %d", i)
		sigs[i] = k.Sign(DomainReading, testChainID, msgs[i])
	}
	return keys, msgs, sigs
}
