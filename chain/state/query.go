package state

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/waterchain/waterchain/chain"
)

// Queries over committed state for the API and CLI. Each reads r only; r
// may be the node's store or a TxView's Reader.

// AccountInfo is an account's balance and nonce. An address never seen
// has a zero balance and nonce.
type AccountInfo struct {
	Address chain.Address `json:"address"`
	Balance uint64        `json:"balance"`
	Nonce   uint64        `json:"nonce"`
}

// GetAccount returns the account at addr.
func GetAccount(r Reader, addr chain.Address) (*AccountInfo, error) {
	acct, err := loadAccount(r, addr)
	if err != nil {
		return nil, err
	}
	return &AccountInfo{Address: addr, Balance: acct.Balance, Nonce: acct.Nonce}, nil
}

// IndustryInfo is an industry with its figures for the open period.
type IndustryInfo struct {
	Address chain.Address `json:"address"`
	Industry
	// PeriodLabel names the open period the counters are for.
	PeriodLabel string `json:"period_label"`
	// AllowanceAfterTrades is Allowance + Bought − Sold, litres.
	AllowanceAfterTrades uint64 `json:"allowance_after_trades"`
	// Unoffered is the allowance after trades not held by open offers.
	Unoffered uint64 `json:"unoffered"`
	Balance   uint64 `json:"balance"`
}

func industryInfo(r Reader, periods chain.Period, addr chain.Address, ind *Industry) (*IndustryInfo, error) {
	acct, err := loadAccount(r, addr)
	if err != nil {
		return nil, err
	}
	return &IndustryInfo{
		Address: addr, Industry: *ind, PeriodLabel: periods.Label(ind.Period),
		AllowanceAfterTrades: ind.AfterTrades(), Unoffered: ind.Unoffered(), Balance: acct.Balance,
	}, nil
}

// GetIndustry returns the industry at addr, or ErrUnknownIndustry.
func GetIndustry(r Reader, addr chain.Address) (*IndustryInfo, error) {
	periods, err := Periods(r)
	if err != nil {
		return nil, err
	}
	ind, found, err := loadIndustry(r, addr)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrUnknownIndustry, addr)
	}
	return industryInfo(r, periods, addr, ind)
}

// Industries returns every industry, by address.
func Industries(r Reader) ([]IndustryInfo, error) {
	periods, err := Periods(r)
	if err != nil {
		return nil, err
	}
	var out []IndustryInfo
	err = r.Iterate([]byte(pfxIndustry), func(key, value []byte) error {
		var addr chain.Address
		if len(key) != len(pfxIndustry)+len(addr) {
			return fmt.Errorf("%w: industry key %q", ErrCorruptState, key)
		}
		copy(addr[:], key[len(pfxIndustry):])
		var ind Industry
		if err := decodeRecord(value, &ind); err != nil {
			return err
		}
		info, err := industryInfo(r, periods, addr, &ind)
		if err != nil {
			return err
		}
		out = append(out, *info)
		return nil
	})
	return out, err
}

