package node

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
)

// TestForgedReadingScenario replays issue 13's attack end to end over the
// HTTP API of a real node: an industry registers the small-order key
// 0100…00, for which R = identity, s = 0 is a valid ZIP-215 signature of
// every message, then anyone posts readings for it. The registration is
// refused at the door with an error naming the field and the reason, never
// becomes final, and the device stays unknown; the forged reading is
// refused.
func TestForgedReadingScenario(t *testing.T) {
	tn := startTestNet(t, 1, 0, 0)
	n := tn.nodes[0]
	industry := tn.account(0)
	forgeable, err := chain.ParsePubKey("0100000000000000000000000000000000000000000000000000000000000000")
	if err != nil {
		t.Fatal(err)
	}

	var acct api.Account
	if code := httpJSON(t, n, "GET", "/v1/accounts/"+industry.Public().Address().String(), nil, &acct); code != http.StatusOK {
		t.Fatalf("account: %d", code)
	}
	reg := &chain.Tx{From: industry.Public(), Nonce: acct.Nonce + 1, RegisterDevice: &chain.RegisterDevice{Device: forgeable, Label: "anyone's meter"}}
	reg.Sign(n.ChainID(), industry)
	var refusal api.Error
	code := httpJSON(t, n, "POST", "/v1/txs", reg, &refusal)
	if code != http.StatusBadRequest || !strings.Contains(refusal.Message, "register_device.device") || !strings.Contains(refusal.Message, "small-order") {
		t.Fatalf("register-device of %s: %d %q (%s), want 400 naming register_device.device as small-order", forgeable.Short(), code, refusal.Message, refusal.Code)
	}

	// A transaction after it, with the same nonce, becomes final: a block
	// was made, and the refused registration is in none.
	next := submitTx(t, n, industry, &chain.Tx{Nonce: reg.Nonce, Transfer: &chain.Transfer{To: tn.regulatorKey().Public().Address(), Amount: chain.DropUnit}})
	waitFor(t, 20*time.Second, "the next transaction final", func() bool {
		var st api.TxStatus
		return httpJSON(t, n, "GET", "/v1/txs/"+next.String(), nil, &st) == http.StatusOK && st.Status == "final"
	})
	var st api.TxStatus
	if code := httpJSON(t, n, "GET", "/v1/txs/"+reg.Hash().String(), nil, &st); code == http.StatusOK && st.Status == "final" {
		t.Fatalf("the refused register-device is final: %+v", st)
	}
	if code := httpJSON(t, n, "GET", "/v1/devices/"+forgeable.String(), nil, nil); code != http.StatusNotFound {
		t.Fatalf("device %s: %d, want 404", forgeable.Short(), code)
	}

	// The forged reading: R = identity, s = 0, "signed" by nobody.
	sig := make(chain.Signature, 64)
	sig[0] = 1
	forged := &chain.Reading{
		Device: forgeable, Seq: 1, Time: chain.TimeOf(time.Now().Add(-time.Second)),
		FlowRate: 999_999_999, Volume: 3_000_000, VolumeTotal: 3_000_000,
		Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 450,
		Sig: sig,
	}
	var res api.SubmitReadingsResult
	code = httpJSON(t, n, "POST", "/v1/readings", []*chain.Reading{forged}, &res)
	if code == http.StatusAccepted || res.Accepted != 0 || len(res.Results) != 1 || res.Results[0].Error == "" {
		t.Fatalf("forged reading: %d %+v, want it refused", code, res)
	}
	if got := res.Results[0].Code; got != api.CodeUnknownDevice {
		t.Errorf("forged reading refused with code %q (%s), want %q", got, res.Results[0].Error, api.CodeUnknownDevice)
	}
}
