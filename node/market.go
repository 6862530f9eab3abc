package node

import (
	"errors"
	"fmt"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/api"
)

// The lists of the market and of evidence come from the store's tx kind
// index (store.TxsByKind), newest first from a cursor, and from state by
// id: a page reads at most api.MaxPage index entries and their
// transactions, whatever the length of the chain. The records are read
// from the store's state, not the node's state cache: the cache takes a
// block's changes after the store, so an index entry could name a record
// it does not hold yet, while the store wrote both in one batch.

// Trades answers GET /v1/market/trades.
func (n *Node) Trades(q api.PageQuery) ([]api.Trade, error) {
	return listTrades(n.store, storeState{n.store}, q)
}

// Evidence answers GET /v1/evidence.
func (n *Node) Evidence(q api.PageQuery) ([]api.Evidence, error) {
	return listEvidence(n.store, storeState{n.store}, q)
}

// Offers answers GET /v1/market/offers.
func (n *Node) Offers() ([]state.Offer, error) { return openOffers(n.store, storeState{n.store}) }

// storeState is the store's committed state as package state reads it.
type storeState struct{ st *store.Store }

var _ state.Reader = storeState{}

func (r storeState) Get(key []byte) ([]byte, error) {
	v, err := r.st.State(key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", state.ErrNotFound, key)
	}
	return v, err
}

func (r storeState) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	return r.st.IterateState(prefix, fn)
}

func cursor(c api.TxCursor) store.Location {
	return store.Location{Lane: chain.LaneTx, Height: c.Height, Index: c.Index}
}

// listTrades is a page of accept-offer transactions with their offers'
// seller and price (an offer's record stays in state once filled) and
// their block's time.
func listTrades(st *store.Store, sr state.Reader, q api.PageQuery) ([]api.Trade, error) {
	out := []api.Trade{}
	var blockTime struct { // the last block read: trades of one block share it
		height uint64
		time   chain.Time
	}
	err := st.TxsByKind(chain.KindAcceptOffer, cursor(q.Before), func(tx *chain.Tx, loc store.Location) error {
		if len(out) >= q.Limit {
			return store.ErrStop
		}
		if blockTime.height != loc.Height {
			h, err := st.Header(chain.LaneTx, loc.Height)
			if err != nil {
				return err
			}
			blockTime.height, blockTime.time = loc.Height, h.Time
		}
		o, err := state.GetOffer(sr, tx.AcceptOffer.Offer)
		if err != nil {
			return fmt.Errorf("the offer of trade %s at %s: %w", tx.Hash().Short(), loc, err)
		}
		out = append(out, api.Trade{
			Tx: tx.Hash(), Offer: o.ID, Buyer: tx.From.Address(), Seller: o.Seller,
			Volume: tx.AcceptOffer.Volume, Price: o.Price, Amount: o.Price * tx.AcceptOffer.Volume,
			Height: loc.Height, Index: loc.Index, Time: blockTime.time,
		})
		return nil
	})
	return out, err
}

// listEvidence is a page of evidence transactions with the records they
// made.
func listEvidence(st *store.Store, sr state.Reader, q api.PageQuery) ([]api.Evidence, error) {
	out := []api.Evidence{}
	err := st.TxsByKind(chain.KindEvidence, cursor(q.Before), func(tx *chain.Tx, loc store.Location) error {
		if len(out) >= q.Limit {
			return store.ErrStop
		}
		e, err := state.GetEvidence(sr, tx.Evidence.ID())
		if err != nil {
			return fmt.Errorf("the evidence of tx %s at %s: %w", tx.Hash().Short(), loc, err)
		}
		out = append(out, api.Evidence{EvidenceRecord: *e, TxIndex: loc.Index})
		return nil
	})
	return out, err
}

// openOffers lists the open offers, cheapest first. Settling period p
// expires every offer of a period up to p still open, so an open offer
// belongs to the first unsettled period or a later one; offers are made
// in period order, so the walk back over offer-allowance transactions
// stops at the first offer of an earlier period: it reads the offers of
// the unsettled periods only, not every offer ever made.
func openOffers(st *store.Store, sr state.Reader) ([]state.Offer, error) {
	meta, err := state.GetTxMeta(sr)
	if err != nil {
		return nil, err
	}
	first := meta.FirstUnsettled()
	out := []state.Offer{}
	err = st.TxsByKind(chain.KindOfferAllowance, store.Location{}, func(tx *chain.Tx, loc store.Location) error {
		o, err := state.GetOffer(sr, tx.Hash())
		if err != nil {
			return fmt.Errorf("the offer made at %s: %w", loc, err)
		}
		if o.Period < first {
			return store.ErrStop
		}
		if o.Status == state.OfferOpen {
			out = append(out, *o)
		}
		return nil
	})
	state.SortOffers(out)
	return out, err
}

// Industry answers GET /v1/industries/{address}.
func (n *Node) Industry(a chain.Address) (api.Industry, error) {
	sr := n.state
	ind, err := state.GetIndustry(sr, a)
	if errors.Is(err, state.ErrUnknownIndustry) {
		return api.Industry{}, api.NotFound("%v", err)
	}
	if err != nil {
		return api.Industry{}, err
	}
	devs, err := state.Devices(sr, a)
	if err != nil {
		return api.Industry{}, err
	}
	if devs == nil {
		devs = []state.Device{}
	}
	hist, err := state.PermitHistory(sr, a)
	if err != nil {
		return api.Industry{}, err
	}
	return api.Industry{IndustryInfo: ind, Devices: devs, PermitHistory: hist}, nil
}

// AuditStatus answers GET /v1/audit.
func (n *Node) AuditStatus() (api.AuditStatus, error) {
	if n.role != RoleAuditor {
		return api.AuditStatus{}, api.NotFound("this node is a %s; ask an auditor node for its verification status", n.role)
	}
	st := api.AuditStatus{Auditor: n.name, OK: n.Err() == nil, CheckedAt: chain.TimeOf(n.now())}
	if err := n.Err(); err != nil {
		st.Error = err.Error()
	}
	st.Verified.Data, st.Verified.Tx = n.Height(chain.LaneData), n.Height(chain.LaneTx)
	return st, nil
}
