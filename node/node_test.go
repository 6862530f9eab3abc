package node

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
)

// TestSingleValidatorEndToEnd is issue 2's acceptance test: one validator
// on a temporary directory registers a device, takes 100 readings and some
// transfers, finalizes them with valid hash links and certificates, and
// finds everything again after a restart.
func TestSingleValidatorEndToEnd(t *testing.T) {
	tn := startTestNet(t, 1, 0, 0)
	n := tn.nodes[0]
	industry := tn.account(0)
	dev, err := chain.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}

	// Register the meter and wait for it to be final.
	regHash := submitTx(t, n, industry, &chain.Tx{RegisterDevice: &chain.RegisterDevice{Device: dev.Public(), Label: "outfall A"}})
	waitFor(t, 20*time.Second, "register-device final", func() bool {
		var st api.TxStatus
		return httpJSON(t, n, "GET", "/v1/txs/"+regHash.String(), nil, &st) == 200 && st.Status == "final"
	})
	var d api.Device
	if code := httpJSON(t, n, "GET", "/v1/devices/"+dev.Public().String(), nil, &d); code != 200 || d.Status != "active" {
		t.Fatalf("device after registration: %d %+v", code, d)
	}

	// 100 readings in two batches.
	start := time.Now().Add(-25 * time.Second)
	var readings []*chain.Reading
	for i := 1; i <= 100; i++ {
		readings = append(readings, signedReading(n.ChainID(), dev, uint64(i), start.Add(time.Duration(i)*200*time.Millisecond)))
	}
	for _, batch := range [][]*chain.Reading{readings[:50], readings[50:]} {
		var res api.SubmitReadingsResult
		if code := httpJSON(t, n, "POST", "/v1/readings", batch, &res); code != http.StatusAccepted || res.Accepted != len(batch) {
			t.Fatalf("submit readings: %d %+v", code, res)
		}
	}

	// A few transfers to the regulator's address.
	other := tn.nw.Accounts[len(tn.nw.Accounts)-1].Address
	var last chain.Hash
	var before api.Account
	httpJSON(t, n, "GET", "/v1/accounts/"+industry.Public().Address().String(), nil, &before)
	for i := 0; i < 3; i++ {
		// Three in a row: the door accepts a sender's next nonces while
		// the earlier ones wait.
		last = submitTx(t, n, industry, &chain.Tx{Nonce: before.Nonce + 1 + uint64(i), Transfer: &chain.Transfer{To: other, Amount: uint64(i+1) * chain.DropUnit}})
	}
	waitFor(t, 20*time.Second, "100 readings and transfers final", func() bool {
		var dv api.Device
		var st api.TxStatus
		return httpJSON(t, n, "GET", "/v1/devices/"+dev.Public().String(), nil, &dv) == 200 && dv.LastSeq == 100 &&
			httpJSON(t, n, "GET", "/v1/txs/"+last.String(), nil, &st) == 200 && st.Status == "final"
	})
	var acct api.Account
	httpJSON(t, n, "GET", "/v1/accounts/"+other.String(), nil, &acct)
	if acct.Balance != 6*chain.DropUnit {
		t.Fatalf("recipient balance %d, want %d", acct.Balance, 6*chain.DropUnit)
	}

	checkChain := func(n *Node) {
		t.Helper()
		// The running node may have a block in its state that the
		// commit writer has not stored yet: give it a moment to agree.
		err := checkStateCache(n.state, n.store)
		for end := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(end); {
			time.Sleep(20 * time.Millisecond)
			err = checkStateCache(n.state, n.store)
		}
		if err != nil {
			t.Fatal(err)
		}
		vs, err := n.validatorSet(chain.LaneTx, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, lane := range chain.Lanes {
			var prev *chain.Header
			for h := uint64(1); h <= n.Height(lane); h++ {
				b, err := n.Block(lane, h)
				if err != nil {
					t.Fatalf("%s/%d: %v", lane, h, err)
				}
				if err := b.ValidateBasic(); err != nil {
					t.Fatalf("%s/%d: %v", lane, h, err)
				}
				if err := chain.VerifyLink(prev, n.GenesisHash(), &b.Header); err != nil {
					t.Fatalf("%s/%d: %v", lane, h, err)
				}
				if b.Cert == nil {
					t.Fatalf("%s/%d has no certificate", lane, h)
				}
				if err := b.Cert.Verify(n.ChainID(), vs, lane, h, b.Hash()); err != nil {
					t.Fatalf("%s/%d: %v", lane, h, err)
				}
				if err := b.VerifyEntrySignatures(n.ChainID(), nil); err != nil {
					t.Fatalf("%s/%d: %v", lane, h, err)
				}
				prev = &b.Header
			}
		}
		rs, err := n.Readings(api.ReadingQuery{Device: dev.Public(), Limit: 1000})
		if err != nil || len(rs) != 100 {
			t.Fatalf("readings of the device: %d, %v", len(rs), err)
		}
		for i, r := range rs {
			if r.Seq != uint64(i+1) || r.Hash != readings[i].Hash() {
				t.Fatalf("reading %d: seq %d hash %s, want seq %d hash %s", i, r.Seq, r.Hash.Short(), i+1, readings[i].Hash().Short())
			}
		}
		one, err := n.Readings(api.ReadingQuery{Device: dev.Public(), Seq: 42})
		if err != nil || len(one) != 1 || one[0].Hash != readings[41].Hash() {
			t.Fatalf("reading seq 42: %v %v", one, err)
		}
	}
	checkChain(n)

	// The proof bundle of one reading checks offline against genesis alone,
	// and fails once tampered with.
	var proof chain.ReadingProof
	if code := httpJSON(t, n, "GET", "/v1/proofs/readings/"+dev.Public().String()+"/42", nil, &proof); code != 200 {
		t.Fatalf("proof: %d", code)
	}
	var genesisKeys []chain.PubKey
	for _, v := range tn.nw.Genesis.Validators {
		genesisKeys = append(genesisKeys, v.NodeKey)
	}
	if err := proof.Verify(n.ChainID(), n.GenesisHash(), genesisKeys); err != nil {
		t.Fatalf("proof of a final reading: %v", err)
	}
	tampered := proof
	r := *proof.Reading
	r.Volume++
	tampered.Reading = &r
	tampered.ReadingCBOR = r.Encode()
	if err := tampered.Verify(n.ChainID(), n.GenesisHash(), genesisKeys); err == nil {
		t.Fatal("a tampered reading's proof verified")
	}
	// The compliance report of the open period, served by the node.
	var rep struct {
		Status string            `json:"status"`
		Rows   []json.RawMessage `json:"rows"`
	}
	if code := httpJSON(t, n, "GET", "/v1/reports/0", nil, &rep); code != 200 || rep.Status != "open" || len(rep.Rows) != 1 {
		t.Fatalf("report of period 0: %d %+v", code, rep)
	}
	heights := [3]uint64{0, n.Height(chain.LaneData), n.Height(chain.LaneTx)}

	// Restart on the same home: everything is found again, and the node
	// goes on finalizing from where it stopped.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = tn.start(0)
	tn.nodes[0] = n
	for _, lane := range chain.Lanes {
		if n.Height(lane) < heights[lane] {
			t.Fatalf("%s height after restart %d, was %d", lane, n.Height(lane), heights[lane])
		}
	}
	checkChain(n)
	httpJSON(t, n, "GET", "/v1/accounts/"+other.String(), nil, &acct)
	if acct.Balance != 6*chain.DropUnit {
		t.Fatalf("recipient balance after restart %d, want %d", acct.Balance, 6*chain.DropUnit)
	}
	r101 := signedReading(n.ChainID(), dev, 101, time.Now())
	var res api.SubmitReadingsResult
	if code := httpJSON(t, n, "POST", "/v1/readings", []*chain.Reading{r101}, &res); code != http.StatusAccepted {
		t.Fatalf("reading after restart: %d %+v", code, res)
	}
	waitFor(t, 20*time.Second, "reading 101 final after restart", func() bool {
		var dv api.Device
		return httpJSON(t, n, "GET", "/v1/devices/"+dev.Public().String(), nil, &dv) == 200 && dv.LastSeq == 101
	})
}

