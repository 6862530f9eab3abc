package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/waterchain/waterchain/chain"
)

// Records stored in state. They are encoded with chain.Encode (deterministic
// CBOR, integer keys) and decoded strictly with chain.Decode; every decoder
// checks the record's invariants too, so a corrupt store is reported as
// ErrCorruptState rather than acted upon. The JSON tags serve the API.

// Account is an account's drop balance (smallest units) and the nonce of
// its last transaction (0: none yet).
type Account struct {
	Balance uint64 `cbor:"1,keyasint,omitempty" json:"balance"`
	Nonce   uint64 `cbor:"2,keyasint,omitempty" json:"nonce"`
}

// Permit is what a regulator allows an industry: Allowance litres of water
// per settlement period and discharge Limits per quality measure.
type Permit struct {
	Allowance uint64       `cbor:"1,keyasint,omitempty" json:"allowance"`
	Limits    chain.Limits `cbor:"2,keyasint" json:"limits"`
}

// Industry is an industry's permit and its allowance counters for the open
// period. Allowance after trades is Allowance + Bought − Sold; of it, Escrow
// litres sit in open offers.
type Industry struct {
	Name       string       `cbor:"1,keyasint" json:"name"`
	Account    chain.PubKey `cbor:"2,keyasint" json:"account"`
	Permit     Permit       `cbor:"3,keyasint" json:"permit"`
	NextPermit *Permit      `cbor:"4,keyasint,omitempty" json:"next_permit,omitempty"`
	Period     int64        `cbor:"5,keyasint,omitempty" json:"period"`
	Allowance  uint64       `cbor:"6,keyasint,omitempty" json:"allowance"`
	Bought     uint64       `cbor:"7,keyasint,omitempty" json:"bought"`
	Sold       uint64       `cbor:"8,keyasint,omitempty" json:"sold"`
	Escrow     uint64       `cbor:"9,keyasint,omitempty" json:"escrow"`
}

// AfterTrades is the period's allowance after trades, in litres.
func (ind *Industry) AfterTrades() uint64 { return ind.Allowance + ind.Bought - ind.Sold }

// Unoffered is the allowance after trades not sitting in open offers: what
// the industry may still offer.
func (ind *Industry) Unoffered() uint64 { return ind.AfterTrades() - ind.Escrow }

func (ind *Industry) check() error {
	// Allowance + Bought must not overflow and Sold + Escrow must fit in it.
	total, err := add(ind.Allowance, ind.Bought, "allowance")
	if err != nil {
		return err
	}
	if ind.Sold > total || ind.Escrow > total-ind.Sold {
		return fmt.Errorf("industry %q: sold %d and escrow %d exceed allowance %d + bought %d", ind.Name, ind.Sold, ind.Escrow, ind.Allowance, ind.Bought)
	}
	if ind.Period < 0 {
		return fmt.Errorf("industry %q: negative period %d", ind.Name, ind.Period)
	}
	return nil
}

// Regulator marks an account named a regulator in genesis.
type Regulator struct {
	Key chain.PubKey `cbor:"1,keyasint" json:"key"`
}

// Device is a meter's registration. It is never deleted and a key is never
// registered twice, so "was the device active at tx height A?" has the same
// answer whatever the tx chain did after A (see ActiveAt).
type Device struct {
	Key              chain.PubKey  `cbor:"1,keyasint" json:"key"`
	Owner            chain.Address `cbor:"2,keyasint" json:"owner"`
	Label            string        `cbor:"3,keyasint,omitempty" json:"label,omitempty"`
	RegisteredHeight uint64        `cbor:"4,keyasint,omitempty" json:"registered_height"`
	RegisteredTime   chain.Time    `cbor:"5,keyasint" json:"registered_time"`
	RevokedHeight    uint64        `cbor:"6,keyasint,omitempty" json:"revoked_height,omitempty"`
	RevokedTime      chain.Time    `cbor:"7,keyasint,omitempty" json:"revoked_time,omitempty"`
	RevokedBy        chain.Address `cbor:"8,keyasint,omitempty" json:"revoked_by,omitempty"`
}

