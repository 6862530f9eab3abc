package mempool

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

func key(t *testing.T, label string) *chain.PrivateKey {
	seed := sha256.Sum256([]byte(label))
	k, err := chain.NewPrivateKey(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func reading(t *testing.T, dev string, seq uint64) *chain.Reading {
	k := key(t, dev)
	r := &chain.Reading{Device: k.Public(), Seq: seq, Time: chain.Time(1000 * seq)}
	r.Sign("test", k)
	return r
}

func TestReadingsBoundedAndDeduplicated(t *testing.T) {
	p := NewReadings(3)
	r1, r2, r3, r4 := reading(t, "a", 1), reading(t, "a", 2), reading(t, "b", 1), reading(t, "b", 2)
	for _, r := range []*chain.Reading{r1, r2, r3} {
		if err := p.Add(r.Hash(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Add(r1.Hash(), r1); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	same := reading(t, "a", 2)
	same.Volume = 7
	same.Sign("test", key(t, "a"))
	if err := p.Add(same.Hash(), same); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("same device and seq, other content: %v", err)
	}
	if err := p.Add(r4.Hash(), r4); !errors.Is(err, ErrFull) {
		t.Fatalf("over the bound: %v", err)
	}
	if got := p.Peek(10); len(got) != 3 || got[0] != r1 || got[1] != r2 || got[2] != r3 {
		t.Fatalf("peek order wrong: %v", got)
	}
	p.Remove([]chain.Hash{r2.Hash()})
	if err := p.Add(r4.Hash(), r4); err != nil {
		t.Fatalf("after a removal there is room: %v", err)
	}
	if got := p.Peek(10); len(got) != 3 || got[1] != r3 || got[2] != r4 {
		t.Fatalf("peek after removal: %v", got)
	}
	if n := p.RemoveIf(func(r *chain.Reading) bool { return r.Device == r1.Device }); n != 1 || p.Len() != 2 {
		t.Fatalf("RemoveIf removed %d, %d left", n, p.Len())
	}
}

func TestReadingsStaleOncePerReading(t *testing.T) {
	p := NewReadings(10)
	before := time.Now()
	r1, r2, r3 := reading(t, "a", 1), reading(t, "a", 2), reading(t, "b", 1)
	for _, r := range []*chain.Reading{r1, r2, r3} {
		if err := p.Add(r.Hash(), r); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.Stale(before, 10); len(got) != 0 {
		t.Fatalf("readings added after the cutoff are stale: %d", len(got))
	}
	later := time.Now().Add(time.Second)
	if got := p.Stale(later, 2); len(got) != 2 || got[0] != r1 || got[1] != r2 {
		t.Fatalf("first call: %v, want r1 and r2 (at most 2, oldest first)", got)
	}
	if got := p.Stale(later, 10); len(got) != 1 || got[0] != r3 {
		t.Fatalf("second call: %v, want only r3", got)
	}
	if got := p.Stale(later, 10); len(got) != 0 {
		t.Fatalf("third call: %d readings, want none (each once)", len(got))
	}
	// A reading removed and added again is new to Stale.
	p.Remove([]chain.Hash{r1.Hash()})
	if err := p.Add(r1.Hash(), r1); err != nil {
		t.Fatal(err)
	}
	if got := p.Stale(time.Now().Add(time.Second), 10); len(got) != 1 || got[0] != r1 {
		t.Fatalf("after re-adding r1: %v", got)
	}
}

func TestTxsNonceOrderPerSender(t *testing.T) {
	a, b := key(t, "a"), key(t, "b")
	mk := func(k *chain.PrivateKey, nonce uint64) *chain.Tx {
		tx := &chain.Tx{From: k.Public(), Nonce: nonce, Transfer: &chain.Transfer{To: b.Public().Address(), Amount: nonce}}
		tx.Sign("test", k)
		return tx
	}
	p := NewTxs(10)
	order := []*chain.Tx{mk(a, 2), mk(b, 1), mk(a, 1), mk(b, 2)}
	for _, tx := range order {
		if err := p.Add(tx.Hash(), tx); err != nil {
			t.Fatal(err)
		}
	}
	dup := mk(a, 2)
	dup.Transfer.Amount = 99
	dup.Sign("test", a)
	if err := p.Add(dup.Hash(), dup); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("same sender and nonce: %v", err)
	}
	got := p.Peek(10)
	want := []*chain.Tx{order[2], order[0], order[1], order[3]}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("peek[%d] = %s/%d, want %s/%d", i, got[i].From.Short(), got[i].Nonce, want[i].From.Short(), want[i].Nonce)
		}
	}
	p.RemoveIf(func(tx *chain.Tx) bool { return tx.From == a.Public() && tx.Nonce <= 1 })
	if p.Len() != 3 || len(p.Pending(a.Public())) != 1 {
		t.Fatalf("after pruning nonce 1 of a: %d left", p.Len())
	}
}
