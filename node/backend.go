package node

import (
	"context"
	"errors"
	"strconv"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/ingest"
	"github.com/waterchain/waterchain/node/report"
)

// The node is the API's backend.
var (
	_ api.Chain       = (*Node)(nil)
	_ api.Door        = (*Node)(nil)
	_ api.Registry    = (*Node)(nil)
	_ api.Market      = (*Node)(nil)
	_ api.Alerts      = (*Node)(nil)
	_ api.Images      = (*Node)(nil)
	_ api.Reports     = (*Node)(nil)
	_ api.Proofs      = (*Node)(nil)
	_ api.EventSource = (*Node)(nil)
	_ api.Backend     = (*Node)(nil)
)

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
		st.P2PAddrs = n.host.Addrs()
	}
	now := chain.TimeOf(n.now())
	for _, lane := range chain.Lanes {
		ls := api.LaneStatus{Round: n.rounds[lane].Load()}
		if h, ok := n.Head(lane); ok {
			ls.Height, ls.Hash, ls.Time = h.Height, h.Hash(), h.Time
		}
		waiting := st.Mempool.Readings
		if lane == chain.LaneTx {
			waiting = st.Mempool.Txs
		}
		if err := n.laneLiveness(&ls, lane, waiting, now); err != nil {
			return st, err
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
	return finalBlock(n, lane, height, n.store.Block, func(b *chain.Block) (*chain.Block, error) { return b, nil })
}

// EncodedBlock answers GET /v1/blocks/{lane}/{height|latest} asked for
// CBOR: the stored block's canonical encoding, assembled from the stored
// bytes without decoding them (a block not written yet is encoded).
func (n *Node) EncodedBlock(lane chain.Lane, height uint64) ([]byte, error) {
	return finalBlock(n, lane, height, n.store.EncodedBlock, func(b *chain.Block) ([]byte, error) { return chain.Encode(b) })
}

// finalBlock reads the final block of lane at height (0: the latest
// written) from the commit writer's queue with queued, when it is not
// written yet (its events went out at its decision: announce), or else
// with read; a block in neither is the API's 404. The queue is asked
// first: a block leaves it only once the store holds it.
func finalBlock[T any](n *Node, lane chain.Lane, height uint64, read func(chain.Lane, uint64) (T, error), queued func(*chain.Block) (T, error)) (T, error) {
	var none T
	if height == 0 {
		height = n.Height(lane)
		if height == 0 {
			return none, api.NotFound("no %s block is final yet", lane)
		}
	}
	if b, ok := n.writer.block(lane, height); ok {
		return queued(b)
	}
	v, err := read(lane, height)
	if errors.Is(err, store.ErrNotFound) {
		return none, api.NotFound("no final %s block at height %d (the %s chain is at %d)", lane, height, lane, n.Height(lane))
	}
	return v, err
}

// DecodeReadings turns a POST /v1/readings body into readings.
func (n *Node) DecodeReadings(contentType string, body []byte) ([]*chain.Reading, error) {
	return ingest.Decode(contentType, body) // at most ingest.DefaultMaxReadings per request
}

// TxStatus answers GET /v1/txs/{hash}.
func (n *Node) TxStatus(h chain.Hash) (api.TxStatus, error) {
	tx, loc, err := n.store.Tx(h)
	if errors.Is(err, store.ErrNotFound) {
		// Final, in a block not written yet (commitwriter.go)?
		if qtx, qloc, ok := n.writer.tx(h); ok {
			tx, loc, err = qtx, qloc, nil
		}
	}
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
		// Final, in a block not written yet (commitwriter.go), or stored.
		r, loc, ok := n.writer.readingOf(q.Device, q.Seq)
		var err error
		if !ok {
			r, loc, err = n.store.Reading(q.Device, q.Seq)
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, api.NotFound("no final reading of device %s with seq %d", q.Device.Short(), q.Seq)
		}
		if err != nil {
			return nil, err
		}
		out := []api.Reading{{Reading: *r, Hash: r.Hash(), Height: loc.Height, Index: loc.Index}}
		n.images.AttachSummaries(out)
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
	n.images.AttachSummaries(out)
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

// ReadingStatus answers GET /v1/readings/{hash} from the store's reading
// hash index and the mempool, never by reading blocks.
func (n *Node) ReadingStatus(h chain.Hash) (api.ReadingStatus, error) {
	// Final, in a block not written yet (commitwriter.go), or stored; the
	// queue first, as a block leaves it only once the store holds it.
	r, loc, ok := n.writer.reading(h)
	var err error
	if !ok {
		r, loc, err = n.store.ReadingByHash(h)
	}
	if err == nil {
		return api.ReadingStatus{Hash: h, Status: "final", Height: loc.Height, Index: &loc.Index, Reading: r}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return api.ReadingStatus{}, err
	}
	if n.readings.Has(h) {
		return api.ReadingStatus{Hash: h, Status: "pending"}, nil
	}
	return api.ReadingStatus{}, api.NotFound("reading %s is neither final nor waiting on this node; submit it with POST /v1/readings", h)
}

// Validators answers GET /v1/validators.
func (n *Node) Validators() ([]state.ValidatorSetRecord, error) {
	return state.ValidatorSetHistory(n.state)
}

// Industries answers GET /v1/industries.
func (n *Node) Industries() ([]state.IndustryInfo, error) { return state.Industries(n.state) }

// Periods is the chain's settlement calendar.
func (n *Node) Periods() (chain.Period, error) { return state.Periods(n.state) }

// LastSettledPeriod is the latest settled period.
func (n *Node) LastSettledPeriod() (int64, bool, error) { return state.LastSettledPeriod(n.state) }

// Settlements answers GET /v1/settlements.
func (n *Node) Settlements(period int64) ([]state.Settlement, error) {
	return state.Settlements(n.state, period)
}

// Leaderboard answers GET /v1/leaderboard.
func (n *Node) Leaderboard(period int64) ([]state.LeaderboardEntry, error) {
	return state.Leaderboard(n.state, period)
}

// Report answers GET /v1/reports/{period}. Its cost follows the period,
// not the chain: the builder reads the period's blocks only, and the
// alerts come from the ones this node raised for them (chainAlertsOf: the
// per-block alert records and the log) instead of a replay of the alert
// rules from genesis; a node with alerts disabled counts none. (A data
// block committed a moment ago may not have been through the rules yet:
// its alerts count from the next request, as GET /v1/alerts lists them
// then; only settled periods, long past that, are kept.) Reports of
// settled periods are kept (report.Cache) while the set of industries is
// the same.
func (n *Node) Report(period int64) (*report.Report, error) {
	// The report builder reads a period as a number below 100000 or a
	// label; a label does not name period 0 of a genesis off the minute.
	ref := strconv.FormatInt(period, 10)
	if period >= 100_000 {
		periods, err := state.Periods(n.state)
		if err != nil {
			return nil, err
		}
		ref = periods.Label(period)
	}
	industries, err := state.Industries(n.state)
	if err != nil {
		return nil, err
	}
	if rep := n.reports.Get(period, len(industries)); rep != nil {
		return rep, nil
	}
	opts := report.ReportOptions{Alerts: func(uint64, uint64) ([]alerts.Alert, error) { return nil, nil }}
	if log := n.alertLog; log != nil {
		opts.Alerts = func(from, to uint64) ([]alerts.Alert, error) { return chainAlertsOf(n.store, log, from, to) }
	}
	rep, err := report.BuildReportWith(n.store, n.gen, ref, opts)
	switch {
	case errors.Is(err, report.ErrBadPeriod):
		return nil, api.BadRequest("%v", err)
	case errors.Is(err, report.ErrPeriodNotStarted):
		return nil, api.NotFound("%v", err)
	case err != nil:
		return nil, err
	}
	n.reports.Put(rep)
	return rep, nil
}

// The image routes delegate to the image store (package images).

// PutImage answers PUT /v1/images/{hash}.
func (n *Node) PutImage(hash chain.Hash, body []byte) error { return n.images.Put(hash, body) }

// Image answers GET /v1/images/{hash}.
func (n *Node) Image(h chain.Hash) (api.File, error) { return n.images.File(h) }

// ImageOverlay answers GET /v1/images/{hash}/overlay.
func (n *Node) ImageOverlay(h chain.Hash) (api.File, error) { return n.images.Overlay(h) }

// ImageAnalysis answers GET /v1/images/{hash}/analysis.
func (n *Node) ImageAnalysis(h chain.Hash) (api.ImageReport, error) { return n.images.Analysis(h) }