// Revoked reports whether the device has been revoked (at any height).
func (d *Device) Revoked() bool { return d.RevokedHeight != 0 }

// ActiveAt reports whether the device was registered and not revoked in
// the state after tx block txHeight.
func (d *Device) ActiveAt(txHeight uint64) bool {
	return d.RegisteredHeight <= txHeight && (d.RevokedHeight == 0 || txHeight < d.RevokedHeight)
}

func (d *Device) check() error {
	if d.RevokedHeight != 0 && d.RevokedHeight < d.RegisteredHeight {
		return fmt.Errorf("device %s revoked at %d before registration at %d", d.Key.Short(), d.RevokedHeight, d.RegisteredHeight)
	}
	return nil
}

// OfferStatus is the state of a market offer.
type OfferStatus uint8

const (
	OfferOpen      OfferStatus = 1
	OfferFilled    OfferStatus = 2
	OfferCancelled OfferStatus = 3
	OfferExpired   OfferStatus = 4
)

func (s OfferStatus) String() string {
	switch s {
	case OfferOpen:
		return "open"
	case OfferFilled:
		return "filled"
	case OfferCancelled:
		return "cancelled"
	case OfferExpired:
		return "expired"
	}
	return fmt.Sprintf("offer-status(%d)", uint8(s))
}

