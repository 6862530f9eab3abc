package genesis

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, that it fails only with
// ErrMalformed or ErrInvalid, and that whatever it accepts is valid and
// survives Marshal and Parse again with the same hash.
func FuzzParse(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "genesis.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add(mustMarshal(f, validGenesis(f)))
	f.Add(bytes.Replace(golden, []byte(`"chain_id"`), []byte(`"chain_id": 1, "chain_id"`), 1))
	f.Add([]byte(`{"chain_id":"x","validators":[{"name":"v","node_key":"` + string(bytes.Repeat([]byte("ab"), 32)) + `"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[[[[{"a":{"a":1,"A":2}}]]]]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrInvalid: %v", err)
			}
			return
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("Parse returned an invalid genesis: %v", err)
		}
		again, err := Parse(mustMarshal(t, g))
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(data))): %v", err)
		}
		if again.Hash() != g.Hash() {
			t.Fatalf("hash changed over Marshal and Parse")
		}
		_ = g.ValidatorSet().Hash()
		_ = g.Period().Label(0)
	})
}
