package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// The block record (schema 4) holds a block's header and commit
// certificate under h<lane><height>, without what the store can derive:
//
//   - the lane and height (the key), for header and certificate;
//   - the previous block's hash: the hash recorded in the record at
//     height-1, or the genesis hash at height 1;
//   - the anchor's hash: the hash recorded in the record of the other
//     lane at the anchor height, or the genesis hash at anchor height 0;
//   - the entries root of an empty block (the root of no leaves);
//   - the chain id, validator-set hash, proposer and signers, which
//     repeat from block to block: each is stored once in the shared
//     values table (v<id:4>, shared.go) and named by its id.
//
// A hash that cannot be derived when the block is written (a first block
// with no genesis recorded, an anchor the store does not hold) is stored.
// The record begins with the block's own hash, so that the hash of a
// block is read with one Get and no decoding, and every header rebuilt
// from a record is checked against it: a damaged record, or one whose
// derived fields were damaged, is reported, never served.
//
// Layout, integers as unsigned varints unless said otherwise:
//
//	format (1 byte, recordV1)  block hash (32)  flags (1)
//	chain id (shared id)  time (signed varint)  entries
//	[entries root (32), flagEntriesRoot]  state root (32)
//	[prev hash (32), flagPrevHash]  anchor height  [anchor hash (32), flagAnchorHash]
//	validators hash (shared id)  proposer (shared id)
//	round  signatures  { signer (shared id)  signature length  signature }
const recordV1 = 0x01

// Record flags: which derivable hashes are stored.
const (
	flagEntriesRoot = 1 << iota
	flagPrevHash
	flagAnchorHash
	flagsKnown = flagEntriesRoot | flagPrevHash | flagAnchorHash
)

// recordHashEnd is where the block hash ends in a record.
const recordHashEnd = 1 + hashLen

// maxSigLen bounds a stored signature (ed25519: 64 bytes).
const maxSigLen = 1024

// emptyRoot is the entries root of a block without entries.
var emptyRoot = chain.MerkleRoot(nil)

// record is a decoded block record, its shared values still ids.
type record struct {
	hash           chain.Hash
	flags          byte
	chainID        uint64
	time           chain.Time
	numEntries     uint32
	entriesRoot    chain.Hash
	stateRoot      chain.Hash
	prevHash       chain.Hash
	anchorHeight   uint64
	anchorHash     chain.Hash
	validatorsHash uint64
	proposer       uint64
	round          uint32
	sigs           []recordSig
}

type recordSig struct {
	signer uint64
	sig    []byte
}

// appendRecord encodes r.
func appendRecord(b []byte, r *record) []byte {
	b = append(b, recordV1)
	b = append(b, r.hash[:]...)
	b = append(b, r.flags)
	b = binary.AppendUvarint(b, r.chainID)
	b = binary.AppendVarint(b, int64(r.time))
	b = binary.AppendUvarint(b, uint64(r.numEntries))
	if r.flags&flagEntriesRoot != 0 {
		b = append(b, r.entriesRoot[:]...)
	}
	b = append(b, r.stateRoot[:]...)
	if r.flags&flagPrevHash != 0 {
		b = append(b, r.prevHash[:]...)
	}
	b = binary.AppendUvarint(b, r.anchorHeight)
	if r.flags&flagAnchorHash != 0 {
		b = append(b, r.anchorHash[:]...)
	}
	b = binary.AppendUvarint(b, r.validatorsHash)
	b = binary.AppendUvarint(b, r.proposer)
	b = binary.AppendUvarint(b, uint64(r.round))
	b = binary.AppendUvarint(b, uint64(len(r.sigs)))
	for _, s := range r.sigs {
		b = binary.AppendUvarint(b, s.signer)
		b = binary.AppendUvarint(b, uint64(len(s.sig)))
		b = append(b, s.sig...)
	}
	return b
}

// errRecord is what a record decoder reports; decodeRecord wraps it as
// corruption of the key.
var errRecord = errors.New("bad block record")

// errRebuilt marks a header rebuilt from its record that does not hash to
// the record's hash.
var errRebuilt = errors.New("rebuilt header does not match")

// recordReader reads the fields of a record in order, remembering the
// first error.
type recordReader struct {
	b    []byte
	err  error
	kind error // what the errors wrap: errRecord, unless set
}

func (r *recordReader) fail(format string, args ...any) {
	if r.err == nil {
		kind := r.kind
		if kind == nil {
			kind = errRecord
		}
		r.err = fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
	}
}