func (s OfferStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Offer is a sale of Volume litres of Period's allowance at Price smallest
// drop units per litre. Remaining litres are held in escrow from the
// seller's allowance while the offer is open. ID is the hash of the
// offering transaction.
type Offer struct {
	ID           chain.Hash    `cbor:"1,keyasint" json:"id"`
	Seller       chain.Address `cbor:"2,keyasint" json:"seller"`
	Period       int64         `cbor:"3,keyasint,omitempty" json:"period"`
	Price        uint64        `cbor:"4,keyasint" json:"price"`
	Volume       uint64        `cbor:"5,keyasint" json:"volume"`
	Remaining    uint64        `cbor:"6,keyasint,omitempty" json:"remaining"`
	Status       OfferStatus   `cbor:"7,keyasint" json:"status"`
	Height       uint64        `cbor:"8,keyasint" json:"height"`
	ClosedHeight uint64        `cbor:"9,keyasint,omitempty" json:"closed_height,omitempty"`
}

func (o *Offer) check() error {
	switch {
	case o.Status < OfferOpen || o.Status > OfferExpired:
		return fmt.Errorf("offer %s: unknown status %d", o.ID.Short(), o.Status)
	case o.Remaining > o.Volume:
		return fmt.Errorf("offer %s: remaining %d above volume %d", o.ID.Short(), o.Remaining, o.Volume)
	case o.Period < 0:
		return fmt.Errorf("offer %s: negative period", o.ID.Short())
	}
	return nil
}

// ValidatorSetRecord is the validator set in force from tx height From on
// (until the next record). Change and ApprovedHeight say what produced it
// (absent for genesis).
type ValidatorSetRecord struct {
	From           uint64                  `cbor:"1,keyasint,omitempty" json:"from"`
	Keys           []chain.PubKey          `cbor:"2,keyasint" json:"keys"`
	ApprovedHeight uint64                  `cbor:"3,keyasint,omitempty" json:"approved_height,omitempty"`
	Changes        []chain.ValidatorChange `cbor:"4,keyasint,omitempty" json:"changes,omitempty"`
}

func (v *ValidatorSetRecord) check() error {
	_, err := chain.NewValidatorSet(v.Keys)
	return err
}

// ValidatorVotes are the votes cast so far for one validator-set change.
// Voters are sorted.
type ValidatorVotes struct {
	Change chain.ValidatorChange `cbor:"1,keyasint" json:"change"`
	Voters []chain.PubKey        `cbor:"2,keyasint" json:"voters"`
}

func (v *ValidatorVotes) check() error {
	if len(v.Voters) > chain.MaxValidators*4 {
		return fmt.Errorf("%d voters", len(v.Voters))
	}
	return nil
}

// EvidenceRecord is equivocation evidence accepted on the tx chain.
type EvidenceRecord struct {
	ID       chain.Hash     `cbor:"1,keyasint" json:"id"`
	Offender chain.PubKey   `cbor:"2,keyasint" json:"offender"`
	Lane     chain.Lane     `cbor:"3,keyasint" json:"lane"`
	Height   uint64         `cbor:"4,keyasint" json:"height"`
	Reporter chain.Address  `cbor:"5,keyasint" json:"reporter"`
	TxHeight uint64         `cbor:"6,keyasint" json:"tx_height"`
	Evidence chain.Evidence `cbor:"7,keyasint" json:"evidence"`
}

// MeasureCompliance is the share of a period's readings within the
// discharge limit of one quality measure.
type MeasureCompliance struct {
	Measure  string `cbor:"1,keyasint" json:"measure"`
	Limit    int64  `cbor:"2,keyasint" json:"limit"`
	Within   uint64 `cbor:"3,keyasint,omitempty" json:"within"`
	Readings uint64 `cbor:"4,keyasint,omitempty" json:"readings"`
	Permille uint32 `cbor:"5,keyasint,omitempty" json:"permille"`
}

// MeterFigures are one meter's figures in a settled period: its active
// time in the period (From to To; registration or period start to
// revocation or period end), the readings expected in it (⌊(To − From) /
// ReadingInterval⌋), the readings of the period recorded up to the
// settlement's data height, those counted as delivered (at most expected)
// and the volume they report.
type MeterFigures struct {
	Device    chain.PubKey `cbor:"1,keyasint" json:"device"`
	From      chain.Time   `cbor:"2,keyasint,omitempty" json:"from"`
	To        chain.Time   `cbor:"3,keyasint,omitempty" json:"to"`
	Expected  uint64       `cbor:"4,keyasint,omitempty" json:"expected"`
	Readings  uint64       `cbor:"5,keyasint,omitempty" json:"readings"`
	Delivered uint64       `cbor:"6,keyasint,omitempty" json:"delivered"`
	UsedML    uint64       `cbor:"7,keyasint,omitempty" json:"used_ml"`
}

// Settlement is the record of one industry's settled period: every input
// of the reward formula (doc.go), what was minted and why, so that it can
// be recomputed from the record and the chain's reward rules alone.
// Volumes of allowance are in litres, used volume in millilitres, amounts
// in smallest drop units, shares in permille.
//
// ClosedHeight is the tx block that closed the period (its allowance
// figures are as of that block); Height is the tx block that settled it,
// counting readings of data blocks up to DataHeight, timed DataTime (at
// least ReadingWindow after the period's end). Meters has one entry per
// meter of the industry active in the period or with readings in it;
// Devices, Readings, Expected, Delivered and UsedML are their sums.
// Compliance has one entry per measure the permit of the period limits.
type Settlement struct {
	Period               int64               `cbor:"1,keyasint,omitempty" json:"period"`
	Label                string              `cbor:"2,keyasint" json:"label"`
	Industry             chain.Address       `cbor:"3,keyasint" json:"industry"`
	Name                 string              `cbor:"4,keyasint" json:"name"`
	Height               uint64              `cbor:"5,keyasint" json:"height"`
	DataHeight           uint64              `cbor:"6,keyasint,omitempty" json:"data_height"`
	Allowance            uint64              `cbor:"7,keyasint,omitempty" json:"allowance"`
	Bought               uint64              `cbor:"8,keyasint,omitempty" json:"bought"`
	Sold                 uint64              `cbor:"9,keyasint,omitempty" json:"sold"`
	AllowanceAfterTrades uint64              `cbor:"10,keyasint,omitempty" json:"allowance_after_trades"`
	UsedML               uint64              `cbor:"11,keyasint,omitempty" json:"used_ml"`
	SavedLitres          uint64              `cbor:"12,keyasint,omitempty" json:"saved_litres"`
	OverLitres           uint64              `cbor:"13,keyasint,omitempty" json:"over_litres"`
	Devices              uint64              `cbor:"14,keyasint,omitempty" json:"devices"`
	Readings             uint64              `cbor:"15,keyasint,omitempty" json:"readings"`
	Expected             uint64              `cbor:"16,keyasint,omitempty" json:"expected"`
	Delivered            uint64              `cbor:"17,keyasint,omitempty" json:"delivered"`
	DeliveryPermille     uint32              `cbor:"18,keyasint,omitempty" json:"delivery_permille"`
	Compliance           []MeasureCompliance `cbor:"19,keyasint,omitempty" json:"compliance"`
	CompliancePermille   uint32              `cbor:"20,keyasint,omitempty" json:"compliance_permille"`
	Gross                uint64              `cbor:"21,keyasint,omitempty" json:"gross"`
	Reward               uint64              `cbor:"22,keyasint,omitempty" json:"reward"`
	Overused             bool                `cbor:"23,keyasint,omitempty" json:"overused"`
	LimitsBroken         bool                `cbor:"24,keyasint,omitempty" json:"limits_broken"`
	UnderDelivered       bool                `cbor:"25,keyasint,omitempty" json:"under_delivered"`
	Reasons              []string            `cbor:"26,keyasint,omitempty" json:"reasons"`
	ClosedHeight         uint64              `cbor:"27,keyasint,omitempty" json:"closed_height"`
	DataTime             chain.Time          `cbor:"28,keyasint,omitempty" json:"data_time"`
	Meters               []MeterFigures      `cbor:"29,keyasint,omitempty" json:"meters"`
	SavedCapLitres       uint64              `cbor:"30,keyasint,omitempty" json:"saved_cap_litres"`
}

func (s *Settlement) check() error {
	if s.DeliveryPermille > 1000 || s.CompliancePermille > 1000 {
		return fmt.Errorf("settlement %s: share above 1000‰", s.Label)
	}
	if s.Reward > s.Gross {
		return fmt.Errorf("settlement %s: reward %d above gross %d", s.Label, s.Reward, s.Gross)
	}
	for _, m := range s.Meters {
		if m.Delivered > m.Expected || m.Delivered > m.Readings {
			return fmt.Errorf("settlement %s: meter %s delivered %d of %d readings, %d expected", s.Label, m.Device.Short(), m.Delivered, m.Readings, m.Expected)
		}
	}
	return nil
}

// TxMeta is the tx lane's bookkeeping: the height and time of the last
// executed tx block, the open settlement period, how many periods before
// it are closed but not settled yet (their last Unsettled; all earlier ones
// are settled), the data height the last block anchored, and the drop
// supply.
type TxMeta struct {
	Height        uint64     `cbor:"1,keyasint,omitempty" json:"height"`
	Time          chain.Time `cbor:"2,keyasint" json:"time"`
	Period        int64      `cbor:"3,keyasint,omitempty" json:"period"`
	Anchor        uint64     `cbor:"4,keyasint,omitempty" json:"anchor"`
	GenesisSupply uint64     `cbor:"5,keyasint,omitempty" json:"genesis_supply"`
	Minted        uint64     `cbor:"6,keyasint,omitempty" json:"minted"`
	Unsettled     int64      `cbor:"7,keyasint,omitempty" json:"unsettled"`
}

// FirstUnsettled is the first period not settled yet.
func (m *TxMeta) FirstUnsettled() int64 { return m.Period - m.Unsettled }

func (m *TxMeta) check() error {
	if m.Period < 0 {
		return fmt.Errorf("tx meta: negative period %d", m.Period)
	}
	if m.Unsettled < 0 || m.Unsettled > m.Period {
		return fmt.Errorf("tx meta: %d unsettled periods before open period %d", m.Unsettled, m.Period)
	}
	if _, err := add(m.GenesisSupply, m.Minted, "supply"); err != nil {
		return err
	}
	return nil
}

// genesisRecord keeps what the state machine needs of genesis, so that the
// data lane and queries can read it from state.
type genesisRecord struct {
	ChainID     string       `cbor:"1,keyasint"`
	GenesisTime chain.Time   `cbor:"2,keyasint"`
	Params      chain.Params `cbor:"3,keyasint"`
}

func (g *genesisRecord) check() error {
	if g.GenesisTime <= 0 || g.Params.ReadingInterval <= 0 || g.Params.ReadingWindow <= 0 {
		return fmt.Errorf("genesis record: time %d, reading interval %d, window %d must be positive", g.GenesisTime, g.Params.ReadingInterval, g.Params.ReadingWindow)
	}
	_, err := g.Params.PeriodLength()
	return err
}

// DataMeta is the data lane's bookkeeping: height, time and anchor of the
// last executed data block and the number of readings recorded.
type DataMeta struct {
	Height   uint64     `cbor:"1,keyasint,omitempty" json:"height"`
	Time     chain.Time `cbor:"2,keyasint,omitempty" json:"time"`
	Anchor   uint64     `cbor:"3,keyasint,omitempty" json:"anchor"`
	Readings uint64     `cbor:"4,keyasint,omitempty" json:"readings"`
}

func (m *DataMeta) check() error { return nil }

// DeviceData is the data lane's view of one device: the last recorded
// sequence number and time, the readings recorded and the sequence numbers
// skipped (missing readings). Gaps are the most recent runs of skipped
// sequence numbers (at most MaxOpenGaps, oldest first): a reading that
// arrives late, after its successor was recorded, may still fill one
// (within the reading window), instead of being refused as a replay.
type DeviceData struct {
	LastSeq    uint64     `cbor:"1,keyasint,omitempty" json:"last_seq"`
	LastTime   chain.Time `cbor:"2,keyasint,omitempty" json:"last_time"`
	Readings   uint64     `cbor:"3,keyasint,omitempty" json:"readings"`
	Missing    uint64     `cbor:"4,keyasint,omitempty" json:"missing"`
	LastHeight uint64     `cbor:"5,keyasint,omitempty" json:"last_height"`
	Gaps       []SeqRange `cbor:"6,keyasint,omitempty" json:"gaps,omitempty"`
}

// SeqRange is the sequence numbers From to To, both included.
type SeqRange struct {
	From uint64 `cbor:"1,keyasint" json:"from"`
	To   uint64 `cbor:"2,keyasint" json:"to"`
}

// MaxOpenGaps bounds the gaps a device's record keeps open for late
// readings; older gaps stay counted as missing for good.
const MaxOpenGaps = 16

// inGap reports whether seq is in one of d's open gaps.
func (d *DeviceData) inGap(seq uint64) bool {
	for _, g := range d.Gaps {
		if g.From <= seq && seq <= g.To {
			return true
		}
	}
	return false
}

// CanRecord reports whether a reading with sequence number seq may still
// be recorded: above the last one, or late into an open gap.
func (d *DeviceData) CanRecord(seq uint64) bool { return seq > d.LastSeq || d.inGap(seq) }

// openGap records from..to as skipped and keeps it open for late readings.
func (d *DeviceData) openGap(from, to uint64) {
	d.Missing += to - from + 1 // Readings+Missing = LastSeq, so no overflow
	d.setGaps(append(slices.Clone(d.Gaps), SeqRange{From: from, To: to}))
}

// fill records late reading seq, which must be in an open gap: the gap
// loses seq (and splits in two when seq is inside it).
func (d *DeviceData) fill(seq uint64) {
	i := slices.IndexFunc(d.Gaps, func(g SeqRange) bool { return g.From <= seq && seq <= g.To })
	if i < 0 {
		return
	}
	g := d.Gaps[i]
	var rest []SeqRange
	if g.From < seq {
		rest = append(rest, SeqRange{g.From, seq - 1})
	}
	if seq < g.To {
		rest = append(rest, SeqRange{seq + 1, g.To})
	}
	d.setGaps(slices.Replace(slices.Clone(d.Gaps), i, i+1, rest...))
	d.Missing--
	d.Readings++
}

// setGaps keeps the newest MaxOpenGaps of gaps open (nil when none: the
// canonical form of an empty list).
func (d *DeviceData) setGaps(gaps []SeqRange) {
	gaps = gaps[max(0, len(gaps)-MaxOpenGaps):]
	if len(gaps) == 0 {
		gaps = nil
	}
	d.Gaps = gaps
}

func (d *DeviceData) check() error {
	// Every sequence number up to LastSeq is either recorded or missing.
	if s, err := add(d.Readings, d.Missing, "readings"); err != nil || s != d.LastSeq {
		return fmt.Errorf("device data: %d readings + %d missing ≠ last seq %d", d.Readings, d.Missing, d.LastSeq)
	}
	// Open gaps are missing numbers below LastSeq, in order, apart.
	if len(d.Gaps) > MaxOpenGaps {
		return fmt.Errorf("device data: %d open gaps, at most %d", len(d.Gaps), MaxOpenGaps)
	}
	var open, prev uint64
	for _, g := range d.Gaps {
		if g.From > g.To || g.From <= prev || g.To >= d.LastSeq {
			return fmt.Errorf("device data: open gap %d–%d out of order or not below last seq %d", g.From, g.To, d.LastSeq)
		}
		open += g.To - g.From + 1
		prev = g.To + 1 // adjacent gaps would be one
	}
	if open > d.Missing {
		return fmt.Errorf("device data: open gaps hold %d numbers, only %d are missing", open, d.Missing)
	}
	return nil
}

// record is what every stored type implements.
type record interface {
	check() error
}

func (a *Account) check() error   { return nil }
func (r *Regulator) check() error { return nil }
func (e *EvidenceRecord) check() error {
	if e.ID != e.Evidence.ID() {
		return fmt.Errorf("evidence record: id %s does not match its evidence %s", e.ID.Short(), e.Evidence.ID().Short())
	}
	return nil
}

// decodeRecord decodes b into rec and checks it.
func decodeRecord(b []byte, rec record) error {
	if d, ok := rec.(*DeviceData); ok && decodeDeviceDataFast(b, d) {
		if err := rec.check(); err != nil {
			return fmt.Errorf("%w: %v", ErrCorruptState, err)
		}
		return nil
	}
	if err := chain.Decode(b, rec); err != nil {
		return fmt.Errorf("%w: %T: %v", ErrCorruptState, rec, err)
	}
	if err := rec.check(); err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptState, err)
	}
	return nil
}

