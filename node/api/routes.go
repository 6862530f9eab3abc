package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/report"
)

// route is one API route: how it is served and how it is documented. The
// route table (routes) is the one source of both the router and the
// OpenAPI document (OpenAPI).
type route struct {
	method, path string // path in chi syntax: /v1/blocks/{lane}/{height}
	summary      string
	params       []param
	// request documents the body: its content types and, for JSON, a
	// value of the Go type it decodes to.
	request *body
	// status is the success status; answer a value of the type answered
	// with it (nil for raw), raw its content types when not JSON.
	status int
	answer any
	raw    []string
	// errors are the error statuses the route answers besides
	// universalErrors.
	errors []int
	serve  func(w http.ResponseWriter, q *request)
}

// universalErrors are answered by any route: 400 for a query parameter
// the route does not take, 405 for another method, 500 for a failure of
// the node.
var universalErrors = []int{http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusInternalServerError}

type body struct {
	types  []string
	schema any // nil: binary
}

func (rt *route) param(name string) (param, bool) {
	for _, p := range rt.params {
		if p.name == name {
			return p, true
		}
	}
	return param{}, false
}

func (rt *route) queryNames() string {
	var names []string
	for _, p := range rt.params {
		if p.in == "query" {
			names = append(names, p.name)
		}
	}
	if len(names) == 0 {
		return "no query parameters"
	}
	return strings.Join(names, ", ")
}

// Parameters shared by several routes.
var (
	periodQuery = queryParam("period", "string", fmtPeriod, "Period label (2026-11, or 2026-11-29T10:00 for sub-month periods) or number; default the last settled period.")
	limitDesc   = "Most entries to return."
	pageParams  = []param{
		queryParam("limit", "integer", "", fmt.Sprintf("%s 1 to %d, default %d.", limitDesc, MaxPage, DefaultPage)),
		queryParam("before", "string", fmtTxCursor, "Continue strictly before this place on the tx chain, height:index, as the last entry of the previous page gives it; default the newest."),
	}
)

// Pages of the lists kept on the tx chain (trades, evidence): a page reads
// at most MaxPage index entries, whatever the length of the chain.
const (
	MaxPage     = 1000
	DefaultPage = 100
)

