package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/events"
	"github.com/waterchain/waterchain/node/report"
)

// fake is a Backend with canned answers. fail, keyed by method name,
// makes a method return that error; calls records each call with its
// arguments, so tests see what the handlers parsed.
type fake struct {
	hub *events.Hub

	mu    sync.Mutex // guards fail and calls
	fail  map[string]error
	calls []string
}

var _ Backend = (*fake)(nil)

func newFake() *fake { return &fake{hub: events.NewHub(), fail: map[string]error{}} }

var (
	genesisTime = chain.TimeOf(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	heldImage   = chain.Hash{0xaa}
	knownHash   = chain.Hash{0xbb}
	pendingHash = chain.Hash{0xcc}
)

// call records a call and returns the error set for it.
func (f *fake) call(name string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, callString(append([]any{name}, args...)...))
	return f.fail[name]
}

// callString formats a call as fake records it: its values, spaced.
func callString(args ...any) string { return strings.TrimSuffix(fmt.Sprintln(args...), "\n") }

func (f *fake) failWith(name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[name] = err
}

func (f *fake) lastCall() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fake) Status(context.Context) (Status, error) {
	return Status{ChainID: "fake", Role: "validator", Lanes: map[string]LaneStatus{"data": {Height: 3}}}, f.call("Status")
}

func (f *fake) Block(lane chain.Lane, height uint64) (*chain.Block, error) {
	if err := f.call("Block", lane, height); err != nil {
		return nil, err
	}
	return fakeBlock(lane, height)
}

func (f *fake) EncodedBlock(lane chain.Lane, height uint64) ([]byte, error) {
	if err := f.call("EncodedBlock", lane, height); err != nil {
		return nil, err
	}
	b, err := fakeBlock(lane, height)
	if err != nil {
		return nil, err
	}
	return chain.Encode(b)
}

// fakeBlock is the fake chain's block of lane at height (0: the latest,
// 3).
func fakeBlock(lane chain.Lane, height uint64) (*chain.Block, error) {
	if height > 3 {
		return nil, NotFound("no final %s block at height %d", lane, height)
	}
	if height == 0 {
		height = 3
	}
	return &chain.Block{Header: chain.Header{Lane: lane, Height: height}}, nil
}

func (f *fake) DecodeReadings(contentType string, body []byte) ([]*chain.Reading, error) {
	if err := f.call("DecodeReadings", contentType); err != nil {
		return nil, err
	}
	var rs []*chain.Reading
	if err := json.Unmarshal(body, &rs); err != nil {
		return nil, fmt.Errorf("readings JSON: %w", err)
	}
	return rs, nil
}

// SubmitReadingsHashed refuses readings by seq: 409 → duplicate, 429 →
// mempool full, 503 → syncing.
func (f *fake) SubmitReadingsHashed(rs []*chain.Reading) ([]chain.Hash, []error) {
	f.call("SubmitReadingsHashed", len(rs))
	hashes, errs := make([]chain.Hash, len(rs)), make([]error, len(rs))
	for i, r := range rs {
		switch r.Seq {
		case http.StatusConflict:
			errs[i] = Errorf(http.StatusConflict, CodeDuplicate, "reading %d is already known", r.Seq)
		case http.StatusTooManyRequests:
			errs[i] = &HTTPError{Status: http.StatusTooManyRequests, Code: CodeMempoolFull, Err: errors.New("mempool full"), RetryAfter: 2 * time.Second}
		case http.StatusServiceUnavailable:
			errs[i] = Errorf(http.StatusServiceUnavailable, CodeUnavailable, "syncing")
		default:
			hashes[i] = r.Hash()
		}
	}
	return hashes, errs
}

// ReadingsRoom returns the error set for it, without recording a call, so
// that the readings cases see the calls that follow it.
func (f *fake) ReadingsRoom() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail["ReadingsRoom"]
}

func (f *fake) SubmitTx(tx *chain.Tx) error { return f.call("SubmitTx", tx.Nonce) }

func (f *fake) TxStatus(h chain.Hash) (TxStatus, error) {
	if err := f.call("TxStatus", h.Short()); err != nil {
		return TxStatus{}, err
	}
	if h != knownHash {
		return TxStatus{}, NotFound("transaction %s is neither final nor waiting", h)
	}
	return TxStatus{Hash: h, Status: "final", Height: 2}, nil
}

func (f *fake) Readings(q ReadingQuery) ([]Reading, error) {
	if err := f.call("Readings", q.Device.Short(), q.Seq, q.From, q.To, q.Limit); err != nil {
		return nil, err
	}
	if q.Seq > 100 {
		return nil, NotFound("no final reading with seq %d", q.Seq)
	}
	if q.Seq == 0 && q.From == 0 {
		return nil, nil // as a store with none answers
	}
	return []Reading{{Reading: chain.Reading{Device: q.Device, Seq: 1}, Height: 1}}, nil
}

func (f *fake) ReadingStatus(h chain.Hash) (ReadingStatus, error) {
	if err := f.call("ReadingStatus", h.Short()); err != nil {
		return ReadingStatus{}, err
	}
	switch h {
	case knownHash:
		idx := uint32(0)
		return ReadingStatus{Hash: h, Status: "final", Height: 7, Index: &idx, Reading: &chain.Reading{Seq: 1}}, nil
	case pendingHash:
		return ReadingStatus{Hash: h, Status: "pending"}, nil
	}
	return ReadingStatus{}, NotFound("reading %s is neither final nor waiting", h)
}