// versionAt returns the last record under prefix whose key ends in a
// big-endian height at most height, or nil when there is none: the version
// in force at height of a record kept in every version (validator sets,
// permits).
func versionAt[T any, P interface {
	*T
	record
}](r Reader, prefix []byte, height uint64) (P, error) {
	var best P
	err := r.Iterate(prefix, func(key, value []byte) error {
		if len(key) != len(prefix)+8 {
			return fmt.Errorf("%w: versioned record key %q", ErrCorruptState, key)
		}
		if binary.BigEndian.Uint64(key[len(prefix):]) > height {
			return errStop
		}
		rec := P(new(T))
		if err := decodeRecord(value, rec); err != nil {
			return err
		}
		best = rec
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return best, nil
}

// recordsUnder decodes every record under prefix, in key order.
func recordsUnder[T any, P interface {
	*T
	record
}](r Reader, prefix []byte) ([]T, error) {
	var out []T
	err := r.Iterate(prefix, func(_, value []byte) error {
		var rec T
		if err := decodeRecord(value, P(&rec)); err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	return out, err
}

// getRecord loads key into rec; it reports false when the key is absent.
func getRecord(r Reader, key []byte, rec record) (bool, error) {
	if d, ok := r.(decodedReader); ok {
		if found, handled, err := d.getDecoded(key, rec); handled {
			return found, err
		}
	}
	b, err := r.Get(key)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := decodeRecord(b, rec); err != nil {
		return false, fmt.Errorf("key %q: %w", key, err)
	}
	return true, nil
}

func putRecord(o *overlay, key []byte, rec record) {
	o.set(key, chain.MustEncode(rec))
}
