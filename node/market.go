package node

import (
	"errors"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/api"
)

// maxTradeScan bounds the tx blocks one trades query reads back.
const maxTradeScan = 5_000

// Trades lists the most recent trades, newest first, from the last
// maxTradeScan tx blocks (GET /v1/market/trades?limit=).
func (n *Node) Trades(limit int) ([]api.Trade, error) {
	sr := n.state
	out := []api.Trade{}
	head := n.Height(chain.LaneTx)
	for h := head; h >= 1 && head-h < maxTradeScan && len(out) < limit; h-- {
		b, err := n.store.Block(chain.LaneTx, h)
		if err != nil {
			return nil, err
		}
		for i := len(b.Txs) - 1; i >= 0 && len(out) < limit; i-- {
			tx := b.Txs[i]
			if tx.AcceptOffer == nil {
				continue
			}
			t := api.Trade{
				Tx: tx.Hash(), Offer: tx.AcceptOffer.Offer, Buyer: tx.From.Address(),
				Volume: tx.AcceptOffer.Volume, Height: h, Time: b.Header.Time,
			}
			if o, err := state.GetOffer(sr, t.Offer); err == nil {
				t.Seller, t.Price, t.Amount = o.Seller, o.Price, o.Price*t.Volume
			}
			out = append(out, t)
		}
	}
	return out, nil
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
