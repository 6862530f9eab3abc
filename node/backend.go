package node

import (
	"context"
	"errors"
	"strconv"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/audit"
	"github.com/waterchain/waterchain/node/ingest"
)

// The node is the API's backend.
var _ api.Backend = (*Node)(nil)

// Status answers GET /v1/status.
func (n *Node) Status(context.Context) (api.Status, error) {
	st := api.Status{
		ChainID: n.chainID, GenesisHash: n.genHash, NodeKey: n.key.Public(), Name: n.name,
		Role: n.role, Lanes: map[string]api.LaneStatus{}, Syncing: n.syncing.Load(),
		Version: build.Version, Commit: build.Commit, GoVersion: build.GoVersion,
		Mempool: api.MempoolStatus{Readings: n.readings.Len(), Txs: n.txs.Len()},
		Sync:    n.progress.status(n),
	}
	if n.host != nil {
		st.NodeID = n.host.ID().String()
		st.Peers = len(n.host.Peers())
	}
	for _, lane := range chain.Lanes {
		ls := api.LaneStatus{Round: n.rounds[lane].Load()}
		if h, ok := n.Head(lane); ok {
			ls.Height, ls.Hash, ls.Time = h.Height, h.Hash(), h.Time
		}
		st.Lanes[lane.String()] = ls
	}
	vs, err := state.ValidatorSetAt(n.state, n.Height(chain.LaneTx)+1)
	if err != nil {
		return st, err
	}
	st.Validators = vs.Keys()
	return st, nil
}

// Block answers GET /v1/blocks/{lane}/{height|latest}.
func (n *Node) Block(lane chain.Lane, height uint64) (*chain.Block, error) {
	if height == 0 {
		height = n.Height(lane)
		if height == 0 {
			return nil, api.NotFound("no %s block is final yet", lane)
		}
	}
	b, err := n.store.Block(lane, height)
	if errors.Is(err, store.ErrNotFound) {
		return nil, api.NotFound("no final %s block at height %d (the %s chain is at %d)", lane, height, lane, n.Height(lane))
	}
	return b, err
}

// DecodeReadings turns a POST /v1/readings body into readings.
func (n *Node) DecodeReadings(contentType string, body []byte) ([]*chain.Reading, error) {
	return ingest.Decode(contentType, body) // at most ingest.DefaultMaxReadings per request
}

// TxStatus answers GET /v1/txs/{hash}.
func (n *Node) TxStatus(h chain.Hash) (api.TxStatus, error) {
	tx, loc, err := n.store.Tx(h)
	if err == nil {
		return api.TxStatus{Hash: h, Status: "final", Height: loc.Height, Index: loc.Index, Tx: tx}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return api.TxStatus{}, err
	}
	if n.txs.Has(h) {
		return api.TxStatus{Hash: h, Status: "pending"}, nil
	}
	return api.TxStatus{}, api.NotFound("transaction %s is neither final nor waiting on this node", h)
}

// Readings answers GET /v1/readings.
func (n *Node) Readings(q api.ReadingQuery) ([]api.Reading, error) {
	if q.Seq != 0 {
		r, loc, err := n.store.Reading(q.Device, q.Seq)
		if errors.Is(err, store.ErrNotFound) {
			return nil, api.NotFound("no final reading of device %s with seq %d", q.Device.Short(), q.Seq)
		}
		if err != nil {
			return nil, err
		}
		out := []api.Reading{{Reading: *r, Hash: r.Hash(), Height: loc.Height, Index: loc.Index}}
		n.attachImages(out)
		return out, nil
	}
	to := q.To
	if to == 0 {
		to = chain.Time(1<<62 - 1)
	}
	var out []api.Reading
	err := n.store.Readings(q.Device, q.From, to, q.Limit, func(r *chain.Reading, loc store.Location) error {
		out = append(out, api.Reading{Reading: *r, Hash: r.Hash(), Height: loc.Height, Index: loc.Index})
		return nil
	})
	n.attachImages(out)
	return out, err
}

