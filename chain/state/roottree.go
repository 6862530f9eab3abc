package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/waterchain/waterchain/chain"
)

// A state root (Root) is the RFC 6962 Merkle root over a namespace's
// entries in key order. Recomputing it walks and hashes the whole
// namespace; a Reader that keeps the namespace's tree (RootTree) can give
// the root of a block's writes in O(k log n) instead, by implementing
// RootReader. RootTree pairs nodes bottom up and promotes an odd last node
// unchanged to the next level, which gives exactly the RFC 6962 root for
// every number of leaves.

// ErrBadLeafEdit is returned (wrapped) for a LeafEdit list that does not
// describe a change of the tree it is applied to: out of range, out of
// order, or two edits of one leaf.
var ErrBadLeafEdit = errors.New("bad leaf edit")

// ErrStalePatch is returned (wrapped) by RootTree.Apply for a patch made
// from a tree of another size than the one it is applied to.
var ErrStalePatch = errors.New("tree patch does not match the tree")

// RootReader is a Reader that keeps the Merkle tree of some namespaces and
// so can give a root with pending writes applied without walking the
// namespace. Root uses it for a Reader that implements it and for overlays
// (the block being built or executed) over one.
//
// PendingRoot returns what Root would compute for prefix over this Reader
// with changes applied on top of its entries. changes are in ascending key
// order, each key at most once and starting with prefix; a deletion of an
// absent key changes nothing. ok is false when the Reader keeps no tree for
// prefix, and Root then walks the namespace. PendingRoot must not change
// what the Reader holds (the block may never commit) and must see its
// entries at one moment, as one Iterate would. It may be called
// concurrently with Get, Iterate and other PendingRoot calls.
type RootReader interface {
	Reader
	PendingRoot(prefix []byte, changes []Change) (root chain.Hash, ok bool, err error)
}

// EntryLeafHash is the RFC 6962 leaf hash of one state entry, the leaf
// being uvarint(len(key)) || key || value.
func EntryLeafHash(key, value []byte) chain.Hash {
	var small [256]byte
	buf := small[:0]
	if n := 1 + binary.MaxVarintLen64 + len(key) + len(value); n > len(small) {
		buf = make([]byte, 0, n)
	}
	buf = append(buf, 0x00) // RFC 6962 leaf domain
	buf = binary.AppendUvarint(buf, uint64(len(key)))
	buf = append(buf, key...)
	buf = append(buf, value...)
	return sha256.Sum256(buf)
}

// nodeHash is the RFC 6962 interior node hash SHA-256(0x01 || l || r).
func nodeHash(l, r *chain.Hash) chain.Hash {
	var buf [1 + 2*len(chain.Hash{})]byte
	buf[0] = 0x01
	copy(buf[1:], l[:])
	copy(buf[1+len(l):], r[:])
	return sha256.Sum256(buf[:])
}

// emptyRoot is the RFC 6962 root of no leaves, SHA-256("").
var emptyRoot = chain.Hash(sha256.Sum256(nil))

// RootTree is the Merkle tree of one namespace's entries, by position in
// key order. It does not know the keys: its owner maps a key to its
// position. It is not safe for concurrent use with Apply; Root, Len and
// Patch only read it and may run concurrently with each other.
type RootTree struct {
	// levels[0] holds the leaf hashes; levels[l+1][j] is the node hash of
	// levels[l][2j] and levels[l][2j+1], or levels[l][2j] itself when it
	// is the last and has no right sibling. The last level has one entry,
	// the root; an empty tree has no levels.
	levels [][]chain.Hash
}

// NewRootTree builds the tree of the given leaf hashes (EntryLeafHash of
// each entry, in key order). It costs one node hash per leaf.
func NewRootTree(leaves []chain.Hash) *RootTree {
	t := &RootTree{}
	if len(leaves) == 0 {
		return t
	}
	level := append([]chain.Hash(nil), leaves...)
	t.levels = append(t.levels, level)
	for len(level) > 1 {
		next := make([]chain.Hash, (len(level)+1)/2)
		for j := range next {
			if 2*j+1 < len(level) {
				next[j] = nodeHash(&level[2*j], &level[2*j+1])
			} else {
				next[j] = level[2*j]
			}
		}
		t.levels = append(t.levels, next)
		level = next
	}
	return t
}

