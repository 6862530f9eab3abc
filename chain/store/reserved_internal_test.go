package store

import "testing"

// TestPrefixesDistinct: every table of the store and every reserved
// prefix has a first byte of its own.
func TestPrefixesDistinct(t *testing.T) {
	owner := map[byte]string{}
	for _, p := range storeTables {
		if o, dup := owner[p]; dup {
			t.Errorf("prefix %q is the store's twice (%s)", p, o)
		}
		owner[p] = "chain/store"
	}
	for p, o := range reservedPrefixes {
		if prev, dup := owner[p]; dup {
			t.Errorf("prefix %q reserved for %s is already %s's", p, o, prev)
		}
		owner[p] = o
	}
}
