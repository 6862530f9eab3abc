package store_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/chain/store/kvtest"
)

// subKV is a reserved view that closes its parent, so the shared KV suite
// can check the view's contract, Close included.
type subKV struct {
	*store.SubKV
	parent store.KV
}

func (s subKV) Close() error { return s.parent.Close() }

func openSub(open func(t *testing.T) store.KV) func(t *testing.T) store.KV {
	return func(t *testing.T) store.KV {
		parent := open(t)
		// Records of the store around the reserved range must stay
		// invisible to the view.
		b := parent.NewBatch()
		b.Set([]byte{store.PrefixImages - 1, 'x'}, []byte("below"))
		b.Set([]byte{store.PrefixImages + 1}, []byte("above"))
		if err := b.Write(); err != nil {
			t.Fatal(err)
		}
		sub, err := store.Reserve(parent, store.PrefixImages)
		if err != nil {
			t.Fatal(err)
		}
		return subKV{SubKV: sub, parent: parent}
	}
}

func TestSubKVMemory(t *testing.T) { kvtest.Run(t, openSub(openMemory)) }

func TestSubKVBadger(t *testing.T) { kvtest.Run(t, openSub(openBadger)) }

// TestSubKVLayout: a record written through the view lies in the parent
// under the prefix followed by the view's key, the layout node/images has
// always used, so images stored before the view existed read back as they
// were.
func TestSubKVLayout(t *testing.T) {
	parent := store.NewMemory()
	sub, err := store.Reserve(parent, store.PrefixImages)
	if err != nil {
		t.Fatal(err)
	}
	old := parent.NewBatch()
	old.Set([]byte("iflegacy"), []byte("written before the view"))
	if err := old.Write(); err != nil {
		t.Fatal(err)
	}
	if v, err := sub.Get([]byte("flegacy")); err != nil || string(v) != "written before the view" {
		t.Fatalf("legacy record through the view: %q %v", v, err)
	}
	b := sub.NewBatch()
	b.Set([]byte("anew"), []byte("1"))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	if v, err := parent.Get([]byte("ianew")); err != nil || !bytes.Equal(v, []byte("1")) {
		t.Fatalf("record in the parent: %q %v", v, err)
	}
}

// TestReserveRefuses: only declared prefixes are handed out; the store's
// own tables never are.
func TestReserveRefuses(t *testing.T) {
	kv := store.NewMemory()
	for _, p := range []byte{'m', 'l', 'h', 'c', 'e', 'b', 'r', 'n', 'x', 's', 'z', 0} {
		if _, err := store.Reserve(kv, p); !errors.Is(err, store.ErrNotReserved) {
			t.Errorf("Reserve(%q): %v, want ErrNotReserved", p, err)
		}
	}
}
