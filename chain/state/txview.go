package state

import (
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// TxView is the tx-lane state as the transactions of one block see it: the
// committed state, the settlement that opens the block (if it crosses a
// period boundary) and the transactions applied so far. It is not safe for
// concurrent use.
type TxView struct {
	g       *Genesis
	periods chain.Period
	height  uint64
	time    chain.Time
	anchor  uint64
	ov      *overlay
	meta    TxMeta
}

// Height and Time are those of the block being built or executed.
func (v *TxView) Height() uint64   { return v.height }
func (v *TxView) Time() chain.Time { return v.time }

// Period is the number of the settlement period the block's transactions
// belong to.
func (v *TxView) Period() int64 { return v.meta.Period }

// Reader returns the view as a Reader, for queries over the state the
// block would leave (without its meta record, which Finish writes).
func (v *TxView) Reader() Reader { return v.ov }

// newTxView opens a view over r for the tx block h, checking that h follows
// the executed state. It does not settle.
func newTxView(r Reader, g *Genesis, h *chain.Header) (*TxView, error) {
	if g == nil {
		return nil, fmt.Errorf("%w: nil genesis", ErrBadGenesis)
	}
	if h == nil {
		return nil, fmt.Errorf("%w: nil header", ErrBadHeader)
	}
	var rec genesisRecord
	found, err := getRecord(r, []byte(keyGenesis), &rec)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no genesis record; store the changes of GenesisChanges first", ErrCorruptState)
	}
	if rec.ChainID != g.ChainID {
		return nil, fmt.Errorf("%w: state belongs to chain %q, genesis names %q", ErrBadGenesis, rec.ChainID, g.ChainID)
	}
	if h.ChainID != g.ChainID {
		return nil, fmt.Errorf("%w: header chain id %q, want %q", ErrBadHeader, h.ChainID, g.ChainID)
	}
	if h.Lane != chain.LaneTx {
		return nil, fmt.Errorf("%w: a %s block given to the tx lane", ErrBadHeader, h.Lane)
	}
	periods, err := g.Period()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadGenesis, err)
	}
	v := &TxView{g: g, periods: periods, height: h.Height, time: h.Time, anchor: h.Anchor.Height, ov: newOverlay(r)}
	found, err = getRecord(r, []byte(keyTxMeta), &v.meta)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no tx meta record", ErrCorruptState)
	}
	switch {
	case h.Height != v.meta.Height+1:
		return nil, fmt.Errorf("%w: tx block height %d does not follow the executed height %d", ErrBadHeader, h.Height, v.meta.Height)
	case h.Time < v.meta.Time:
		return nil, fmt.Errorf("%w: tx block time %s is before the last executed time %s", ErrBadHeader, h.Time, v.meta.Time)
	case h.Anchor.Height < v.meta.Anchor:
		return nil, fmt.Errorf("%w: anchor data height %d goes back from %d", ErrBadHeader, h.Anchor.Height, v.meta.Anchor)
	}
	return v, nil
}

// Finish writes the block's bookkeeping and returns the block's changes and
// the tx-lane state root after it.
func (v *TxView) finish() ([]Change, chain.Hash, error) {
	v.meta.Height = v.height
	v.meta.Time = v.time
	v.meta.Anchor = v.anchor
	putRecord(v.ov, []byte(keyTxMeta), &v.meta)
	root, err := Root(v.ov, []byte(TxPrefix))
	if err != nil {
		return nil, chain.Hash{}, err
	}
	return v.ov.changes(), root, nil
}

// ApplyTx checks tx against the view and applies it. The caller has
// verified tx's signature. On error the view is unchanged and the error
// wraps one of the transaction errors of this package (ErrBadNonce,
// ErrInsufficientFunds, ErrNotAllowed, ...) with a message naming the
// values involved.
func ApplyTx(v *TxView, tx *chain.Tx) error {
	if tx == nil {
		return fmt.Errorf("%w: nil transaction", ErrMalformedTx)
	}
	c := &txCtx{v: v, o: newOverlay(v.ov), tx: tx, from: tx.From.Address()}
	if err := c.apply(); err != nil {
		return err
	}
	v.ov.merge(c.o)
	return nil
}