// Len is the number of leaves.
func (t *RootTree) Len() int {
	if len(t.levels) == 0 {
		return 0
	}
	return len(t.levels[0])
}

// Root is the RFC 6962 root of the leaves, equal to chain.MerkleRoot of
// the entries' leaves.
func (t *RootTree) Root() chain.Hash {
	if len(t.levels) == 0 {
		return emptyRoot
	}
	return t.levels[len(t.levels)-1][0]
}

// EditOp says what a LeafEdit does.
type EditOp uint8

// The edits of a leaf.
const (
	// EditUpdate replaces the hash of the leaf at Pos.
	EditUpdate EditOp = iota + 1
	// EditInsert puts a new leaf before the leaf at Pos (at the end when
	// Pos is Len).
	EditInsert
	// EditDelete removes the leaf at Pos.
	EditDelete
)

func (op EditOp) String() string {
	switch op {
	case EditUpdate:
		return "update"
	case EditInsert:
		return "insert"
	case EditDelete:
		return "delete"
	}
	return fmt.Sprintf("EditOp(%d)", uint8(op))
}

// LeafEdit is one change of a tree's leaves. Pos is a position in the tree
// before any of the edits; Hash is the new leaf hash (EditUpdate and
// EditInsert).
type LeafEdit struct {
	Pos  int
	Op   EditOp
	Hash chain.Hash
}

// LeafEdits turns a namespace's pending changes (ascending key order, each
// key once) into the edits of its tree. find gives the position of key
// among the namespace's current keys (the number of smaller keys) and
// whether key is there. A deletion of an absent key is no edit. The edits
// come out in the order Patch wants; changes out of order are
// ErrBadLeafEdit.
func LeafEdits(changes []Change, find func(key []byte) (pos int, found bool)) ([]LeafEdit, error) {
	return appendLeafEdits(make([]LeafEdit, 0, len(changes)), changes, find)
}

// appendLeafEdits is LeafEdits appending the edits to edits.
func appendLeafEdits(edits []LeafEdit, changes []Change, find func(key []byte) (pos int, found bool)) ([]LeafEdit, error) {
	for i, c := range changes {
		if i > 0 && bytes.Compare(changes[i-1].Key, c.Key) >= 0 {
			return nil, fmt.Errorf("%w: change %d key %q does not follow %q", ErrBadLeafEdit, i, c.Key, changes[i-1].Key)
		}
		pos, found := find(c.Key)
		switch {
		case c.Delete && found:
			edits = append(edits, LeafEdit{Pos: pos, Op: EditDelete})
		case c.Delete:
		case found:
			edits = append(edits, LeafEdit{Pos: pos, Op: EditUpdate, Hash: EntryLeafHash(c.Key, c.Value)})
		default:
			edits = append(edits, LeafEdit{Pos: pos, Op: EditInsert, Hash: EntryLeafHash(c.Key, c.Value)})
		}
	}
	return edits, nil
}

// TreePatch is a tree with edits applied, kept as its difference from the
// tree: the nodes that change. Making one does not modify the tree, so a
// proposal's root can be computed over the committed tree; Apply writes it
// in when the block commits.
type TreePatch struct {
	base   int // leaves of the tree it was made from
	n      int // leaves after the edits
	root   chain.Hash
	levels []patchLevel
}

// patchLevel is one level of a patched tree: nodes [0, start) are the old
// tree's but for overrides; nodes from start on are tail.
type patchLevel struct {
	start     int
	tail      []chain.Hash
	overrides []nodeOverride // ascending idx, all below start
}

type nodeOverride struct {
	idx  int
	hash chain.Hash
}

