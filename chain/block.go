package chain

import (
	"crypto/sha256"
	"fmt"
)

// MaxBlockEntries bounds the entries of one block.
const MaxBlockEntries = 50_000

// Block is a header with its entries: readings on the data lane,
// transactions on the tx lane. Cert, the commit certificate, is set once the
// block is final; it is not part of the block hash. A Block is immutable once
// built: copy it to change it.
type Block struct {
	Header   Header       `cbor:"1,keyasint" json:"header"`
	Readings []*Reading   `cbor:"2,keyasint,omitempty" json:"readings,omitempty"`
	Txs      []*Tx        `cbor:"3,keyasint,omitempty" json:"txs,omitempty"`
	Cert     *Certificate `cbor:"4,keyasint,omitempty" json:"cert,omitempty"`
}

// Hash is the header hash.
func (b *Block) Hash() Hash { return b.Header.Hash() }

// Leaves returns the canonical encoding of each entry, in order.
func (b *Block) Leaves() [][]byte {
	if b.Header.Lane == LaneData {
		out := make([][]byte, len(b.Readings))
		for i, r := range b.Readings {
			out[i] = r.Encode()
		}
		return out
	}
	out := make([][]byte, len(b.Txs))
	for i, tx := range b.Txs {
		out[i] = tx.Encode()
	}
	return out
}

// NumEntries is the number of entries of the block's lane.
func (b *Block) NumEntries() int {
	if b.Header.Lane == LaneData {
		return len(b.Readings)
	}
	return len(b.Txs)
}

// ComputeEntriesRoot is the RFC 6962 root of the block's entries: the
// root of Leaves, with each entry encoded in turn into one buffer.
func (b *Block) ComputeEntriesRoot() Hash {
	var t rootBuilder
	if b.Header.Lane == LaneData {
		buf := make([]byte, 0, 256)
		for _, r := range b.Readings {
			// The leaf hash prefix, then the reading's encoding after it.
			buf = r.appendCBOR(append(buf[:0], rfc6962LeafPrefix), true)
			t.addLeafHash(sha256.Sum256(buf))
		}
		return t.root()
	}
	for _, tx := range b.Txs {
		t.add(tx.Encode())
	}
	return t.root()
}

// ValidateBasic checks the header, that entries belong to the lane, that
// their count and root match the header, and each entry's fields. It does
// not verify signatures.
func (b *Block) ValidateBasic() error {
	if err := b.Header.ValidateBasic(); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if b.Header.Lane == LaneData && len(b.Txs) > 0 {
		return fieldErr("txs", "a data block carries no transactions")
	}
	if b.Header.Lane == LaneTx && len(b.Readings) > 0 {
		return fieldErr("readings", "a tx block carries no readings")
	}
	n := b.NumEntries()
	if n > MaxBlockEntries {
		return fieldErr("entries", "%d entries exceed %d", n, MaxBlockEntries)
	}
	if uint32(n) != b.Header.NumEntries {
		return fieldErr("header.num_entries", "says %d, block has %d", b.Header.NumEntries, n)
	}
	for i, r := range b.Readings {
		if r == nil {
			return fieldErr(fmt.Sprintf("readings[%d]", i), "null")
		}
		if err := r.ValidateBasic(); err != nil {
			return fmt.Errorf("readings[%d]: %w", i, err)
		}
	}
	for i, tx := range b.Txs {
		if tx == nil {
			return fieldErr(fmt.Sprintf("txs[%d]", i), "null")
		}
		if err := tx.ValidateBasic(); err != nil {
			return fmt.Errorf("txs[%d]: %w", i, err)
		}
	}
	if root := b.ComputeEntriesRoot(); root != b.Header.EntriesRoot {
		return fieldErr("header.entries_root", "is %s, entries hash to %s", b.Header.EntriesRoot, root)
	}
	if b.Cert != nil {
		if err := b.Cert.ValidateBasic(); err != nil {
			return fmt.Errorf("cert: %w", err)
		}
	}
	return nil
}

// VerifyEntrySignatures checks every entry's signature. Callers that have
// already verified an entry (at the gossip door) skip it through verified,
// which may be nil.
func (b *Block) VerifyEntrySignatures(chainID string, verified func(Hash) bool) error {
	for i, r := range b.Readings {
		if verified != nil && verified(r.Hash()) {
			continue
		}
		if err := r.VerifySignature(chainID); err != nil {
			return fmt.Errorf("readings[%d]: %w", i, err)
		}
	}
	for i, tx := range b.Txs {
		if verified != nil && verified(tx.Hash()) {
			continue
		}
		if err := tx.VerifySignature(chainID); err != nil {
			return fmt.Errorf("txs[%d]: %w", i, err)
		}
	}
	return nil
}

// WithCert returns a copy of b carrying cert.
func (b *Block) WithCert(cert *Certificate) *Block {
	c := *b
	c.Cert = cert
	return &c
}

// DecodeBlock decodes one canonical block and checks it with ValidateBasic.
func DecodeBlock(data []byte) (*Block, error) {
	var b Block
	if err := Decode(data, &b); err != nil {
		return nil, err
	}
	if err := b.ValidateBasic(); err != nil {
		return nil, err
	}
	return &b, nil
}