// Account answers GET /v1/accounts/{address}.
func (n *Node) Account(a chain.Address) (api.Account, error) {
	sr := n.state
	info, err := state.GetAccount(sr, a)
	if err != nil {
		return api.Account{}, err
	}
	out := api.Account{Address: a, Balance: info.Balance, Nonce: info.Nonce}
	if ind, err := state.GetIndustry(sr, a); err == nil {
		out.Industry = ind.Name
	}
	return out, nil
}

// Device answers GET /v1/devices/{key}.
func (n *Node) Device(k chain.PubKey) (api.Device, error) {
	sr := n.state
	d, err := state.GetDevice(sr, k)
	if errors.Is(err, state.ErrUnknownDevice) {
		return api.Device{}, api.NotFound("device %s is not registered; register it with: waterchain tx register-device --device %s", k.Short(), k)
	}
	if err != nil {
		return api.Device{}, err
	}
	out := api.Device{
		Key: k, Owner: d.Owner, Label: d.Label, Status: "active", RegisteredHeight: d.RegisteredHeight,
		RevokedHeight: d.RevokedHeight, LastSeq: d.Data.LastSeq, LastTime: d.Data.LastTime, Missing: d.Data.Missing,
	}
	if d.Revoked() {
		out.Status = "revoked"
	}
	if ind, err := state.GetIndustry(sr, d.Owner); err == nil {
		out.Industry = ind.Name
	}
	return out, nil
}

// Query answers the read-only routes whose shapes belong to the state
// machine, alerts and audit packages.
func (n *Node) Query(name string, p map[string]string) (any, error) {
	sr := n.state
	switch name {
	case "industries":
		return state.Industries(sr)
	case "industry":
		return n.queryIndustry(p)
	case "trades":
		return n.queryTrades(p)
	case "audit":
		return n.queryAudit(p)
	case "report":
		th := n.cfg.Alerts.Thresholds
		rep, err := audit.BuildReportWith(n.store, n.gen, p["period"], audit.ReportOptions{Thresholds: &th})
		switch {
		case errors.Is(err, audit.ErrBadPeriod):
			return nil, api.BadRequest("%v", err)
		case errors.Is(err, audit.ErrPeriodNotStarted):
			return nil, api.NotFound("%v", err)
		}
		return rep, err
	case "offers":
		offers, err := state.Offers(sr)
		if offers == nil {
			offers = []state.Offer{}
		}
		return offers, err
	case "settlements", "leaderboard":
		period, err := n.periodParam(sr, p["period"])
		if err != nil {
			return nil, err
		}
		if name == "leaderboard" {
			return state.Leaderboard(sr, period)
		}
		return state.Settlements(sr, period)
	case "evidence":
		return state.EvidenceList(sr)
	case "validators":
		return state.ValidatorSetHistory(sr)
	case "proof":
		return n.queryProof(p)
	case "alerts":
		return n.queryAlerts(p)
	case "image":
		return n.queryImage(p)
	case "image_analysis":
		return n.queryImageAnalysis(p)
	case "image_overlay":
		return n.queryImageOverlay(p)
	}
	return nil, api.NotFound("%s is not served by this node", name)
}

// periodParam parses a period label, defaulting to the last settled one.
func (n *Node) periodParam(sr state.Reader, label string) (int64, error) {
	periods, err := state.Periods(sr)
	if err != nil {
		return 0, err
	}
	if label == "" {
		last, ok, err := state.LastSettledPeriod(sr)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, api.NotFound("no period has been settled yet; the first closes at %s", periods.End(0))
		}
		return last, nil
	}
	if v, err := strconv.ParseInt(label, 10, 64); err == nil && v >= 0 && len(label) < 6 {
		return v, nil
	}
	pn, err := periods.ParseLabel(label)
	if err != nil {
		return 0, api.BadRequest("%v", err)
	}
	return pn, nil
}
