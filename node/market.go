package node

import (
	"errors"
	"strconv"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/api"
)

// Trade is one accepted allowance offer, for GET /v1/market/trades.
type Trade struct {
	Tx     chain.Hash    `json:"tx"`
	Offer  chain.Hash    `json:"offer"`
	Buyer  chain.Address `json:"buyer"`
	Seller chain.Address `json:"seller"`
	Volume uint64        `json:"volume"` // litres
	Price  uint64        `json:"price"`  // smallest drop units per litre
	Amount uint64        `json:"amount"` // drops paid, smallest units
	Height uint64        `json:"height"`
	Time   chain.Time    `json:"time"`
}

// maxTradeScan bounds the tx blocks one trades query reads back.
const maxTradeScan = 5_000

// queryTrades lists the most recent trades, newest first, from the last
// maxTradeScan tx blocks (GET /v1/market/trades?limit=).
func (n *Node) queryTrades(p map[string]string) (any, error) {
	limit := 100
	if v := p["limit"]; v != "" {
		var err error
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return nil, api.BadRequest("limit %q: want 1 to 1000", v)
		}
	}
	sr := n.state
	out := []Trade{}
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
			t := Trade{
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

// IndustryView is GET /v1/industries/{address}: the industry with its
// meters and every version of its permit, oldest first.
type IndustryView struct {
	*state.IndustryInfo
	Devices       []state.Device       `json:"devices"`
	PermitHistory []state.PermitRecord `json:"permit_history"`
}

func (n *Node) queryIndustry(p map[string]string) (any, error) {
	a, err := chain.ParseAddress(p["address"])
	if err != nil {
		return nil, api.BadRequest("%v", err)
	}
	sr := n.state
	ind, err := state.GetIndustry(sr, a)
	if errors.Is(err, state.ErrUnknownIndustry) {
		return nil, api.NotFound("%v", err)
	}
	if err != nil {
		return nil, err
	}
	devs, err := state.Devices(sr, a)
	if err != nil {
		return nil, err
	}
	if devs == nil {
		devs = []state.Device{}
	}
	hist, err := state.PermitHistory(sr, a)
	if err != nil {
		return nil, err
	}
	return IndustryView{IndustryInfo: ind, Devices: devs, PermitHistory: hist}, nil
}

// AuditStatus is GET /v1/audit on an auditor: what it has verified. An
// auditor commits only blocks it has checked (signatures, hash links,
// anchors, certificates, re-execution to the state root), so its heads are
// its verified heights.
type AuditStatus struct {
	Auditor  string `json:"auditor"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
	Verified struct {
		Data uint64 `json:"data"`
		Tx   uint64 `json:"tx"`
	} `json:"verified"`
	CheckedAt chain.Time `json:"checked_at"`
}

func (n *Node) queryAudit(map[string]string) (any, error) {
	if n.role != RoleAuditor {
		return nil, api.NotFound("this node is a %s; ask an auditor node for its verification status", n.role)
	}
	st := AuditStatus{Auditor: n.name, OK: n.Err() == nil, CheckedAt: chain.TimeOf(n.now())}
	if err := n.Err(); err != nil {
		st.Error = err.Error()
	}
	st.Verified.Data, st.Verified.Tx = n.Height(chain.LaneData), n.Height(chain.LaneTx)
	return st, nil
}
