package store

import (
	"reflect"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// TestKindCodesCoverEveryBody: every transaction body (each pointer field
// of chain.Tx, the validator change both ways) has a kind with a code, and
// codes are distinct, so Commit indexes every valid transaction.
func TestKindCodesCoverEveryBody(t *testing.T) {
	typ := reflect.TypeOf(chain.Tx{})
	seen := map[byte]chain.TxKind{}
	bodies := 0
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Type.Kind() != reflect.Pointer || f.Type.Elem().Kind() != reflect.Struct {
			continue
		}
		for _, remove := range []bool{false, true} {
			var tx chain.Tx
			body := reflect.New(f.Type.Elem())
			if vc, ok := body.Interface().(*chain.ValidatorChange); ok {
				vc.Remove = remove
			} else if remove {
				continue
			}
			reflect.ValueOf(&tx).Elem().Field(i).Set(body)
			kind := tx.Kind()
			code, ok := kindCodes[kind]
			if kind == "" || !ok {
				t.Fatalf("a tx with only %s set: kind %q has no code in kindCodes", f.Name, kind)
			}
			if prev, dup := seen[code]; dup && prev != kind {
				t.Fatalf("code %d is both %s and %s", code, prev, kind)
			}
			seen[code] = kind
			bodies++
		}
	}
	if len(seen) != len(kindCodes) || bodies < 10 {
		t.Fatalf("%d kinds from %d bodies, kindCodes has %d", len(seen), bodies, len(kindCodes))
	}
}
