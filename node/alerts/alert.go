package alerts

import (
	"github.com/waterchain/waterchain/chain"
)

// Kind names an alert rule.
type Kind string

// The alert kinds. All but KindBadSignature derive from finalized readings.
const (
	KindLeak             Kind = "leak"
	KindMissedReadings   Kind = "missed_readings"
	KindFlatLine         Kind = "flat_line"
	KindGrossRange       Kind = "gross_range"
	KindNegativeFlow     Kind = "negative_flow"
	KindSpike            Kind = "spike"
	KindCounterBackwards Kind = "counter_backwards"
	KindClockSkew        Kind = "clock_skew"
	KindLimitExceeded    Kind = "limit_exceeded"
	KindBadSignature     Kind = "bad_signature"
	// KindFloatingSolids and KindImageClass come from the analysis of a
	// reading's camera image (node/imaging); the node raises them, Local,
	// once it holds the image.
	KindFloatingSolids Kind = "floating_solids"
	KindImageClass     Kind = "image_class_changed"
)

// Kinds lists every kind, in the order the rules run.
var Kinds = []Kind{
	KindNegativeFlow, KindGrossRange, KindLimitExceeded, KindClockSkew, KindCounterBackwards,
	KindMissedReadings, KindFlatLine, KindSpike, KindLeak, KindBadSignature,
	KindFloatingSolids, KindImageClass,
}

// Severity ranks alerts.
type Severity string

const (
	// SeverityInfo: worth a look, such as a single spike.
	SeverityInfo Severity = "info"
	// SeverityWarning: a fault of the meter or the plant that needs action.
	SeverityWarning Severity = "warning"
	// SeverityCritical: a permit breach or signs of tampering.
	SeverityCritical Severity = "critical"
)

// severities is the severity of each kind.
var severities = map[Kind]Severity{
	KindLeak:             SeverityWarning,
	KindMissedReadings:   SeverityWarning,
	KindFlatLine:         SeverityWarning,
	KindGrossRange:       SeverityWarning,
	KindNegativeFlow:     SeverityWarning,
	KindSpike:            SeverityInfo,
	KindCounterBackwards: SeverityCritical,
	KindClockSkew:        SeverityWarning,
	KindLimitExceeded:    SeverityCritical,
	KindBadSignature:     SeverityCritical,
	KindFloatingSolids:   SeverityWarning,
	KindImageClass:       SeverityWarning,
}

// ReadingRef names a reading on the data chain.
type ReadingRef struct {
	Device chain.PubKey `cbor:"1,keyasint" json:"device"`
	Seq    uint64       `cbor:"2,keyasint" json:"seq"`
}

// Alert is one finding. Chain-derived alerts are the same on every node and
// auditor (same ID, same fields); Local ones (bad signatures at the door)
// are what this node saw.
type Alert struct {
	// ID is SHA-256 of the canonical encoding of the identifying fields
	// (kind, device, measure, time, height, readings, local).
	ID           chain.Hash    `json:"id"`
	Device       chain.PubKey  `json:"device"`
	Industry     chain.Address `json:"industry"`
	IndustryName string        `json:"industry_name,omitempty"`
	Kind         Kind          `json:"kind"`
	Severity     Severity      `json:"severity"`
	// Measure names the measure(s) concerned, comma-separated, if any.
	Measure string `json:"measure,omitempty"`
	// Time is the time of the reading that raised the alert (for a door
	// reject: when the node saw it).
	Time chain.Time `json:"time"`
	// Height is the data block of the reading that raised the alert (0 for
	// local alerts).
	Height uint64 `json:"height,omitempty"`
	// Value and Threshold are what the rule compared, on the chain's scale
	// of Measure (or in milliseconds, or a count; the message says).
	Value     int64        `json:"value"`
	Threshold int64        `json:"threshold"`
	Message   string       `json:"message"`
	Readings  []ReadingRef `json:"readings"`
	Local     bool         `json:"local,omitempty"`
}

// idFields are the fields an alert's ID hashes.
type idFields struct {
	Kind     Kind         `cbor:"1,keyasint"`
	Device   chain.PubKey `cbor:"2,keyasint"`
	Measure  string       `cbor:"3,keyasint"`
	Time     chain.Time   `cbor:"4,keyasint"`
	Height   uint64       `cbor:"5,keyasint"`
	Readings []ReadingRef `cbor:"6,keyasint"`
	Local    bool         `cbor:"7,keyasint"`
}

func (a *Alert) computeID() {
	a.ID = chain.HashBytes(chain.MustEncode(&idFields{a.Kind, a.Device, a.Measure, a.Time, a.Height, a.Readings, a.Local}))
}

// Finish sets a's Severity from its Kind and computes its ID, for alerts
// raised outside the Engine (the node's image alerts). Set every
// identifying field first.
func (a *Alert) Finish() {
	a.Severity = severities[a.Kind]
	a.computeID()
}
