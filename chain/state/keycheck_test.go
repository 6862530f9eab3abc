package state

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// zip215Keys returns the 14 distinct keys of ZIP-215's 196 small-order test
// cases (chain/testdata, copied from ../shared/testvectors): keys anyone can
// forge signatures for, which no entry point may accept.
func zip215Keys(t *testing.T) []chain.PubKey {
	t.Helper()
	data, err := os.ReadFile("../testdata/ed25519_zip215_small_order.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Cases []struct {
			VK string `json:"vk"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	seen := make(map[chain.PubKey]bool)
	var keys []chain.PubKey
	for _, c := range v.Cases {
		k, err := chain.ParsePubKey(c.VK)
		if err != nil {
			t.Fatal(err)
		}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	if len(v.Cases) != 196 || len(keys) != 14 {
		t.Fatalf("%d cases with %d distinct keys, want 196 with 14", len(v.Cases), len(keys))
	}
	return keys
}

// isWeakKeyErr: the error refuses k as a key anyone can sign for, or (the
// all-zeros encoding) as a missing key.
func isWeakKeyErr(err error, k chain.PubKey) bool {
	if k.IsZero() {
		return errors.Is(err, chain.ErrInvalid)
	}
	return errors.Is(err, chain.ErrSmallOrderKey) || errors.Is(err, chain.ErrNonCanonicalKey)
}

// TestWeakKeysNeverEnterTheState: register-device and validator-add with
// each of the 14 keys are refused, as malformed and naming the key's
// problem, and leave the state exactly as it was; even all validators
// voting for the same weak key change nothing.
func TestWeakKeysNeverEnterTheState(t *testing.T) {
	for _, k := range zip215Keys(t) {
		f := newFixture(t)
		b := f.builder(at(time.Minute))
		before, err := Root(b.View().Reader(), []byte(TxPrefix))
		if err != nil {
			t.Fatal(err)
		}
		txs := []*chain.Tx{f.tx("saver", 0, func(tx *chain.Tx) {
			tx.RegisterDevice = &chain.RegisterDevice{Device: k, Label: "forgeable"}
		})}
		for _, v := range []string{"v1", "v2", "v3", "v4"} {
			txs = append(txs, f.tx(v, 0, func(tx *chain.Tx) {
				tx.ValidatorChange = &chain.ValidatorChange{Validator: k}
			}))
		}
		for _, tx := range txs {
			err := b.Add(tx)
			if !errors.Is(err, ErrMalformedTx) || !isWeakKeyErr(err, k) {
				t.Errorf("%s of %s: got %v, want a malformed transaction refusing the key", tx.Kind(), k.Short(), err)
			}
		}
		after, err := Root(b.View().Reader(), []byte(TxPrefix))
		if err != nil {
			t.Fatal(err)
		}
		if after != before || len(b.Txs()) != 0 {
			t.Errorf("key %s: refused transactions changed the state or stayed in the block", k.Short())
		}
		// The same transactions in a proposed block make the block invalid.
		if _, _, err := ExecuteTxBlock(f.store, f.src, f.g, f.txHeader(at(time.Minute)), txs[:1]); !isWeakKeyErr(err, k) {
			t.Errorf("block registering %s: got %v", k.Short(), err)
		}
		if _, err := GetDevice(f.store, k); !errors.Is(err, ErrUnknownDevice) {
			t.Errorf("device %s: %v, want unknown", k.Short(), err)
		}
		vs, err := ValidatorSetAt(f.store, 0)
		if err != nil || vs.Has(k) {
			t.Errorf("validator set has %s: %v", k.Short(), err)
		}
	}
}

// TestGenesisRefusesWeakKeys: the state machine's own genesis check names
// the list and index of a weak key in each place a key enters.
func TestGenesisRefusesWeakKeys(t *testing.T) {
	places := map[string]func(g *Genesis, k chain.PubKey){
		"validators[1]":                func(g *Genesis, k chain.PubKey) { g.Validators[1] = k },
		"regulators[0]":                func(g *Genesis, k chain.PubKey) { g.Regulators[0] = k },
		"industries[1].account":        func(g *Genesis, k chain.PubKey) { g.Industries[1].Account = k },
		"industries[2].devices[0].key": func(g *Genesis, k chain.PubKey) { g.Industries[2].Devices[0].Key = k },
	}
	for _, k := range zip215Keys(t) {
		for field, set := range places {
			g := testGenesis()
			set(g, k)
			_, err := GenesisChanges(g)
			if !errors.Is(err, ErrBadGenesis) {
				t.Errorf("%s = %s: got %v, want ErrBadGenesis", field, k.Short(), err)
				continue
			}
			if !k.IsZero() && (!isWeakKeyErr(err, k) || !strings.Contains(err.Error(), field)) {
				t.Errorf("%s = %s: got %v, want the weak key named at %s", field, k.Short(), err, field)
			}
		}
	}
}