// TestDoorRejectsBadInput checks that malformed, badly signed, replayed and
// unknown-device readings and bad transactions get a 4xx JSON error naming
// the problem, and change nothing.
func TestDoorRejectsBadInput(t *testing.T) {
	tn := startTestNet(t, 1, 0, 1)
	n := tn.nodes[0]
	devKey := tn.deviceKey(0)
	good := signedReading(n.ChainID(), devKey, 1, time.Now())
	var res api.SubmitReadingsResult
	if code := httpJSON(t, n, "POST", "/v1/readings", []*chain.Reading{good}, &res); code != http.StatusAccepted {
		t.Fatalf("good reading: %d %+v", code, res)
	}
	// Final, and out of the mempool: the state shows it before the commit
	// has pruned the pool, and the test below counts the pool.
	waitFor(t, 20*time.Second, "reading 1 final and out of the mempool", func() bool {
		var dv api.Device
		return httpJSON(t, n, "GET", "/v1/devices/"+devKey.Public().String(), nil, &dv) == 200 && dv.LastSeq == 1 && n.readings.Len() == 0
	})
	forged := signedReading(n.ChainID(), devKey, 2, time.Now())
	forged.Volume++
	unknown, _ := chain.GenerateKey(nil)
	otherChain := signedReading("another-chain", devKey, 2, time.Now())
	stale := signedReading(n.ChainID(), devKey, 1, time.Now().Add(time.Second))
	future := signedReading(n.ChainID(), devKey, 3, time.Now().Add(time.Hour))
	for _, tc := range []struct {
		name string
		body any
		code int
		want string
	}{
		{"bad signature", []*chain.Reading{forged}, 400, api.CodeBadSignature},
		{"other chain's signature", []*chain.Reading{otherChain}, 400, api.CodeBadSignature},
		{"unknown device", []*chain.Reading{signedReading(n.ChainID(), unknown, 1, time.Now())}, 422, api.CodeUnknownDevice},
		{"replayed seq", []*chain.Reading{stale}, 409, api.CodeReplayed},
		{"outside the time window", []*chain.Reading{future}, 422, api.CodeOutOfWindow},
		{"malformed JSON", map[string]any{"device": "zz"}, 400, api.CodeBadRequest},
		{"unknown field", map[string]any{"seq": 1, "colour": "blue"}, 400, api.CodeBadRequest},
	} {
		var e api.Error
		code := httpJSON(t, n, "POST", "/v1/readings", tc.body, &e)
		if code != tc.code || e.Code != tc.want || e.Message == "" {
			t.Errorf("%s: got %d %q %q, want %d %q", tc.name, code, e.Code, e.Message, tc.code, tc.want)
		}
	}
	if n.readings.Len() != 0 {
		t.Fatalf("%d rejected readings reached the mempool", n.readings.Len())
	}
	var dv api.Device
	httpJSON(t, n, "GET", "/v1/devices/"+devKey.Public().String(), nil, &dv)
	if dv.LastSeq != 1 {
		t.Fatalf("device last seq %d after rejected readings, want 1", dv.LastSeq)
	}

	// Transactions: wrong nonce, bad signature, insufficient drops.
	industry := tn.account(0)
	var acct api.Account
	httpJSON(t, n, "GET", "/v1/accounts/"+industry.Public().Address().String(), nil, &acct)
	to := tn.nw.Accounts[len(tn.nw.Accounts)-1].Address
	mk := func(nonce, amount uint64) *chain.Tx {
		tx := &chain.Tx{From: industry.Public(), Nonce: nonce, Transfer: &chain.Transfer{To: to, Amount: amount}}
		tx.Sign(n.ChainID(), industry)
		return tx
	}
	badSig := mk(acct.Nonce+1, 1)
	badSig.Transfer.Amount = 2
	for _, tc := range []struct {
		name string
		tx   *chain.Tx
		code int
		want string
	}{
		{"wrong nonce", mk(acct.Nonce+5, 1), 409, api.CodeBadNonce},
		{"bad signature", badSig, 400, api.CodeBadSignature},
		{"insufficient drops", mk(acct.Nonce+1, acct.Balance+1), 422, api.CodeRejected},
	} {
		var e api.Error
		code := httpJSON(t, n, "POST", "/v1/txs", tc.tx, &e)
		if code != tc.code || e.Code != tc.want || e.Message == "" {
			t.Errorf("%s: got %d %q %q, want %d %q", tc.name, code, e.Code, e.Message, tc.code, tc.want)
		}
	}
	if n.txs.Len() != 0 {
		t.Fatalf("%d rejected transactions reached the mempool", n.txs.Len())
	}
}
