package store_test

import (
	"errors"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// TestBuildCommitPipelined: chunks each built before the one before it is
// written (as block sync builds them) store exactly what one
// CommitBlocks of them all stores, shared-table ids included, and the
// store reopens at the same heads.
func TestBuildCommitPipelined(t *testing.T) {
	for _, o := range kvOpeners {
		t.Run(o.name, func(t *testing.T) {
			blocks := mixedBlocks(t, newTestChain(t), 9)
			whole, piped := o.open(t), o.open(t)
			s1, s2 := openStore(t, whole), openStore(t, piped)
			if err := s1.CommitBlocks(blocks); err != nil {
				t.Fatal(err)
			}
			chunks := [][]store.BlockCommit{blocks[:1], blocks[1:4], blocks[4:5], blocks[5:]}
			var prev *store.Built
			for i, c := range chunks {
				b, err := s2.BuildCommit(c, prev)
				if err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
				// prev is written only now, after b was built on it.
				if prev != nil {
					if err := s2.WriteBuilt(prev); err != nil {
						t.Fatalf("chunk %d: %v", i-1, err)
					}
				}
				prev = b
			}
			if err := s2.WriteBuilt(prev); err != nil {
				t.Fatal(err)
			}
			if err := s2.WriteBuilt(prev); !errors.Is(err, store.ErrBatchDone) {
				t.Fatalf("a second WriteBuilt: %v, want ErrBatchDone", err)
			}
			if dump(t, whole) != dump(t, piped) {
				t.Fatal("chunks built ahead stored other bytes than one CommitBlocks")
			}
			for _, lane := range chain.Lanes {
				h1, _ := s1.Head(lane)
				h2, _ := s2.Head(lane)
				if h1.Hash() != h2.Hash() {
					t.Fatalf("%s head %d built ahead, %d in one write", lane, h2.Height, h1.Height)
				}
			}
			reopened := openStore(t, piped) // a Store opened anew on the KV
			for _, lane := range chain.Lanes {
				h1, _ := s1.Head(lane)
				h2, _ := reopened.Head(lane)
				if h1.Hash() != h2.Hash() {
					t.Fatalf("reopened: %s head %d, want %d", lane, h2.Height, h1.Height)
				}
			}
		})
	}
}

// TestWriteBuiltStale: a batch built before another write changed the
// heads is refused whole (ErrStaleBuild), nothing of it stored; blocks
// that do not extend the heads are refused at the build.
func TestWriteBuiltStale(t *testing.T) {
	for _, o := range kvOpeners {
		t.Run(o.name, func(t *testing.T) {
			blocks := mixedBlocks(t, newTestChain(t), 4)
			kv := o.open(t)
			s := openStore(t, kv)
			b, err := s.BuildCommit(blocks[1:], nil)
			if err == nil || !errors.Is(err, store.ErrNotNext) {
				t.Fatalf("built blocks that skip the first: %v, want ErrNotNext", err)
			}
			b, err = s.BuildCommit(blocks[:2], nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Commit(blocks[0].Block, blocks[0].Changes); err != nil {
				t.Fatal(err)
			}
			before := dump(t, kv)
			if err := s.WriteBuilt(b); !errors.Is(err, store.ErrStaleBuild) {
				t.Fatalf("stale batch: %v, want ErrStaleBuild", err)
			}
			if dump(t, kv) != before {
				t.Fatal("a stale batch stored something")
			}
			if h, ok := s.Head(chain.LaneTx); ok {
				t.Fatalf("tx head at %d after a stale batch, want none", h.Height)
			}
			// Its blocks, written as they stand now.
			if err := s.CommitBlocks(b.Commits()[1:]); err != nil {
				t.Fatal(err)
			}
		})
	}
}