// routes is the API's route table.
func (s *server) routes() []route {
	const (
		get, post, put = http.MethodGet, http.MethodPost, http.MethodPut
		ok             = http.StatusOK
		c400, c404     = http.StatusBadRequest, http.StatusNotFound
	)
	imageHash := pathParam("hash", fmtHash, "SHA-256 of the image file (a reading's image_hash).")
	return []route{
		{method: get, path: "/v1/status", summary: "The node: chain, lanes, peers, validators, mempool.",
			status: ok, answer: Status{}, serve: s.status},
		{method: get, path: "/v1/openapi.json", summary: "This document.",
			status: ok, answer: map[string]any{}, serve: s.openapi},
		{method: get, path: "/v1/blocks/{lane}/{height}", summary: "A finalized block with its certificate (to a request that accepts application/cbor, its canonical CBOR encoding: the bytes its hash and signatures cover).",
			params: []param{
				pathParam("lane", "lane", "data or tx."),
				pathParam("height", "height", "Block height from 1, or latest."),
			},
			status: ok, answer: BlockView{}, errors: []int{c400, c404}, serve: s.block},
		{method: post, path: "/v1/readings", summary: "Submit signed readings (native JSON or SenML). 202 means queued, not final: follow GET /v1/readings/{hash} or the final events.",
			request: &body{types: []string{"application/json", "application/senml+json"}, schema: []chain.Reading{}},
			status:  http.StatusAccepted, answer: SubmitReadingsResult{},
			errors: []int{c400, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests, http.StatusServiceUnavailable},
			serve:  s.postReadings},
		{method: get, path: "/v1/readings", summary: "Finalized readings of one device, in time order, or one by seq.",
			params: []param{
				{name: "device", in: "query", typ: "string", format: fmtPubKey, required: true, desc: "Device key."},
				queryParam("seq", "integer", "", "One reading by sequence number."),
				queryParam("from", "string", fmtTime, "Readings at or after this time."),
				queryParam("to", "string", fmtTime, "Readings before this time."),
				queryParam("limit", "integer", "", limitDesc+" 1 to 10000, default 100."),
			},
			status: ok, answer: Readings{}, errors: []int{c400, c404}, serve: s.getReadings},
		{method: get, path: "/v1/readings/{hash}", summary: "Whether a reading is pending on this node or final, and where.",
			params: []param{pathParam("hash", fmtHash, "The reading's hash, as POST /v1/readings answered it.")},
			status: ok, answer: ReadingStatus{}, errors: []int{c400, c404}, serve: s.readingStatus},
		{method: post, path: "/v1/txs", summary: "Submit a signed transaction.",
			request: &body{types: []string{"application/json"}, schema: chain.Tx{}},
			status:  http.StatusAccepted, answer: SubmitTxResult{},
			errors: []int{c400, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests, http.StatusServiceUnavailable},
			serve:  s.postTx},
		{method: get, path: "/v1/txs/{hash}", summary: "A transaction's status: pending or final.",
			params: []param{pathParam("hash", fmtHash, "Transaction hash.")},
			status: ok, answer: TxStatus{}, errors: []int{c400, c404}, serve: s.getTx},
		{method: get, path: "/v1/accounts/{address}", summary: "An account's balance and nonce.",
			params: []param{pathParam("address", fmtAddress, "Account address.")},
			status: ok, answer: Account{}, errors: []int{c400}, serve: s.account},
		{method: get, path: "/v1/devices/{key}", summary: "A registered meter.",
			params: []param{pathParam("key", fmtPubKey, "Device key.")},
			status: ok, answer: Device{}, errors: []int{c400, c404}, serve: s.device},
		{method: get, path: "/v1/events", summary: "Server-sent events: block, alert and (asked for by kind or device) final.",
			params: []param{
				queryParam("kind", "string", "", "Comma-separated kinds to receive: block, alert, final. Default block and alert; with device, final and alert."),
				queryParam("device", "string", fmtPubKey, "Only events about this device: its readings' final events and its alerts."),
			},
			status: ok, raw: []string{"text/event-stream"}, errors: []int{c400}, serve: s.events},
		{method: put, path: "/v1/images/{hash}", summary: "Upload the camera image a reading names.",
			params:  []param{imageHash},
			request: &body{types: []string{"image/jpeg", "image/png"}},
			status:  http.StatusCreated, answer: ImageStored{},
			errors: []int{c400, c404, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity},
			serve:  s.putImage},
		{method: get, path: "/v1/images/{hash}", summary: "An image file as uploaded.",
			params: []param{imageHash},
			status: ok, raw: []string{"image/jpeg", "image/png"}, errors: []int{c400, c404}, serve: s.image},
		{method: get, path: "/v1/images/{hash}/analysis", summary: "An image's analysis and the reading it belongs to.",
			params: []param{imageHash},
			status: ok, answer: ImageReport{}, errors: []int{c400, c404}, serve: s.imageAnalysis},
		{method: get, path: "/v1/images/{hash}/overlay", summary: "A PNG of the image with the objects found outlined.",
			params: []param{imageHash},
			status: ok, raw: []string{"image/png"}, errors: []int{c400, c404}, serve: s.imageOverlay},
		{method: get, path: "/v1/industries", summary: "Every industry.",
			status: ok, answer: []state.IndustryInfo{}, serve: s.industries},
		{method: get, path: "/v1/industries/{address}", summary: "An industry with its meters and permit history.",
			params: []param{pathParam("address", fmtAddress, "Industry account address.")},
			status: ok, answer: Industry{}, errors: []int{c400, c404}, serve: s.industry},
		{method: get, path: "/v1/market/offers", summary: "The open allowance offers, cheapest first.",
			status: ok, answer: []state.Offer{}, serve: s.offers},
		{method: get, path: "/v1/market/trades", summary: "Accepted offers, newest first, a page at a time: every trade since genesis, by following before.",
			params: pageParams,
			status: ok, answer: []Trade{}, errors: []int{c400}, serve: s.trades},
		{method: get, path: "/v1/settlements", summary: "The settlements of a period.",
			params: []param{periodQuery},
			status: ok, answer: []state.Settlement{}, errors: []int{c400, c404}, serve: s.settlements},
		{method: get, path: "/v1/leaderboard", summary: "Industries ranked for a settled period.",
			params: []param{periodQuery},
			status: ok, answer: []state.LeaderboardEntry{}, errors: []int{c400, c404}, serve: s.leaderboard},
		{method: get, path: "/v1/alerts", summary: "Alerts this node raised, newest first, a page at a time (Link header).",
			params: []param{
				queryParam("device", "string", fmtPubKey, "Only this device's."),
				queryParam("industry", "string", fmtAddress, "Only this industry's."),
				queryParam("kind", "string", "", "Only this kind: "+strings.Join(alertKinds(), ", ")+"."),
				queryParam("since", "string", fmtTime, "Only alerts at or after this time."),
				queryParam("limit", "integer", "", limitDesc+" Default 200."),
				queryParam("before", "string", fmtAlertCursor, "Only chain alerts of data blocks below this height, or after this alert of the block (height:alert id), read from the alerts recorded per block however old. Follow the Link header (rel=next) of a page for the next one; a page may be short, the last page has no Link."),
			},
			status: ok, answer: []alerts.Alert{}, errors: []int{c400, c404}, serve: s.alerts},
		{method: get, path: "/v1/evidence", summary: "Equivocation evidence recorded on the tx chain, newest first, a page at a time.",
			params: pageParams,
			status: ok, answer: []Evidence{}, errors: []int{c400}, serve: s.evidence},
		{method: get, path: "/v1/proofs/readings/{device}/{seq}", summary: "A self-contained proof that a reading is final.",
			params: []param{
				pathParam("device", fmtPubKey, "Device key."),
				pathParam("seq", "integer", "Sequence number from 1."),
			},
			status: ok, answer: chain.ReadingProof{}, errors: []int{c400, c404}, serve: s.proof},
		{method: get, path: "/v1/reports/{period}", summary: "The compliance report of a period.",
			params: []param{pathParam("period", fmtPeriod, "Period label or number.")},
			status: ok, answer: report.Report{}, errors: []int{c400, c404}, serve: s.report},
		{method: get, path: "/v1/validators", summary: "Every validator set, oldest first.",
			status: ok, answer: []state.ValidatorSetRecord{}, serve: s.validators},
		{method: get, path: "/v1/audit", summary: "On an auditor: the heights it has verified.",
			status: ok, answer: AuditStatus{}, errors: []int{c404}, serve: s.auditStatus},
	}
}

func alertKinds() []string {
	out := make([]string, len(alerts.Kinds))
	for i, k := range alerts.Kinds {
		out[i] = string(k)
	}
	return out
}
