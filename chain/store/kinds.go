package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// The tx kind index (k) lists the committed transactions of each kind in
// chain order: k<kind code:1><height:8><index:4>, with an empty value. It
// is what the API's lists of one kind read (trades are accept-offer
// transactions, recorded evidence the evidence ones), newest first, from a
// cursor, so that a page costs the same however long the chain is. Every
// transaction of a committed block applied (state.ErrBadBlock otherwise),
// so each indexed transaction took effect.

// kindCodes are the stored codes of the transaction kinds. They are part
// of the key layout: never renumber one; a new kind takes a new code.
var kindCodes = map[chain.TxKind]byte{
	chain.KindTransfer:        1,
	chain.KindRegisterDevice:  2,
	chain.KindRevokeDevice:    3,
	chain.KindSetPermit:       4,
	chain.KindOfferAllowance:  5,
	chain.KindAcceptOffer:     6,
	chain.KindCancelOffer:     7,
	chain.KindValidatorAdd:    8,
	chain.KindValidatorRemove: 9,
	chain.KindEvidence:        10,
}

// ErrUnknownKind is returned (wrapped, naming it) by TxsByKind for a
// transaction kind the index does not know.
var ErrUnknownKind = errors.New("unknown transaction kind")

const kindKeyLen = 2 + heightLen + indexLen

// kindKey is the index key of the transaction at height and index, whose
// kind has code.
func kindKey(code byte, height uint64, index uint32) []byte {
	k := make([]byte, 0, kindKeyLen)
	k = append(k, prefixTxKind, code)
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(k, height), index)
}

// txKindKey is the index key of tx at height and index, false for a
// transaction of no known kind (which no valid block holds).
func txKindKey(tx *chain.Tx, height uint64, index uint32) ([]byte, bool) {
	code, ok := kindCodes[tx.Kind()]
	if !ok {
		return nil, false
	}
	return kindKey(code, height, index), true
}

// TxsByKind calls fn for the committed transactions of kind, newest
// first, starting strictly before the position before (its Height and
// Index; a zero Height starts at the lane head), until fn returns an error
// (ErrStop ends it with nil). A page of n transactions reads n index keys
// and n entries, whatever the length of the chain.
func (s *Store) TxsByKind(kind chain.TxKind, before Location, fn func(tx *chain.Tx, loc Location) error) error {
	code, ok := kindCodes[kind]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	prefix := []byte{prefixTxKind, code}
	var opts IterOptions
	opts.Reverse = true
	if before.Height != 0 {
		opts.End = kindKey(code, before.Height, before.Index)
	}
	return s.kv.Iterate(prefix, opts, func(k, _ []byte) error {
		if len(k) != kindKeyLen {
			return corrupt(k, "tx kind index key is %d bytes, want %d", len(k), kindKeyLen)
		}
		loc := Location{Lane: chain.LaneTx, Height: binary.BigEndian.Uint64(k[2:]), Index: binary.BigEndian.Uint32(k[2+heightLen:])}
		ekey, v, err := s.entry(loc)
		if err != nil {
			return entryMissing(ekey, loc, err, "indexed in %s", keyName(k))
		}
		tx, err := decodeTxEntry(ekey, v)
		if err != nil {
			return fmt.Errorf("entry %d: %w", loc.Index, err)
		}
		if got := tx.Kind(); got != kind {
			return corrupt(k, "names a %s transaction at %s", got, loc)
		}
		return fn(tx, loc)
	})
}
