// This file is the fork's, not upstream's: see WATERCHAIN.md at the
// module's root.

package ed25519

import (
	"fmt"
	"sync"
	"testing"
)

// TestBatchVerifierScratchReuse checks that the pooled scratch of batch
// verification changes no result: batches of sizes in turn (on both sides
// of the 94 signatures from which the batch stops using expanded keys, and
// of Pippenger's threshold), every other one with a bad signature, with
// keys expanded or not, against verification one by one, from two
// goroutines at once, each over other signatures, in another order.
func TestBatchVerifierScratchReuse(t *testing.T) {
	const most = 300
	sizes := []int{1, 11, 93, 94, 95, 2, most, 11, 64, 189, 3, 250, 37, 1}
	opts := &Options{Verify: VerifyOptionsZIP_215}
	pubs := make([]PublicKey, most)
	expanded := make([]*ExpandedPublicKey, most)
	msgs := make([][]byte, most)
	sigs := make([][]byte, most)
	for i := range pubs {
		pub, priv, err := GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		pubs[i], msgs[i] = pub, []byte(fmt.Sprintf("message %d", i))
		sigs[i] = Sign(priv, msgs[i])
		if expanded[i], err = NewExpandedPublicKey(pub); err != nil {
			t.Fatal(err)
		}
	}

	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			v := NewBatchVerifier()
			for round := range sizes {
				n := sizes[round]
				if g == 1 {
					n = sizes[len(sizes)-1-round]
				}
				off := (round*37 + g*101) % (most - n + 1)
				if round%4 == 3 {
					v = NewBatchVerifierWithCapacity(n)
				} else {
					v.Reset()
				}
				if round%3 == 2 {
					v.ForceNoPublicKeyExpansion()
				}
				wantAll := true
				want := make([]bool, n)
				for i := 0; i < n; i++ {
					k := off + i
					msg := msgs[k]
					if round%2 == 1 && i == (round*7)%n { // one bad signature
						msg = []byte("not the message")
					}
					want[i] = VerifyWithOptions(pubs[k], msg, sigs[k], opts)
					wantAll = wantAll && want[i]
					if round%3 == 0 {
						v.AddExpandedWithOptions(expanded[k], msg, sigs[k], opts)
					} else {
						v.AddWithOptions(pubs[k], msg, sigs[k], opts)
					}
				}
				if wantAll != (round%2 == 0) {
					t.Errorf("goroutine %d, round %d: one by one, all valid is %v: the test's signatures are wrong", g, round, wantAll)
					return
				}
				if got := v.VerifyBatchOnly(nil); got != wantAll {
					t.Errorf("goroutine %d, round %d (%d signatures): VerifyBatchOnly says %v, one by one %v", g, round, n, got, wantAll)
				}
				all, valid := v.Verify(nil)
				if all != wantAll {
					t.Errorf("goroutine %d, round %d (%d signatures): Verify says all valid %v, one by one %v", g, round, n, all, wantAll)
				}
				for i := range want {
					if valid[i] != want[i] {
						t.Errorf("goroutine %d, round %d: signature %d: Verify says %v, one by one %v", g, round, i, valid[i], want[i])
					}
				}
			}
		}(g)
	}
	wg.Wait()
}
