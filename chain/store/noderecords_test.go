package store_test

import (
	"errors"
	"testing"

	"github.com/waterchain/waterchain/chain/store"
)

// TestNodeRecords: node records are written together, read back, listed
// by prefix in both orders (only under that prefix) and deleted.
func TestNodeRecords(t *testing.T) {
	s := openStore(t, openBadgerIn(t, t.TempDir()))
	if _, err := s.GetNodeRecord("alerts/checkpoint"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("absent record: %v, want ErrNotFound", err)
	}
	if err := s.PutNodeRecords(
		store.NodeRecord{Name: "alerts/checkpoint", Value: []byte("ck")},
		store.NodeRecord{Name: "alerts/block/1", Value: []byte("a1")},
		store.NodeRecord{Name: "alerts/block/2", Value: []byte("a2")},
		store.NodeRecord{Name: "other", Value: []byte("o")},
	); err != nil {
		t.Fatal(err)
	}
	if err := s.PutNodeRecords(store.NodeRecord{Name: ""}); !errors.Is(err, store.ErrEmptyKey) {
		t.Fatalf("empty name: %v, want ErrEmptyKey", err)
	}
	list := func(reverse bool) (out []string) {
		t.Helper()
		if err := s.IterateNodeRecords("alerts/block/", reverse, func(name string, v []byte) error {
			out = append(out, name+"="+string(v))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := list(false); len(got) != 2 || got[0] != "alerts/block/1=a1" || got[1] != "alerts/block/2=a2" {
		t.Fatalf("ascending: %q", got)
	}
	if got := list(true); len(got) != 2 || got[0] != "alerts/block/2=a2" {
		t.Fatalf("descending: %q", got)
	}
	if err := s.PutNodeRecords(store.NodeRecord{Name: "alerts/block/1", Delete: true}); err != nil {
		t.Fatal(err)
	}
	if got := list(false); len(got) != 1 {
		t.Fatalf("after delete: %q", got)
	}
}
