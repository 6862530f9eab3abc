package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/waterchain/waterchain/chain"
)

// param documents one path or query parameter of a route. Handlers read
// parameters only through request, which refuses a name the route does not
// declare, so the OpenAPI document lists exactly what handlers read.
type param struct {
	name     string
	in       string // "path" or "query"
	typ      string // JSON schema type: "string" or "integer"
	format   string // what the value looks like, for the document
	required bool
	desc     string
}

func pathParam(name, format, desc string) param {
	return param{name: name, in: "path", typ: "string", format: format, required: true, desc: desc}
}

func queryParam(name, typ, format, desc string) param {
	return param{name: name, in: "query", typ: typ, format: format, desc: desc}
}

// Formats of parameters, as the document names them.
const (
	fmtHash        = "hex32"        // 64 hex digits
	fmtPubKey      = "hex32"        // an ed25519 public key, 64 hex digits
	fmtAddress     = "address"      // wc + 40 hex digits
	fmtTime        = "date-time"    // RFC 3339
	fmtPeriod      = "period"       // a period label or number
	fmtTxCursor    = "tx-cursor"    // height:index of a transaction
	fmtAlertCursor = "alert-cursor" // data height, or height:alert id
)

// request is an HTTP request seen through its route's declared parameters.
type request struct {
	*http.Request
	route *route
}

// checkQuery refuses query parameters the route does not take, so that a
// misspelt filter is an error rather than silently ignored.
func (q *request) checkQuery() error {
	for name := range q.URL.Query() {
		if p, ok := q.route.param(name); !ok || p.in != "query" {
			return BadRequest("unknown query parameter %q: %s %s takes %s", name, q.route.method, q.route.path, q.route.queryNames())
		}
	}
	return nil
}

// value is the raw value of a declared parameter ("" when absent).
func (q *request) value(name string) string {
	p, ok := q.route.param(name)
	if !ok {
		panic(fmt.Sprintf("api: %s %s reads parameter %q it does not declare", q.route.method, q.route.path, name))
	}
	if p.in == "path" {
		return chi.URLParam(q.Request, name)
	}
	return q.URL.Query().Get(name)
}

// bad is the 400 for a parameter value, naming the parameter.
func bad(name, v string, err error) error {
	return BadRequest("parameter %s %q: %v", name, v, err)
}

func (q *request) hash(name string) (chain.Hash, error) {
	v := q.value(name)
	h, err := chain.ParseHash(v)
	if err != nil {
		return h, bad(name, v, err)
	}
	return h, nil
}

// pubKey parses a key; an absent optional one is the zero key.
func (q *request) pubKey(name string, required bool) (chain.PubKey, error) {
	v := q.value(name)
	if v == "" && !required {
		return chain.PubKey{}, nil
	}
	k, err := chain.ParsePubKey(v)
	if err != nil {
		return k, bad(name, v, err)
	}
	return k, nil
}

// address parses an address; an absent optional one is the zero address.
func (q *request) address(name string, required bool) (chain.Address, error) {
	v := q.value(name)
	if v == "" && !required {
		return chain.Address{}, nil
	}
	a, err := chain.ParseAddress(v)
	if err != nil {
		return a, bad(name, v, err)
	}
	return a, nil
}

// uint parses a whole number in [lo, hi]; absent, it is def.
func (q *request) uint(name string, lo, hi, def uint64) (uint64, error) {
	v := q.value(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, bad(name, v, fmt.Errorf("want a whole number from %d to %d", lo, hi))
	}
	return n, nil
}

// time parses an RFC 3339 time; absent, it is 0.
func (q *request) time(name string) (chain.Time, error) {
	v := q.value(name)
	if v == "" {
		return 0, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, bad(name, v, fmt.Errorf("want RFC 3339 such as 2026-11-29T10:00:00Z"))
	}
	return chain.TimeOf(t), nil
}

// oneOf parses a value from a fixed list; absent, it is "".
func (q *request) oneOf(name string, allowed []string) (string, error) {
	v := q.value(name)
	if v != "" && !slices.Contains(allowed, v) {
		return "", bad(name, v, fmt.Errorf("want one of %s", strings.Join(allowed, ", ")))
	}
	return v, nil
}

// list parses a comma-separated list of values from a fixed list.
func (q *request) list(name string, allowed []string) ([]string, error) {
	v := q.value(name)
	if v == "" {
		return nil, nil
	}
	out := strings.Split(v, ",")
	for _, s := range out {
		if !slices.Contains(allowed, s) {
			return nil, bad(name, v, fmt.Errorf("%q is not one of %s", s, strings.Join(allowed, ", ")))
		}
	}
	return out, nil
}

// txCursor parses a tx chain cursor "height:index"; absent, it is the
// zero cursor (start at the newest).
func (q *request) txCursor(name string) (TxCursor, error) {
	v := q.value(name)
	if v == "" {
		return TxCursor{}, nil
	}
	hs, is, ok := strings.Cut(v, ":")
	height, herr := strconv.ParseUint(hs, 10, 64)
	index, ierr := strconv.ParseUint(is, 10, 32)
	if !ok || herr != nil || ierr != nil || height == 0 {
		return TxCursor{}, bad(name, v, fmt.Errorf("want height:index, such as 1200:0, from the last item of the previous page"))
	}
	return TxCursor{Height: height, Index: uint32(index)}, nil
}

// alertCursor parses an alert cursor "height" or "height:alert id";
// absent, it is nil (the newest).
func (q *request) alertCursor(name string) (*AlertCursor, error) {
	v := q.value(name)
	if v == "" {
		return nil, nil
	}
	hs, ids, withID := strings.Cut(v, ":")
	height, err := strconv.ParseUint(hs, 10, 64)
	if err != nil || height == 0 {
		return nil, bad(name, v, fmt.Errorf("want a data height from 1, or height:alert id, as the Link header of the previous page gives it"))
	}
	c := &AlertCursor{Height: height}
	if withID {
		if c.ID, err = chain.ParseHash(ids); err != nil || c.ID.IsZero() {
			return nil, bad(name, v, fmt.Errorf("the alert id after the height: want 64 hex digits"))
		}
	}
	return c, nil
}

// page parses the limit and before parameters of a list newest first.
func (q *request) page() (PageQuery, error) {
	limit, err := q.uint("limit", 1, MaxPage, DefaultPage)
	if err != nil {
		return PageQuery{}, err
	}
	before, err := q.txCursor("before")
	if err != nil {
		return PageQuery{}, err
	}
	return PageQuery{Before: before, Limit: int(limit)}, nil
}

// period parses a period label ("2026-11" or "2026-11-29T10:00", as the
// chain's calendar labels them) or a period number below 100000.
func (q *request) period(name string, periods chain.Period) (int64, error) {
	v := q.value(name)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && len(v) < 6 {
		if n < 0 {
			return 0, bad(name, v, fmt.Errorf("period numbers start at 0"))
		}
		return n, nil
	}
	n, err := periods.ParseLabel(v)
	if err != nil {
		return 0, bad(name, v, err)
	}
	return n, nil
}
