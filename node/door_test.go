package node

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
)

// TestDoorChecksCheapestFirst sends readings that are both refused by the
// state and badly signed: the state's refusal must be the answer, given
// without a signature check. A reading sent twice is checked once.
func TestDoorChecksCheapestFirst(t *testing.T) {
	tn := startTestNet(t, 1, 0, 1)
	n := tn.nodes[0]
	dev := tn.deviceKey(0)
	good := signedReading(n.ChainID(), dev, 1, time.Now())
	var res api.SubmitReadingsResult
	if code := httpJSON(t, n, "POST", "/v1/readings", []*chain.Reading{good}, &res); code != http.StatusAccepted {
		t.Fatalf("good reading: %d %+v", code, res)
	}
	waitFor(t, 20*time.Second, "reading 1 final", func() bool {
		var dv api.Device
		return httpJSON(t, n, "GET", "/v1/devices/"+dev.Public().String(), nil, &dv) == 200 && dv.LastSeq == 1
	})
	forge := func(r *chain.Reading) *chain.Reading {
		r.Sig = append(chain.Signature(nil), r.Sig...)
		r.Sig[0] ^= 1
		return r
	}
	unknown, _ := chain.GenerateKey(nil)
	before := counterValue(t, n.metrics.doorSignatureChecks)
	for _, tc := range []struct {
		name string
		r    *chain.Reading
		code int
		want string
	}{
		{"unregistered device, bad signature", forge(signedReading(n.ChainID(), unknown, 1, time.Now())), 422, api.CodeUnknownDevice},
		{"replayed seq, bad signature", forge(signedReading(n.ChainID(), dev, 1, time.Now())), 409, api.CodeReplayed},
		{"outside the window, bad signature", forge(signedReading(n.ChainID(), dev, 3, time.Now().Add(time.Hour))), 422, api.CodeOutOfWindow},
	} {
		var e api.Error
		if code := httpJSON(t, n, "POST", "/v1/readings", []*chain.Reading{tc.r}, &e); code != tc.code || e.Code != tc.want {
			t.Errorf("%s: %d %q (%s), want %d %q", tc.name, code, e.Code, e.Message, tc.code, tc.want)
		}
	}
	if got := counterValue(t, n.metrics.doorSignatureChecks) - before; got != 0 {
		t.Errorf("%.0f signatures checked for readings the state refused or already held, want none", got)
	}
	// A reading the state takes has its signature checked; the same
	// reading twice in a request is checked once.
	var e api.Error
	if code := httpJSON(t, n, "POST", "/v1/readings", []*chain.Reading{forge(signedReading(n.ChainID(), dev, 2, time.Now()))}, &e); code != 400 || e.Code != api.CodeBadSignature {
		t.Errorf("forged reading the state takes: %d %q, want 400 bad_signature", code, e.Code)
	}
	two := signedReading(n.ChainID(), dev, 2, time.Now())
	if code := httpJSON(t, n, "POST", "/v1/readings", []*chain.Reading{two, two}, &res); code != http.StatusMultiStatus ||
		res.Results[0].Error != "" || res.Results[1].Code != api.CodeDuplicate {
		t.Errorf("a reading twice: %d %+v, want 207 with the second a duplicate", code, res)
	}
	if got := counterValue(t, n.metrics.doorSignatureChecks) - before; got != 2 {
		t.Errorf("%.0f signatures checked for a forged reading and a genuine one sent twice, want 2", got)
	}
}

// TestDoorVerifierRefusesPastItsBudget holds part of the budget and checks
// that a request that does not fit is refused at once, checking nothing,
// and that one larger than the whole budget runs when the budget is free.
func TestDoorVerifierRefusesPastItsBudget(t *testing.T) {
	const chainID = "door-test"
	key, _ := chain.GenerateKey(nil)
	rs := make([]*chain.Reading, 20)
	for i := range rs {
		rs[i] = signedReading(chainID, key, uint64(i+1), time.Now())
	}
	rs[7].Sig = append(chain.Signature(nil), rs[7].Sig...)
	rs[7].Sig[3] ^= 1
	hashes := readingHashes(rs)
	at := func(i int) (chain.PubKey, string, []byte, chain.Signature) { return readingSig(rs[i]) }
	checked := 0
	d := newDoorVerifier(10, 1, func(k int) { checked += k })

	if !d.inFlight.TryAcquire(5) {
		t.Fatal("cannot hold half the budget")
	}
	if _, err := d.verify(nil, chainID, hashes[:6], at); !errors.Is(err, errDoorBusy) {
		t.Fatalf("6 entries with 5 of 10 free: %v, want errDoorBusy", err)
	}
	errs, err := d.verify(nil, chainID, hashes[:5], at)
	if err != nil || checked != 5 {
		t.Fatalf("5 entries with 5 free: %v, %d checked", err, checked)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("entry %d: %v", i, e)
		}
	}
	if _, err := d.verify(nil, chainID, hashes, at); !errors.Is(err, errDoorBusy) {
		t.Fatalf("20 entries with half the budget held: %v, want errDoorBusy", err)
	}
	d.inFlight.Release(5)
	errs, err = d.verify(nil, chainID, hashes, at)
	if err != nil {
		t.Fatalf("20 entries with the budget of 10 free: %v", err)
	}
	for i, e := range errs {
		if (e != nil) != (i == 7) {
			t.Fatalf("entry %d: %v; only entry 7 is forged", i, e)
		}
	}
	if checked != 25 {
		t.Fatalf("%d signatures checked, want 25", checked)
	}
	if !d.inFlight.TryAcquire(10) {
		t.Fatal("the budget was not given back")
	}
}
