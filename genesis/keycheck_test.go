package genesis

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// TestValidateRefusesWeakKeys: each of the 14 distinct keys of ZIP-215's
// small-order test cases (chain/testdata, copied from ../shared/testvectors),
// put in any place a key enters, is refused with the field named and the
// reason given, and Parse refuses the file.
func TestValidateRefusesWeakKeys(t *testing.T) {
	data, err := os.ReadFile("../chain/testdata/ed25519_zip215_small_order.json")
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
	keys := make(map[chain.PubKey]bool)
	for _, c := range v.Cases {
		k, err := chain.ParsePubKey(c.VK)
		if err != nil {
			t.Fatal(err)
		}
		keys[k] = true
	}
	if len(keys) != 14 {
		t.Fatalf("%d distinct keys, want 14", len(keys))
	}
	places := map[string]func(g *Genesis, k chain.PubKey){
		"validators[2].node_key": func(g *Genesis, k chain.PubKey) { g.Validators[2].NodeKey = k },
		"auditors[0].node_key":   func(g *Genesis, k chain.PubKey) { g.Auditors[0].NodeKey = k },
		"observers[0].node_key":  func(g *Genesis, k chain.PubKey) { g.Observers[0].NodeKey = k },
		"regulators[0].account":  func(g *Genesis, k chain.PubKey) { g.Regulators[0].Account = k },
		"industries[1].account":  func(g *Genesis, k chain.PubKey) { g.Industries[1].Account = k },
		"industries[0].devices[1].key": func(g *Genesis, k chain.PubKey) {
			g.Industries[0].Devices = []Device{{Key: testKey(t, "d0")}, {Key: k}}
		},
	}
	for k := range keys {
		for field, set := range places {
			g := validGenesis(t)
			set(g, k)
			err := g.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != field {
				t.Errorf("%s = %s: got %v, want an error naming %s", field, k.Short(), err, field)
				continue
			}
			if want := "small-order"; !k.IsZero() && !strings.Contains(fe.Reason, want) && !strings.Contains(fe.Reason, "non-canonically") {
				t.Errorf("%s = %s: reason %q does not say why", field, k.Short(), fe.Reason)
			}
			if _, err := Parse(mustMarshal(t, g)); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s = %s: Parse gave %v, want ErrInvalid", field, k.Short(), err)
			}
		}
	}
}