func (f *fake) Account(a chain.Address) (Account, error) {
	return Account{Address: a, Balance: 5}, f.call("Account", a)
}

func (f *fake) Device(k chain.PubKey) (Device, error) {
	if err := f.call("Device", k.Short()); err != nil {
		return Device{}, err
	}
	return Device{Key: k, Status: "active"}, nil
}

func (f *fake) Validators() ([]state.ValidatorSetRecord, error) {
	return []state.ValidatorSetRecord{{From: 1}}, f.call("Validators")
}

func (f *fake) Evidence(q PageQuery) ([]Evidence, error) {
	return nil, f.call("Evidence", q.Before.Height, q.Before.Index, q.Limit)
}

func (f *fake) Industries() ([]state.IndustryInfo, error) { return nil, f.call("Industries") }

func (f *fake) Industry(a chain.Address) (Industry, error) {
	if err := f.call("Industry", a); err != nil {
		return Industry{}, err
	}
	return Industry{IndustryInfo: &state.IndustryInfo{PeriodLabel: "2026-11"}, Devices: []state.Device{}, PermitHistory: []state.PermitRecord{}}, nil
}

func (f *fake) Offers() ([]state.Offer, error) { return nil, f.call("Offers") }

func (f *fake) Trades(q PageQuery) ([]Trade, error) {
	return []Trade{{Volume: 10, Price: 2, Amount: 20}}, f.call("Trades", q.Before.Height, q.Before.Index, q.Limit)
}

func (f *fake) Periods() (chain.Period, error) {
	return chain.Period{Genesis: genesisTime}, f.call("Periods")
}

func (f *fake) LastSettledPeriod() (int64, bool, error) {
	err := f.call("LastSettledPeriod")
	return 2, err == nil, nil
}

func (f *fake) Settlements(period int64) ([]state.Settlement, error) {
	return []state.Settlement{{Period: period}}, f.call("Settlements", period)
}

func (f *fake) Leaderboard(period int64) ([]state.LeaderboardEntry, error) {
	return nil, f.call("Leaderboard", period)
}

func (f *fake) Alerts(q AlertQuery) ([]alerts.Alert, *AlertCursor, error) {
	flt := q.Filter
	args := []any{"Alerts", flt.Device.Short(), flt.Industry, flt.Kind, flt.Since, flt.Limit}
	if q.Before != nil {
		args = append(args, "before", q.Before.String())
	}
	if err := f.call(args[0].(string), args[1:]...); err != nil {
		return nil, nil, err
	}
	var next *AlertCursor
	if flt.Limit == 1 { // a full page: the next one starts after its alert
		next = &AlertCursor{Height: 7, ID: chain.Hash{7}}
	}
	return []alerts.Alert{{Kind: alerts.KindLeak, Device: flt.Device}}, next, nil
}

func (f *fake) PutImage(h chain.Hash, body []byte) error {
	if err := f.call("PutImage", h.Short(), len(body)); err != nil {
		return err
	}
	if h != heldImage {
		return NotFound("no reading names image %s", h)
	}
	return nil
}

func (f *fake) Image(h chain.Hash) (File, error) {
	if err := f.call("Image", h.Short()); err != nil {
		return File{}, err
	}
	if h != heldImage {
		return File{}, NotFound("image %s is not held", h)
	}
	return File{ContentType: "image/png", Body: pngHeader}, nil
}

func (f *fake) ImageAnalysis(h chain.Hash) (ImageReport, error) {
	if err := f.call("ImageAnalysis", h.Short()); err != nil {
		return ImageReport{}, err
	}
	if h != heldImage {
		return ImageReport{}, NotFound("image %s is not held", h)
	}
	return ImageReport{Hash: h, Format: "png", Bytes: 8}, nil
}

func (f *fake) ImageOverlay(h chain.Hash) (File, error) {
	if err := f.call("ImageOverlay", h.Short()); err != nil {
		return File{}, err
	}
	if h != heldImage {
		return File{}, NotFound("image %s is not held", h)
	}
	return File{ContentType: "image/png", Body: pngHeader}, nil
}

func (f *fake) Report(period int64) (*report.Report, error) {
	if err := f.call("Report", period); err != nil {
		return nil, err
	}
	if period > 10 {
		return nil, NotFound("period %d has not started", period)
	}
	return &report.Report{Index: period, Rows: []report.Row{}}, nil
}

func (f *fake) AuditStatus() (AuditStatus, error) {
	return AuditStatus{Auditor: "a", OK: true}, f.call("AuditStatus")
}

func (f *fake) ReadingProof(device chain.PubKey, seq uint64) (*chain.ReadingProof, error) {
	if err := f.call("ReadingProof", device.Short(), seq); err != nil {
		return nil, err
	}
	if seq > 100 {
		return nil, NotFound("no final reading with seq %d", seq)
	}
	return &chain.ReadingProof{ChainID: "fake", Index: seq}, nil
}

func (f *fake) Events() *events.Hub { return f.hub }

// pngHeader is enough of a PNG for imaging.Sniff.
var pngHeader = []byte("\x89PNG\r\n\x1a\n")