// VolumeUsed sums the volume (millilitres) the industry's meters reported
// in period p, from data blocks up to maxDataHeight: the "volume used so
// far" of an open period, or a settled period's figure recomputed.
func VolumeUsed(r Reader, src ReadingSource, addr chain.Address, p int64, maxDataHeight uint64) (uint64, error) {
	periods, err := Periods(r)
	if err != nil {
		return 0, err
	}
	devices, err := Devices(r, addr)
	if err != nil {
		return 0, err
	}
	var used uint64
	for _, d := range devices {
		err := src.ReadingsUpTo(d.Key, periods.Start(p), periods.End(p), maxDataHeight, func(rd *chain.Reading) error {
			if rd.Volume > 0 {
				used = satAdd(used, uint64(rd.Volume))
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return used, nil
}

// DeviceInfo is a device's registration (tx lane) with its data-lane
// record (last sequence number, readings, missing readings).
type DeviceInfo struct {
	Device
	Active bool       `json:"active"`
	Data   DeviceData `json:"data"`
}

// GetDevice returns the device with key k, or ErrUnknownDevice.
func GetDevice(r Reader, k chain.PubKey) (*DeviceInfo, error) {
	var info DeviceInfo
	found, err := getRecord(r, deviceKey(k), &info.Device)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrUnknownDevice, k)
	}
	info.Active = !info.Revoked()
	if _, err := getRecord(r, deviceDataKey(k), &info.Data); err != nil {
		return nil, err
	}
	return &info, nil
}

// Devices returns the devices registered to owner (ever), by key.
func Devices(r Reader, owner chain.Address) ([]Device, error) {
	var out []Device
	err := r.Iterate([]byte(pfxDevice), func(key, value []byte) error {
		var d Device
		if err := decodeRecord(value, &d); err != nil {
			return err
		}
		if d.Owner == owner {
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// DeviceActiveAt reports whether device k was registered and not revoked
// as of tx height txHeight. r must hold tx state of height ≥ txHeight.
func DeviceActiveAt(r Reader, k chain.PubKey, txHeight uint64) (bool, error) {
	var d Device
	found, err := getRecord(r, deviceKey(k), &d)
	if err != nil || !found {
		return false, err
	}
	return d.ActiveAt(txHeight), nil
}

// GetOffer returns the offer with id, open or not, or ErrOfferNotFound.
func GetOffer(r Reader, id chain.Hash) (*Offer, error) {
	var o Offer
	found, err := getRecord(r, offerKey(id), &o)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrOfferNotFound, id)
	}
	return &o, nil
}

// Offers returns the open offers, cheapest first (then oldest, then by id).
// It reads every offer ever made: the node's API reads only the recent
// ones, from the store's tx kind index, with GetOffer and SortOffers.
func Offers(r Reader) ([]Offer, error) {
	var out []Offer
	err := r.Iterate([]byte(pfxOffer), func(key, value []byte) error {
		var o Offer
		if err := decodeRecord(value, &o); err != nil {
			return err
		}
		if o.Status == OfferOpen {
			out = append(out, o)
		}
		return nil
	})
	SortOffers(out)
	return out, err
}

// SortOffers orders offers as Offers lists them: cheapest first, then
// oldest, then by id.
func SortOffers(out []Offer) {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Price != b.Price:
			return a.Price < b.Price
		case a.Height != b.Height:
			return a.Height < b.Height
		}
		return bytes.Compare(a.ID[:], b.ID[:]) < 0
	})
}

// Settlements returns the settlement records of period p, by industry
// address, or ErrNoSuchPeriod when p is not settled.
func Settlements(r Reader, p int64) ([]Settlement, error) {
	last, ok, err := LastSettledPeriod(r)
	if err != nil {
		return nil, err
	}
	if p < 0 || !ok || p > last {
		return nil, fmt.Errorf("%w: period %d is not settled (last settled: %d)", ErrNoSuchPeriod, p, last)
	}
	var out []Settlement
	err = r.Iterate(settlementPrefix(p), func(key, value []byte) error {
		var s Settlement
		if err := decodeRecord(value, &s); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// ClosedUnsettled returns the records of period p while it is closed but
// not settled yet (its reading window has not passed on the data chain):
// the allowance figures and limits the tx lane kept when it closed, by
// industry address, without any reading figures. It returns
// ErrNoSuchPeriod when p is not awaiting settlement.
func ClosedUnsettled(r Reader, p int64) ([]Settlement, error) {
	m, err := GetTxMeta(r)
	if err != nil {
		return nil, err
	}
	if p < m.FirstUnsettled() || p >= m.Period {
		return nil, fmt.Errorf("%w: period %d is not awaiting settlement (periods %d to %d are)", ErrNoSuchPeriod, p, m.FirstUnsettled(), m.Period-1)
	}
	return recordsUnder[Settlement](r, closedPrefix(p))
}

// LeaderboardEntry is one industry's place in a settled period.
type LeaderboardEntry struct {
	Rank               int           `json:"rank"`
	Industry           chain.Address `json:"industry"`
	Name               string        `json:"name"`
	Reward             uint64        `json:"reward"`
	CompliancePermille uint32        `json:"compliance_permille"`
	DeliveryPermille   uint32        `json:"delivery_permille"`
	SavedLitres        uint64        `json:"saved_litres"`
	OverLitres         uint64        `json:"over_litres"`
}

// Leaderboard ranks the industries of settled period p: most drops minted
// first, then higher compliance, higher delivery, more litres saved, fewer
// litres over, then by name. Equal entries share nothing: ranks are 1..n.
func Leaderboard(r Reader, p int64) ([]LeaderboardEntry, error) {
	recs, err := Settlements(r, p)
	if err != nil {
		return nil, err
	}
	out := make([]LeaderboardEntry, len(recs))
	for i, s := range recs {
		out[i] = LeaderboardEntry{
			Industry: s.Industry, Name: s.Name, Reward: s.Reward,
			CompliancePermille: s.CompliancePermille, DeliveryPermille: s.DeliveryPermille,
			SavedLitres: s.SavedLitres, OverLitres: s.OverLitres,
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Reward != b.Reward:
			return a.Reward > b.Reward
		case a.CompliancePermille != b.CompliancePermille:
			return a.CompliancePermille > b.CompliancePermille
		case a.DeliveryPermille != b.DeliveryPermille:
			return a.DeliveryPermille > b.DeliveryPermille
		case a.SavedLitres != b.SavedLitres:
			return a.SavedLitres > b.SavedLitres
		case a.OverLitres != b.OverLitres:
			return a.OverLitres < b.OverLitres
		}
		return a.Name < b.Name
	})
	for i := range out {
		out[i].Rank = i + 1
	}
	return out, nil
}

// GetEvidence returns the evidence recorded with id (chain.Evidence.ID),
// or ErrEvidenceNotFound.
func GetEvidence(r Reader, id chain.Hash) (*EvidenceRecord, error) {
	var e EvidenceRecord
	found, err := getRecord(r, evidenceKey(id), &e)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrEvidenceNotFound, id)
	}
	return &e, nil
}

// EvidenceList returns all the recorded equivocation evidence, by tx
// height then id. It reads every record: the node's API lists evidence a
// page at a time from the store's tx kind index and GetEvidence instead.
func EvidenceList(r Reader) ([]EvidenceRecord, error) {
	var out []EvidenceRecord
	err := r.Iterate([]byte(pfxEvidence), func(key, value []byte) error {
		var e EvidenceRecord
		if err := decodeRecord(value, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].TxHeight < out[j].TxHeight })
	return out, err
}

// LastSettledPeriod returns the last settled period; ok is false until
// period 0 is settled. Periods close at their end but are settled only
// once the reading window after it has passed on the data chain, so the
// last settled period may be older than the one before the open period.
func LastSettledPeriod(r Reader) (period int64, ok bool, err error) {
	m, err := GetTxMeta(r)
	if err != nil {
		return 0, false, err
	}
	first := m.FirstUnsettled()
	return first - 1, first > 0, nil
}

// GetTxMeta returns the tx lane's bookkeeping (height, time, open period,
// supply).
func GetTxMeta(r Reader) (*TxMeta, error) {
	var m TxMeta
	found, err := getRecord(r, []byte(keyTxMeta), &m)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no tx meta record", ErrCorruptState)
	}
	return &m, nil
}