func (r *recordReader) uvarint(what string, max uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("%s: bad varint", what)
		return 0
	}
	if v > max {
		r.fail("%s %d exceeds %d", what, v, max)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("%s: bad varint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) bytes(what string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("%s: %d bytes left, want %d", what, len(r.b), n)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *recordReader) hash(what string, h *chain.Hash) {
	if v := r.bytes(what, hashLen); v != nil {
		copy(h[:], v)
	}
}

// decodeRecord decodes the block record stored under key. The signatures
// are copies: the record owns none of v.
func decodeRecord(key, v []byte) (*record, error) {
	if len(v) < recordHashEnd+1 || v[0] != recordV1 {
		return nil, corrupt(key, "not a block record (%d bytes)", len(v))
	}
	rec := &record{flags: v[recordHashEnd]}
	copy(rec.hash[:], v[1:recordHashEnd])
	if rec.flags&^flagsKnown != 0 {
		return nil, corrupt(key, "unknown record flags %#x", rec.flags)
	}
	r := &recordReader{b: v[recordHashEnd+1:]}
	rec.chainID = r.uvarint("chain id", maxSharedID)
	rec.time = chain.Time(r.varint("time"))
	rec.numEntries = uint32(r.uvarint("entries", chain.MaxBlockEntries))
	if rec.flags&flagEntriesRoot != 0 {
		r.hash("entries root", &rec.entriesRoot)
	} else {
		rec.entriesRoot = emptyRoot
	}
	r.hash("state root", &rec.stateRoot)
	if rec.flags&flagPrevHash != 0 {
		r.hash("prev hash", &rec.prevHash)
	}
	rec.anchorHeight = r.uvarint("anchor height", 1<<63)
	if rec.flags&flagAnchorHash != 0 {
		r.hash("anchor hash", &rec.anchorHash)
	}
	rec.validatorsHash = r.uvarint("validators hash", maxSharedID)
	rec.proposer = r.uvarint("proposer", maxSharedID)
	rec.round = uint32(r.uvarint("round", chain.MaxRound))
	n := r.uvarint("signatures", chain.MaxValidators)
	if r.err == nil && n > 0 {
		rec.sigs = make([]recordSig, n)
		for i := range rec.sigs {
			rec.sigs[i].signer = r.uvarint("signer", maxSharedID)
			l := r.uvarint("signature length", maxSigLen)
			rec.sigs[i].sig = append([]byte(nil), r.bytes("signature", int(l))...)
		}
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d bytes after the signatures", len(r.b))
	}
	if r.err != nil {
		return nil, corrupt(key, "%v", r.err)
	}
	return rec, nil
}

// recordHash is the block hash a stored record begins with.
func recordHash(key, v []byte) (chain.Hash, error) {
	var h chain.Hash
	if len(v) < recordHashEnd+1 || v[0] != recordV1 {
		return h, corrupt(key, "not a block record (%d bytes)", len(v))
	}
	copy(h[:], v[1:recordHashEnd])
	return h, nil
}

// hashSource tells a block's hash from its lane and height: the store
// reads it from the record, a migration from a record of either schema.
type hashSource func(lane chain.Lane, height uint64) (chain.Hash, error)

// newRecord builds the record of a block whose header hashes to hash:
// derivable hashes are left out when hashAt (for heights ≥ 1) or genesis
// (at height 0; nil: none recorded) give them, and shared values are
// named by the ids in gives. The signatures are appended to sigs[:0],
// so that a caller may keep them on its stack.
func newRecord(h *chain.Header, c *chain.Certificate, hash chain.Hash, genesis *chain.Hash, hashAt hashSource, in *interner, sigs []recordSig) record {
	rec := record{
		hash:           hash,
		chainID:        in.intern(h.ChainID),
		time:           h.Time,
		numEntries:     h.NumEntries,
		entriesRoot:    h.EntriesRoot,
		stateRoot:      h.StateRoot,
		prevHash:       h.PrevHash,
		anchorHeight:   h.Anchor.Height,
		anchorHash:     h.Anchor.Hash,
		validatorsHash: in.intern(string(h.ValidatorsHash[:])),
		proposer:       in.intern(string(h.Proposer[:])),
		round:          c.Round,
	}
	derives := func(height uint64, lane chain.Lane, want chain.Hash) bool {
		if height == 0 {
			return genesis != nil && *genesis == want
		}
		got, err := hashAt(lane, height)
		return err == nil && got == want
	}
	if h.EntriesRoot != emptyRoot {
		rec.flags |= flagEntriesRoot
	}
	if !derives(h.Height-1, h.Lane, h.PrevHash) {
		rec.flags |= flagPrevHash
	}
	if !derives(h.Anchor.Height, h.Lane.Other(), h.Anchor.Hash) {
		rec.flags |= flagAnchorHash
	}
	rec.sigs = sigs[:0]
	for _, s := range c.Sigs {
		rec.sigs = append(rec.sigs, recordSig{signer: in.intern(string(s.Validator[:])), sig: s.Sig})
	}
	return rec
}

// recordLen is the length of appendRecord's encoding of r.
func recordLen(r *record) int {
	n := recordHashEnd + 1 + uvarintLen(r.chainID) + uvarintLen(zigzag(int64(r.time))) + uvarintLen(uint64(r.numEntries)) +
		hashLen + uvarintLen(r.anchorHeight) + uvarintLen(r.validatorsHash) + uvarintLen(r.proposer) +
		uvarintLen(uint64(r.round)) + uvarintLen(uint64(len(r.sigs)))
	for _, f := range [...]byte{flagEntriesRoot, flagPrevHash, flagAnchorHash} {
		if r.flags&f != 0 {
			n += hashLen
		}
	}
	for _, s := range r.sigs {
		n += uvarintLen(s.signer) + uvarintLen(uint64(len(s.sig))) + len(s.sig)
	}
	return n
}

// zigzag maps a signed integer to the unsigned one binary.AppendVarint
// writes.
func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// header rebuilds the header of the record stored under key, the block of
// lane at height, and checks that it hashes to the record's hash.
func (rec *record) header(key []byte, lane chain.Lane, height uint64, genesis *chain.Hash, hashAt hashSource, shared func(id uint64) ([]byte, error)) (chain.Header, error) {
	h := chain.Header{
		Lane: lane, Height: height, Time: rec.time, PrevHash: rec.prevHash,
		NumEntries: rec.numEntries, EntriesRoot: rec.entriesRoot, StateRoot: rec.stateRoot,
		Anchor: chain.Anchor{Height: rec.anchorHeight, Hash: rec.anchorHash},
	}
	derive := func(lane chain.Lane, height uint64, what string) (chain.Hash, error) {
		if height == 0 {
			if genesis == nil {
				return chain.Hash{}, corrupt(key, "the %s is the genesis hash, and the store records none", what)
			}
			return *genesis, nil
		}
		return hashAt(lane, height)
	}
	var err error
	if rec.flags&flagPrevHash == 0 {
		if h.PrevHash, err = derive(lane, height-1, "previous hash"); err != nil {
			return chain.Header{}, err
		}
	}
	if rec.flags&flagAnchorHash == 0 {
		if h.Anchor.Hash, err = derive(lane.Other(), rec.anchorHeight, "anchor hash"); err != nil {
			return chain.Header{}, err
		}
	}
	id, err := shared(rec.chainID)
	if err != nil {
		return chain.Header{}, err
	}
	h.ChainID = string(id)
	if err := sharedHash(shared, rec.validatorsHash, (*[hashLen]byte)(&h.ValidatorsHash)); err != nil {
		return chain.Header{}, err
	}
	if err := sharedHash(shared, rec.proposer, (*[hashLen]byte)(&h.Proposer)); err != nil {
		return chain.Header{}, err
	}
	if err := h.ValidateBasic(); err != nil {
		return chain.Header{}, corrupt(key, "%v", err)
	}
	if got := h.Hash(); got != rec.hash {
		return chain.Header{}, fmt.Errorf("%w: %w", corrupt(key, "the header rebuilt from the record hashes to %s, the record says %s", got, rec.hash), errRebuilt)
	}
	return h, nil
}

// cert rebuilds the certificate of the record, the block of lane at
// height.
func (rec *record) cert(key []byte, lane chain.Lane, height uint64, shared func(id uint64) ([]byte, error)) (*chain.Certificate, error) {
	c := &chain.Certificate{Lane: lane, Height: height, Round: rec.round, BlockHash: rec.hash, Sigs: make([]chain.CommitSig, len(rec.sigs))}
	for i, s := range rec.sigs {
		if err := sharedHash(shared, s.signer, (*[hashLen]byte)(&c.Sigs[i].Validator)); err != nil {
			return nil, err
		}
		c.Sigs[i].Sig = s.sig
	}
	if err := c.ValidateBasic(); err != nil {
		return nil, corrupt(key, "%v", err)
	}
	return c, nil
}

// sharedHash resolves a shared value that must be 32 bytes (a hash or a
// public key) into out.
func sharedHash(shared func(id uint64) ([]byte, error), id uint64, out *[hashLen]byte) error {
	v, err := shared(id)
	if err != nil {
		return err
	}
	if len(v) != hashLen {
		return corrupt(sharedKey(id), "holds %d bytes where a 32-byte value is named", len(v))
	}
	copy(out[:], v)
	return nil
}

// BlockRecordError is returned (wrapping ErrCorrupt) when the block record
// of a block is damaged. It names that block, which is not always the one
// asked for: a header is rebuilt with hashes read from the records of its
// parent and of its anchor, and when one of those is the damaged record,
// the error names it.
type BlockRecordError struct {
	Lane   chain.Lane
	Height uint64
	Err    error
}

func (e *BlockRecordError) Error() string { return e.Err.Error() }
func (e *BlockRecordError) Unwrap() error { return e.Err }

// recordErr wraps a failure to read the record of lane at height as a
// BlockRecordError, unless it is not corruption or names a block already.
func recordErr(lane chain.Lane, height uint64, err error) error {
	var re *BlockRecordError
	if err == nil || !errors.Is(err, ErrCorrupt) || errors.As(err, &re) {
		return err
	}
	return &BlockRecordError{Lane: lane, Height: height, Err: err}
}
