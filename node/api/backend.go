package api

import (
	"context"
	"strconv"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/events"
	"github.com/waterchain/waterchain/node/report"
)

// The server sees the node through these interfaces, one method per
// question, declared here beside the handlers that call them. Handlers
// parse and check every parameter before they ask, so a method gets only
// well-formed values. Methods are called from many goroutines at once.
// Errors that are not *HTTPError are answered 500; NotFound and BadRequest
// make the others.

// Chain answers questions about the two chains and the node.
type Chain interface {
	Status(ctx context.Context) (Status, error)
	// Block returns a finalized block with its certificate; height 0 means
	// the latest.
	Block(lane chain.Lane, height uint64) (*chain.Block, error)
	// EncodedBlock returns the same block as Block in its canonical CBOR
	// encoding (chain.Encode), the bytes its hash and signatures cover.
	EncodedBlock(lane chain.Lane, height uint64) ([]byte, error)
	TxStatus(h chain.Hash) (TxStatus, error)
	// Readings returns finalized readings of one device.
	Readings(q ReadingQuery) ([]Reading, error)
	// ReadingStatus says whether the reading with hash h is waiting on this
	// node or final, from indexes (never by reading blocks); 404 when
	// neither.
	ReadingStatus(h chain.Hash) (ReadingStatus, error)
	Account(a chain.Address) (Account, error)
	Device(k chain.PubKey) (Device, error)
	Validators() ([]state.ValidatorSetRecord, error)
	// Evidence returns a page of the recorded equivocation evidence,
	// newest first, from an index (its cost does not grow with the chain).
	Evidence(q PageQuery) ([]Evidence, error)
}

// Door takes new readings and transactions.
type Door interface {
	// DecodeReadings turns a request body into readings (native JSON or
	// SenML, by content type). The readings must not alias body: its
	// buffer is reused once the request is answered.
	DecodeReadings(contentType string, body []byte) ([]*chain.Reading, error)
	// SubmitReadingsHashed checks each reading at the door and queues the
	// good ones; one error (nil for accepted) per reading, and each
	// reading's hash (zero where it was rejected before being hashed).
	SubmitReadingsHashed(rs []*chain.Reading) ([]chain.Hash, []error)
	// ReadingsRoom returns nil while the door may admit readings, and
	// otherwise the refusal (429 with RetryAfter) a POST /v1/readings is
	// answered with before its body is read or decoded.
	ReadingsRoom() error
	SubmitTx(tx *chain.Tx) error
}

// Registry answers about industries.
type Registry interface {
	Industries() ([]state.IndustryInfo, error)
	Industry(a chain.Address) (Industry, error)
}

// Market answers about the allowance market and settlement. Period
// numbers count from 0 in the chain's calendar (Periods).
type Market interface {
	// Offers returns the open offers, cheapest first, reading only the
	// offers made since the first unsettled period.
	Offers() ([]state.Offer, error)
	// Trades returns a page of accepted offers, newest first, from an
	// index: every trade since genesis is reachable by following the
	// cursor, and a page costs the same however long the chain is.
	Trades(q PageQuery) ([]Trade, error)
	// Periods is the chain's settlement calendar, to read period labels.
	Periods() (chain.Period, error)
	// LastSettledPeriod is the latest settled period; false before the
	// first settlement.
	LastSettledPeriod() (period int64, ok bool, err error)
	Settlements(period int64) ([]state.Settlement, error)
	Leaderboard(period int64) ([]state.LeaderboardEntry, error)
}

// Alerts answers about the alerts this node raised.
type Alerts interface {
	// Alerts returns a page of the alerts q selects, newest first, and
	// the cursor of the next page (nil when there is none); 404 when
	// alerts are disabled. Without a cursor the page comes from the
	// alerts the node holds in memory (the newest, local ones too); with
	// one, from the chain alerts recorded per data block, however old.
	Alerts(q AlertQuery) ([]alerts.Alert, *AlertCursor, error)
}

// AlertQuery selects a page of alerts: the filter (its Limit is the
// page's), and where the page starts.
type AlertQuery struct {
	Filter alerts.Filter
	Before *AlertCursor // nil: the newest
}

// AlertCursor is a place among the chain alerts, newest first: the page
// starts below data block Height, or, with an ID, right after that alert
// of block Height (before=<height>:<alert id>, as the Link header of the
// previous page gives it).
type AlertCursor struct {
	Height uint64
	ID     chain.Hash // zero: before the whole block
}

// String is the cursor as the before parameter spells it.
func (c AlertCursor) String() string {
	if c.ID.IsZero() {
		return strconv.FormatUint(c.Height, 10)
	}
	return strconv.FormatUint(c.Height, 10) + ":" + c.ID.String()
}

// Images holds the camera images readings name.
type Images interface {
	// PutImage stores the camera image whose SHA-256 is hash, once a
	// reading waiting or final names it and the file passes the decoder's
	// checks; uploading a held image again succeeds. Refusals are
	// *HTTPError (413, 415, 422) naming the reason; nothing is stored.
	PutImage(hash chain.Hash, body []byte) error
	// Image returns the file as uploaded.
	Image(hash chain.Hash) (File, error)
	// ImageAnalysis returns the stored analysis of an image.
	ImageAnalysis(hash chain.Hash) (ImageReport, error)
	// ImageOverlay returns a PNG of the image with the objects found
	// outlined.
	ImageOverlay(hash chain.Hash) (File, error)
}

// Reports answers for compliance: period reports and, on an auditor, what
// it has verified.
type Reports interface {
	// Report is the compliance report of a period that has started; 404
	// for a later one.
	Report(period int64) (*report.Report, error)
	// AuditStatus is an auditor's verified heights; 404 on other roles.
	AuditStatus() (AuditStatus, error)
}

// Proofs builds proofs a client can check without trusting the node.
type Proofs interface {
	// ReadingProof is the proof bundle of one finalized reading.
	ReadingProof(device chain.PubKey, seq uint64) (*chain.ReadingProof, error)
}

// EventSource streams what happens on the node.
type EventSource interface {
	Events() *events.Hub
}

// Backend is everything the server needs from a node.
type Backend interface {
	Chain
	Door
	Registry
	Market
	Alerts
	Images
	Reports
	Proofs
	EventSource
}

// TxCursor is a place on the tx chain, height and index of a transaction
// in its block: a list newest first continues strictly before it (the
// before parameter, "height:index", taken from the last item of the
// previous page). The zero cursor starts at the newest.
type TxCursor struct {
	Height uint64
	Index  uint32
}

// PageQuery selects a page of a list kept on the tx chain, newest first.
type PageQuery struct {
	Before TxCursor
	Limit  int // 1 to MaxPage
}

// ReadingQuery selects finalized readings of one device.
type ReadingQuery struct {
	Device chain.PubKey
	Seq    uint64 // one reading when set
	From   chain.Time
	To     chain.Time // exclusive; 0: no bound
	Limit  int
}