// Root is the root of the patched tree.
func (p *TreePatch) Root() chain.Hash { return p.root }

// Len is the number of leaves of the patched tree.
func (p *TreePatch) Len() int { return p.n }

// checkEdits validates edits against a tree of n leaves: ascending Pos,
// inserts at one position before the update or delete of that position,
// at most one update or delete a position.
func checkEdits(edits []LeafEdit, n int) error {
	lastPos, lastTouched := -1, false // lastTouched: the leaf at lastPos was updated or deleted
	for i, e := range edits {
		switch {
		case e.Op != EditUpdate && e.Op != EditInsert && e.Op != EditDelete:
			return fmt.Errorf("%w: edits[%d] has op %v", ErrBadLeafEdit, i, e.Op)
		case e.Pos < 0 || e.Pos > n || (e.Pos == n && e.Op != EditInsert):
			return fmt.Errorf("%w: edits[%d] %v at %d in a tree of %d leaves", ErrBadLeafEdit, i, e.Op, e.Pos, n)
		case e.Pos < lastPos:
			return fmt.Errorf("%w: edits[%d] at %d after an edit at %d", ErrBadLeafEdit, i, e.Pos, lastPos)
		case e.Pos == lastPos && lastTouched:
			return fmt.Errorf("%w: edits[%d] %v at %d after the leaf was updated or deleted", ErrBadLeafEdit, i, e.Op, e.Pos)
		}
		if e.Pos != lastPos {
			lastTouched = false
		}
		lastPos = e.Pos
		lastTouched = lastTouched || e.Op != EditInsert
	}
	return nil
}