// GetDataMeta returns the data lane's bookkeeping.
func GetDataMeta(r Reader) (*DataMeta, error) {
	var m DataMeta
	found, err := getRecord(r, []byte(keyDataMeta), &m)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no data meta record", ErrCorruptState)
	}
	return &m, nil
}

// Periods returns the chain's settlement periods (for labels such as
// "2026-11" and their numbers), from the genesis record in state.
func Periods(r Reader) (chain.Period, error) {
	var g genesisRecord
	found, err := getRecord(r, []byte(keyGenesis), &g)
	if err != nil {
		return chain.Period{}, err
	}
	if !found {
		return chain.Period{}, fmt.Errorf("%w: no genesis record", ErrCorruptState)
	}
	return periodOf(g.GenesisTime, &g.Params)
}

// Regulators returns the regulators' account keys, by address.
func Regulators(r Reader) ([]chain.PubKey, error) {
	var out []chain.PubKey
	err := r.Iterate([]byte(pfxRegulator), func(key, value []byte) error {
		var reg Regulator
		if err := decodeRecord(value, &reg); err != nil {
			return err
		}
		out = append(out, reg.Key)
		return nil
	})
	return out, err
}

// Supply returns the drop supply: genesis balances plus everything minted.
// It always equals the sum of all balances (drops are never held in
// escrow: accept-offer settles atomically).
func Supply(r Reader) (genesis, minted uint64, err error) {
	m, err := GetTxMeta(r)
	if err != nil {
		return 0, 0, err
	}
	return m.GenesisSupply, m.Minted, nil
}
