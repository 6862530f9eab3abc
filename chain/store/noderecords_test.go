package store_test

import (
	"errors"
	"fmt"
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

// TestNodeRecordsBefore: IterateNodeRecordsBefore lists the records under
// a prefix strictly below a name, descending, and nothing outside the
// prefix.
func TestNodeRecordsBefore(t *testing.T) {
	s := openStore(t, store.NewMemory())
	var recs []store.NodeRecord
	for _, name := range []string{"a/1", "a/3", "a/5", "a/7", "b/0", "a0"} {
		recs = append(recs, store.NodeRecord{Name: name, Value: []byte(name)})
	}
	if err := s.PutNodeRecords(recs...); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		before string
		want   string
	}{{"a/5", "[a/3 a/1]"}, {"a/6", "[a/5 a/3 a/1]"}, {"a/1", "[]"}, {"z", "[a/7 a/5 a/3 a/1]"}} {
		var got []string
		if err := s.IterateNodeRecordsBefore("a/", tc.before, func(name string, v []byte) error {
			if name != string(v) {
				t.Fatalf("%s holds %q", name, v)
			}
			got = append(got, name)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != tc.want {
			t.Errorf("before %q: %v, want %s", tc.before, got, tc.want)
		}
	}
}
