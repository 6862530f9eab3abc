package chain

import (
	"errors"
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