// Patch returns the tree with edits applied (see LeafEdit; ascending Pos,
// inserts at a position before an update or delete of it), without
// modifying t. It costs O(k log n) node hashes for k updates, plus one
// node hash for every leaf from the first insert or delete on: those
// leaves move, which changes every node above them.
func (t *RootTree) Patch(edits []LeafEdit) (*TreePatch, error) {
	n := t.Len()
	if err := checkEdits(edits, n); err != nil {
		return nil, err
	}
	// p: the first position an insert or delete moves; leaves before it
	// keep their positions.
	p, newN := n, n
	for _, e := range edits {
		switch e.Op {
		case EditInsert:
			newN++
			p = min(p, e.Pos)
		case EditDelete:
			newN--
			p = min(p, e.Pos)
		}
	}
	patch := &TreePatch{base: n, n: newN, root: emptyRoot}
	if newN == 0 {
		return patch, nil
	}

	// The levels' overrides and tails are cut from two arrays allocated
	// once, sized exactly before any node is hashed: a data block's patch
	// was two slices a level (13 levels for 4,000 meters), the first
	// allocator of a node in this package. Level l's overrides are the
	// distinct pos>>l, below its start, of the updates before p; its
	// tail runs from its start to its size.
	k := sort.Search(len(edits), func(k int) bool { return edits[k].Pos >= p }) // edits before p: updates
	nLevels, overrides, tails := 1, k, max(0, newN-p)
	for size, start := newN, p; size > 1; nLevels++ {
		l := nLevels
		size, start = (size+1)/2, start/2 // level l's
		tails += max(0, size-start)
		last := -1
		for _, e := range edits[:k] {
			if q := e.Pos >> l; q >= start {
				break
			} else if q != last {
				overrides, last = overrides+1, q
			}
		}
	}
	patch.levels = make([]patchLevel, 0, nLevels)
	ovArena := make([]nodeOverride, 0, overrides)
	tailArena := make([]chain.Hash, 0, tails)
	// A level's overrides (tail) are the run appended to ovArena
	// (tailArena) from index from on, capped so that no later append
	// reaches into them. The patch owns both arenas.
	cutOverrides := func(from int) []nodeOverride { return ovArena[from:len(ovArena):len(ovArena)] }
	cutTail := func(from int) []chain.Hash { return tailArena[from:len(tailArena):len(tailArena)] }

	// Level 0: updates before p override leaves; from p on the leaves
	// are merged with the edits.
	lv := patchLevel{start: p}
	for _, e := range edits[:k] {
		ovArena = append(ovArena, nodeOverride{e.Pos, e.Hash})
	}
	lv.overrides = cutOverrides(0)
	if p < newN {
		from := len(tailArena)
		for i := p; i <= n; i++ {
			replaced := false
			for ; k < len(edits) && edits[k].Pos == i; k++ {
				switch edits[k].Op {
				case EditInsert:
					tailArena = append(tailArena, edits[k].Hash)
				case EditUpdate:
					tailArena = append(tailArena, edits[k].Hash)
					replaced = true
				case EditDelete:
					replaced = true
				}
			}
			if !replaced && i < n {
				tailArena = append(tailArena, t.levels[0][i])
			}
		}
		lv.tail = cutTail(from)
	}
	patch.levels = append(patch.levels, lv)

	for size, l := newN, 0; size > 1; l++ {
		below := &patch.levels[l]
		get := func(i int) *chain.Hash { return t.patchedNode(l, below, i) }
		next := patchLevel{start: below.start / 2}
		// Overrides below next.start have both children below
		// below.start: no promoted node among them.
		ov := below.overrides
		from := len(ovArena)
		for m := 0; m < len(ov); m++ {
			parent := ov[m].idx / 2
			if parent >= next.start {
				break
			}
			var h chain.Hash
			switch {
			case ov[m].idx%2 == 1:
				h = nodeHash(&t.levels[l][ov[m].idx-1], &ov[m].hash)
			case m+1 < len(ov) && ov[m+1].idx == ov[m].idx+1:
				h = nodeHash(&ov[m].hash, &ov[m+1].hash)
				m++
			default:
				h = nodeHash(&ov[m].hash, &t.levels[l][ov[m].idx+1])
			}
			ovArena = append(ovArena, nodeOverride{parent, h})
		}
		next.overrides = cutOverrides(from)
		nextSize := (size + 1) / 2
		if next.start < nextSize {
			from := len(tailArena)
			for j := next.start; j < nextSize; j++ {
				if 2*j+1 < size {
					tailArena = append(tailArena, nodeHash(get(2*j), get(2*j+1)))
				} else {
					tailArena = append(tailArena, *get(2 * j))
				}
			}
			next.tail = cutTail(from)
		}
		patch.levels = append(patch.levels, next)
		size = nextSize
	}
	top := len(patch.levels) - 1
	patch.root = *t.patchedNode(top, &patch.levels[top], 0)
	return patch, nil
}

// patchedNode is node i of level l of a patch whose level l is lv.
func (t *RootTree) patchedNode(l int, lv *patchLevel, i int) *chain.Hash {
	if i >= lv.start {
		return &lv.tail[i-lv.start]
	}
	ov := lv.overrides
	if m := sort.Search(len(ov), func(m int) bool { return ov[m].idx >= i }); m < len(ov) && ov[m].idx == i {
		return &ov[m].hash
	}
	return &t.levels[l][i]
}

// Apply writes patch, made by t.Patch, into t. Any other patch made from t
// before is stale after it.
func (t *RootTree) Apply(patch *TreePatch) error {
	if patch.base != t.Len() {
		return fmt.Errorf("%w: made for %d leaves, the tree has %d", ErrStalePatch, patch.base, t.Len())
	}
	if patch.n == 0 {
		t.levels = nil
		return nil
	}
	for l, lv := range patch.levels {
		var level []chain.Hash
		if l < len(t.levels) {
			level = t.levels[l][:lv.start]
		}
		for _, o := range lv.overrides {
			level[o.idx] = o.hash
		}
		level = append(level, lv.tail...)
		if l < len(t.levels) {
			t.levels[l] = level
		} else {
			t.levels = append(t.levels, level)
		}
	}
	clear(t.levels[len(patch.levels):]) // let a shrunk tree's old levels go
	t.levels = t.levels[:len(patch.levels)]
	return nil
}