// TxBuilder builds or executes one tx block: it settles closed periods when
// it is created, then applies transactions one at a time, keeping those
// that apply. Proposers use it to pick the transactions of a block;
// ExecuteTxBlock uses it to execute one.
type TxBuilder struct {
	v   *TxView
	txs []*chain.Tx
}

// NewTxBuilder opens a block h (Height, Time, ChainID, Lane and Anchor are
// used; StateRoot is not) over the committed state r. Every period that
// ended at or before h.Time is closed here, and every closed period whose
// reading window has passed at h's anchor data block is settled, counting
// readings of data blocks up to h.Anchor.Height from src.
func NewTxBuilder(r Reader, src ReadingSource, g *Genesis, h *chain.Header) (*TxBuilder, error) {
	v, err := newTxView(r, g, h)
	if err != nil {
		return nil, err
	}
	if err := v.settleClosedPeriods(src); err != nil {
		return nil, err
	}
	return &TxBuilder{v: v}, nil
}

// Add applies tx and keeps it, or returns why it does not apply and leaves
// the block unchanged.
func (b *TxBuilder) Add(tx *chain.Tx) error {
	if err := ApplyTx(b.v, tx); err != nil {
		return err
	}
	b.txs = append(b.txs, tx)
	return nil
}

// Txs returns the transactions kept so far, in order.
func (b *TxBuilder) Txs() []*chain.Tx { return append([]*chain.Tx(nil), b.txs...) }

// View returns the block's view, for queries of what the block would do.
func (b *TxBuilder) View() *TxView { return b.v }

// Finish returns the block's changes and the tx-lane state root after it.
func (b *TxBuilder) Finish() ([]Change, chain.Hash, error) { return b.v.finish() }

// ExecuteTxBlock executes the tx block h with transactions txs over the
// committed state r: closing and settlement of periods first (from src,
// up to data height h.Anchor.Height), then every transaction in order. A
// transaction that does not apply makes the block invalid (ErrBadBlock).
// It returns the block's changes and the tx-lane state root after it; it
// does not compare the root with h.StateRoot (VerifyTxBlock does).
func ExecuteTxBlock(r Reader, src ReadingSource, g *Genesis, h *chain.Header, txs []*chain.Tx) ([]Change, chain.Hash, error) {
	b, err := NewTxBuilder(r, src, g, h)
	if err != nil {
		return nil, chain.Hash{}, err
	}
	for i, tx := range txs {
		if err := b.Add(tx); err != nil {
			id := "nil"
			if tx != nil {
				id = tx.Hash().Short()
			}
			return nil, chain.Hash{}, fmt.Errorf("%w: tx block %d, txs[%d] (%s): %w", ErrBadBlock, h.Height, i, id, err)
		}
	}
	return b.Finish()
}

// VerifyTxBlock executes block b like ExecuteTxBlock and checks that the
// computed state root is the one its header commits to. On
// ErrStateRootMismatch a node must stop (and never vote for the block):
// either the block is wrong or this node's state is.
func VerifyTxBlock(r Reader, src ReadingSource, g *Genesis, b *chain.Block) ([]Change, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: nil block", ErrBadBlock)
	}
	changes, root, err := ExecuteTxBlock(r, src, g, &b.Header, b.Txs)
	if err != nil {
		return nil, err
	}
	if root != b.Header.StateRoot {
		return nil, fmt.Errorf("%w: tx block %d commits state root %s, executing it here gives %s", ErrStateRootMismatch, b.Header.Height, b.Header.StateRoot, root)
	}
	return changes, nil
}

// CheckTx is the admission check for the mempool and the API: does tx
// apply to the committed state r, as the next block would see it at the
// time of the last one? It skips settlement, so it is advisory; the
// proposer's TxBuilder is authoritative.
func CheckTx(r Reader, g *Genesis, tx *chain.Tx) error {
	var meta TxMeta
	found, err := getRecord(r, []byte(keyTxMeta), &meta)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: no tx meta record", ErrCorruptState)
	}
	var gh chain.Hash
	gh[0] = 1 // anchors are not used without settlement
	h := &chain.Header{ChainID: g.ChainID, Lane: chain.LaneTx, Height: meta.Height + 1, Time: meta.Time, Anchor: chain.Anchor{Height: meta.Anchor, Hash: gh}}
	v, err := newTxView(r, g, h)
	if err != nil {
		return err
	}
	return ApplyTx(v, tx)
}
