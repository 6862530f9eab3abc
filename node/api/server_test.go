package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/events"
)

// apiTest is the API served over a fake backend, recording which statuses
// each route answered.
type apiTest struct {
	t   *testing.T
	f   *fake
	h   http.Handler
	srv *httptest.Server

	mu   sync.Mutex              // guards seen
	seen map[string]map[int]bool // "GET /v1/blocks/{lane}/{height}" → statuses
}

const maxBody, maxImage = 4 << 10, 1 << 10

func newAPITest(t *testing.T) *apiTest {
	f := newFake()
	h := NewHandler(f, Options{MaxBodyBytes: maxBody, MaxImageBytes: maxImage, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	at := &apiTest{t: t, f: f, h: h, srv: httptest.NewServer(h), seen: map[string]map[int]bool{}}
	t.Cleanup(at.srv.Close)
	return at
}

// routeOf is the route pattern the router matches for method and target.
func (at *apiTest) routeOf(method, target string) string {
	rctx := chi.NewRouteContext()
	path, _, _ := strings.Cut(target, "?")
	if !at.h.(chi.Routes).Match(rctx, method, path) {
		return ""
	}
	return method + " " + rctx.RoutePattern()
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// errorCode is the "code" of an error answer.
func (a answer) errorCode() string {
	var e Error
	_ = json.Unmarshal(a.body, &e)
	return e.Code
}

func (a answer) errorMessage() string {
	var e Error
	_ = json.Unmarshal(a.body, &e)
	return e.Message
}

func (at *apiTest) do(method, target, ctype string, body []byte) answer {
	at.t.Helper()
	return at.doWith(method, target, http.Header{"Content-Type": {ctype}}, body)
}

// doWith is do with the request's headers (those with no value left out).
func (at *apiTest) doWith(method, target string, header http.Header, body []byte) answer {
	at.t.Helper()
	req, err := http.NewRequest(method, at.srv.URL+target, bytes.NewReader(body))
	if err != nil {
		at.t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			if v != "" {
				req.Header.Add(k, v)
			}
		}
	}
	resp, err := at.srv.Client().Do(req)
	if err != nil {
		at.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		at.t.Fatal(err)
	}
	at.note(method, target, resp.StatusCode)
	return answer{status: resp.StatusCode, header: resp.Header, body: raw}
}

func (at *apiTest) note(method, target string, status int) {
	if r := at.routeOf(method, target); r != "" {
		at.mu.Lock()
		if at.seen[r] == nil {
			at.seen[r] = map[int]bool{}
		}
		at.seen[r][status] = true
		at.mu.Unlock()
	}
}

// hexKey is a valid device key.
func hexKey(t *testing.T) chain.PubKey {
	k, err := chain.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// TestRoutes asks every route for its success answer and every error the
// route table documents for it, and checks that nothing else is answered:
// the table (and so the OpenAPI document) says exactly what each route
// does.
func TestRoutes(t *testing.T) {
	at := newAPITest(t)
	dev := hexKey(t)
	addr := dev.Address()
	bad64 := strings.Repeat("z", 64)

	type tc struct {
		name    string
		method  string
		target  string
		ctype   string
		body    []byte
		setup   func(f *fake)
		status  int
		code    string   // error code, for error answers
		mention []string // words the error message must contain (the bad parameter)
		call    string   // the backend call the handler made, as fake records it
		check   func(t *testing.T, a answer)
	}
	meter, err := chain.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	readingJSON := func(seqs ...uint64) []byte {
		var rs []chain.Reading
		for _, s := range seqs {
			r := chain.Reading{Device: meter.Public(), Seq: s, Time: genesisTime}
			r.Sign("fake", meter)
			rs = append(rs, r)
		}
		b, _ := json.Marshal(rs)
		return b
	}
	key, err := chain.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tx := chain.Tx{From: key.Public(), Nonce: 1, Transfer: &chain.Transfer{To: addr, Amount: 5}}
	tx.Sign("fake", key)
	txJSON, _ := json.Marshal(tx)
	unsigned := tx
	unsigned.Sig = nil
	unsignedJSON, _ := json.Marshal(unsigned)

	jsonOf := func(v any) func(t *testing.T, a answer) {
		want, _ := json.Marshal(v)
		return func(t *testing.T, a answer) {
			t.Helper()
			if got := bytes.TrimSpace(a.body); !bytes.Equal(got, want) {
				t.Errorf("body %s, want %s", got, want)
			}
		}
	}
	fails := func(method string, err error) func(f *fake) {
		return func(f *fake) { f.failWith(method, err) }
	}

	cases := []tc{
		{name: "status", method: "GET", target: "/v1/status", status: 200, call: "Status",
			check: func(t *testing.T, a answer) {
				var st Status
				if err := json.Unmarshal(a.body, &st); err != nil || st.ChainID != "fake" || st.Lanes["data"].Height != 3 {
					t.Errorf("status %s (%v)", a.body, err)
				}
			}},
		{name: "status takes no query", method: "GET", target: "/v1/status?verbose=1", status: 400, code: CodeBadRequest, mention: []string{`"verbose"`, "no query parameters"}},
		{name: "status fails", method: "GET", target: "/v1/status", setup: fails("Status", errors.New("disk on fire")), status: 500, code: CodeInternal},
		{name: "openapi", method: "GET", target: "/v1/openapi.json", status: 200,
			check: func(t *testing.T, a answer) {
				var doc map[string]any
				if err := json.Unmarshal(a.body, &doc); err != nil || doc["openapi"] != "3.0.3" {
					t.Errorf("openapi.json: %v %.100s", err, a.body)
				}
			}},

		{name: "latest block", method: "GET", target: "/v1/blocks/data/latest", status: 200, call: "Block data 0",
			check: func(t *testing.T, a answer) {
				var b BlockView
				if err := json.Unmarshal(a.body, &b); err != nil || b.Header.Height != 3 || b.Hash != b.Block.Hash() {
					t.Errorf("block %s (%v)", a.body, err)
				}
			}},
		{name: "block by height", method: "GET", target: "/v1/blocks/tx/2", status: 200, call: "Block tx 2"},
		{name: "block beyond head", method: "GET", target: "/v1/blocks/tx/9", status: 404, code: CodeNotFound},
		{name: "block bad lane", method: "GET", target: "/v1/blocks/water/1", status: 400, code: CodeBadRequest, mention: []string{"lane", `"water"`}},
		{name: "block height 0", method: "GET", target: "/v1/blocks/data/0", status: 400, code: CodeBadRequest, mention: []string{"height", "latest"}},
		{name: "block height not a number", method: "GET", target: "/v1/blocks/data/x1", status: 400, code: CodeBadRequest, mention: []string{"height"}},
		{name: "block POST", method: "POST", target: "/v1/blocks/data/1", status: 405, code: CodeBadRequest, mention: []string{"POST", "answers GET"},
			check: func(t *testing.T, a answer) {
				if a.header.Get("Allow") != "GET" {
					t.Errorf("Allow %q, want GET", a.header.Get("Allow"))
				}
			}},

		{name: "readings accepted", method: "POST", target: "/v1/readings", ctype: "application/json", body: readingJSON(1, 2), status: 202, call: "SubmitReadingsHashed 2",
			check: func(t *testing.T, a answer) {
				var res SubmitReadingsResult
				if err := json.Unmarshal(a.body, &res); err != nil || res.Accepted != 2 || res.Rejected != 0 || len(res.Results) != 2 || res.Results[1].Seq != 2 || res.Results[1].Hash.IsZero() {
					t.Errorf("result %s (%v)", a.body, err)
				}
			}},
		{name: "readings partly accepted", method: "POST", target: "/v1/readings", ctype: "application/json", body: readingJSON(1, 409), status: 207,
			check: func(t *testing.T, a answer) {
				var res SubmitReadingsResult
				if err := json.Unmarshal(a.body, &res); err != nil || res.Accepted != 1 || res.Rejected != 1 || res.Results[1].Code != CodeDuplicate {
					t.Errorf("result %s (%v)", a.body, err)
				}
			}},
		{name: "readings partly refused for now", method: "POST", target: "/v1/readings", ctype: "application/json", body: readingJSON(1, 429), status: 207,
			check: func(t *testing.T, a answer) {
				var res SubmitReadingsResult
				if err := json.Unmarshal(a.body, &res); err != nil || res.Accepted != 1 || res.Results[1].Code != CodeMempoolFull || res.RetryAfterMs != 2000 {
					t.Errorf("result %s (%v), want the refused one's retry_after_ms 2000", a.body, err)
				}
				if a.header.Get("Retry-After") != "2" {
					t.Errorf("Retry-After %q, want 2: a 207 names when to send its refused readings again", a.header.Get("Retry-After"))
				}
			}},
		{name: "readings all duplicate", method: "POST", target: "/v1/readings", ctype: "application/json", body: readingJSON(409), status: 409, code: CodeDuplicate},
		{name: "readings mempool full", method: "POST", target: "/v1/readings", ctype: "application/json", body: readingJSON(429, 429), status: 429, code: CodeMempoolFull,
			check: func(t *testing.T, a answer) {
				if a.header.Get("Retry-After") != "2" {
					t.Errorf("Retry-After %q, want 2", a.header.Get("Retry-After"))
				}
				var res SubmitReadingsResult
				if err := json.Unmarshal(a.body, &res); err != nil || res.RetryAfterMs != 2000 || res.Rejected != 2 {
					t.Errorf("result %s (%v), want retry_after_ms 2000", a.body, err)
				}
			}},
		{name: "readings refused whole before decoding", method: "POST", target: "/v1/readings", ctype: "application/json", body: readingJSON(1, 2), status: 429, code: CodeMempoolFull,
			setup: fails("ReadingsRoom", &HTTPError{Status: http.StatusTooManyRequests, Code: CodeMempoolFull, Err: errors.New("window full"), RetryAfter: 2300 * time.Millisecond}),
			check: func(t *testing.T, a answer) {
				// Whole seconds, rounded up; the body to the millisecond.
				if a.header.Get("Retry-After") != "3" {
					t.Errorf("Retry-After %q, want 3", a.header.Get("Retry-After"))
				}
				var e Error
				if err := json.Unmarshal(a.body, &e); err != nil || e.RetryAfterMs != 2300 {
					t.Errorf("answer %s (%v), want retry_after_ms 2300", a.body, err)
				}
				if last := at.f.lastCall(); last != "" {
					t.Errorf("a request refused whole was decoded or submitted: %s", last)
				}
			}},
		{name: "readings while syncing", method: "POST", target: "/v1/readings", ctype: "application/json", body: readingJSON(503), status: 503, code: CodeUnavailable},
		{name: "readings bad JSON", method: "POST", target: "/v1/readings", ctype: "application/json", body: []byte("[{"), status: 400, code: CodeBadRequest, mention: []string{"readings JSON"}},
		{name: "readings empty", method: "POST", target: "/v1/readings", ctype: "application/json", body: []byte("[]"), status: 400, code: CodeBadRequest, mention: []string{"no readings"}},
		{name: "readings too large", method: "POST", target: "/v1/readings", ctype: "application/json", body: bytes.Repeat([]byte(" "), maxBody+1), status: 413, code: CodeTooLarge, mention: []string{strconv.Itoa(maxBody)}},
		{name: "readings DELETE", method: "DELETE", target: "/v1/readings", status: 405, code: CodeBadRequest},

		{name: "readings of a device", method: "GET", target: "/v1/readings?device=" + dev.String() + "&from=2026-11-29T10:00:00Z&to=2026-11-30T00:00:00Z&limit=7", status: 200,
			call: callString("Readings", dev.Short(), 0, chain.TimeOf(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)), chain.TimeOf(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)), 7)},
		{name: "readings none is []", method: "GET", target: "/v1/readings?device=" + dev.String(), status: 200, call: callString("Readings", dev.Short(), 0, chain.Time(0), chain.Time(0), 100),
			check: jsonOf(Readings{Readings: []Reading{}})},
		{name: "reading by seq", method: "GET", target: "/v1/readings?device=" + dev.String() + "&seq=5", status: 200, call: callString("Readings", dev.Short(), 5, chain.Time(0), chain.Time(0), 100)},
		{name: "reading by seq not final", method: "GET", target: "/v1/readings?device=" + dev.String() + "&seq=500", status: 404, code: CodeNotFound},
		{name: "readings without device", method: "GET", target: "/v1/readings", status: 400, code: CodeBadRequest, mention: []string{"device"}},
		{name: "readings bad device", method: "GET", target: "/v1/readings?device=abc", status: 400, code: CodeBadRequest, mention: []string{"device", `"abc"`}},
		{name: "readings seq 0", method: "GET", target: "/v1/readings?device=" + dev.String() + "&seq=0", status: 400, code: CodeBadRequest, mention: []string{"seq"}},
		{name: "readings bad from", method: "GET", target: "/v1/readings?device=" + dev.String() + "&from=yesterday", status: 400, code: CodeBadRequest, mention: []string{"from", "RFC 3339"}},
		{name: "readings bad to", method: "GET", target: "/v1/readings?device=" + dev.String() + "&to=1", status: 400, code: CodeBadRequest, mention: []string{"parameter to"}},
		{name: "readings limit too big", method: "GET", target: "/v1/readings?device=" + dev.String() + "&limit=10001", status: 400, code: CodeBadRequest, mention: []string{"limit", "10000"}},
		{name: "readings misspelt param", method: "GET", target: "/v1/readings?device=" + dev.String() + "&limt=5", status: 400, code: CodeBadRequest, mention: []string{`"limt"`, "limit"}},

		{name: "reading final", method: "GET", target: "/v1/readings/" + knownHash.String(), status: 200, call: "ReadingStatus " + knownHash.Short(),
			check: func(t *testing.T, a answer) {
				if !bytes.Contains(a.body, []byte(`"status":"final","height":7,"index":0`)) {
					t.Errorf("final reading %s: want status, height and index 0", a.body)
				}
			}},
		{name: "reading pending", method: "GET", target: "/v1/readings/" + pendingHash.String(), status: 200,
			check: jsonOf(ReadingStatus{Hash: pendingHash, Status: "pending"})},
		{name: "reading unknown", method: "GET", target: "/v1/readings/" + chain.Hash{1}.String(), status: 404, code: CodeNotFound},
		{name: "reading bad hash", method: "GET", target: "/v1/readings/" + bad64, status: 400, code: CodeBadRequest, mention: []string{"hash"}},

		{name: "tx accepted", method: "POST", target: "/v1/txs", ctype: "application/json", body: txJSON, status: 202, call: "SubmitTx 1",
			check: jsonOf(SubmitTxResult{Hash: tx.Hash()})},
		{name: "tx unknown field", method: "POST", target: "/v1/txs", ctype: "application/json", body: []byte(`{"frm":"x"}`), status: 400, code: CodeBadRequest, mention: []string{"frm"}},
		{name: "tx trailing data", method: "POST", target: "/v1/txs", ctype: "application/json", body: append(slices.Clone(txJSON), txJSON...), status: 400, code: CodeBadRequest, mention: []string{"trailing"}},
		{name: "tx unsigned", method: "POST", target: "/v1/txs", ctype: "application/json", body: unsignedJSON, status: 400, code: CodeBadRequest, mention: []string{"sig"}},
		{name: "tx too large", method: "POST", target: "/v1/txs", ctype: "application/json", body: bytes.Repeat([]byte(" "), maxBody+1), status: 413, code: CodeTooLarge},
		{name: "tx nonce used", method: "POST", target: "/v1/txs", ctype: "application/json", body: txJSON, setup: fails("SubmitTx", Errorf(409, CodeBadNonce, "nonce 1 is used")), status: 409, code: CodeBadNonce},
		{name: "tx mempool full", method: "POST", target: "/v1/txs", ctype: "application/json", body: txJSON, setup: fails("SubmitTx", Errorf(429, CodeMempoolFull, "full")), status: 429, code: CodeMempoolFull},
		{name: "tx while syncing", method: "POST", target: "/v1/txs", ctype: "application/json", body: txJSON, setup: fails("SubmitTx", Errorf(503, CodeUnavailable, "syncing")), status: 503, code: CodeUnavailable},
		{name: "tx status", method: "GET", target: "/v1/txs/" + knownHash.String(), status: 200, check: jsonOf(TxStatus{Hash: knownHash, Status: "final", Height: 2})},
		{name: "tx status unknown", method: "GET", target: "/v1/txs/" + chain.Hash{2}.String(), status: 404, code: CodeNotFound},
		{name: "tx status bad hash", method: "GET", target: "/v1/txs/12", status: 400, code: CodeBadRequest, mention: []string{"hash", `"12"`}},

		{name: "account", method: "GET", target: "/v1/accounts/" + addr.String(), status: 200, check: jsonOf(Account{Address: addr, Balance: 5})},
		{name: "account bad address", method: "GET", target: "/v1/accounts/wc12", status: 400, code: CodeBadRequest, mention: []string{"address"}},
		{name: "device", method: "GET", target: "/v1/devices/" + dev.String(), status: 200, check: jsonOf(Device{Key: dev, Status: "active"})},
		{name: "device unknown", method: "GET", target: "/v1/devices/" + dev.String(), setup: fails("Device", NotFound("not registered")), status: 404, code: CodeNotFound},
		{name: "device bad key", method: "GET", target: "/v1/devices/" + bad64, status: 400, code: CodeBadRequest, mention: []string{"key"}},

		{name: "events bad kind", method: "GET", target: "/v1/events?kind=block,blocks", status: 400, code: CodeBadRequest, mention: []string{"kind", `"blocks"`}},
		{name: "events bad device", method: "GET", target: "/v1/events?device=xyz", status: 400, code: CodeBadRequest, mention: []string{"device"}},

		{name: "image upload", method: "PUT", target: "/v1/images/" + heldImage.String(), ctype: "image/png", body: pngHeader, status: 201, check: jsonOf(ImageStored{Hash: heldImage, Bytes: len(pngHeader)})},
		{name: "image upload unknown", method: "PUT", target: "/v1/images/" + chain.Hash{3}.String(), ctype: "image/png", body: pngHeader, status: 404, code: CodeNotFound},
		{name: "image upload bad hash", method: "PUT", target: "/v1/images/abc", ctype: "image/png", body: pngHeader, status: 400, code: CodeBadRequest, mention: []string{"hash"}},
		{name: "image upload gif", method: "PUT", target: "/v1/images/" + heldImage.String(), ctype: "image/gif", body: []byte("GIF89a"), status: 415, code: CodeBadImage, mention: []string{"image/jpeg or image/png"}},
		{name: "image upload mislabelled", method: "PUT", target: "/v1/images/" + heldImage.String(), ctype: "image/jpeg", body: pngHeader, status: 415, code: CodeBadImage, mention: []string{"image/png file"}},
		{name: "image upload too large", method: "PUT", target: "/v1/images/" + heldImage.String(), ctype: "image/png", body: append(slices.Clone(pngHeader), make([]byte, maxImage)...), status: 413, code: CodeTooLarge, mention: []string{"images.max_bytes"}},
		{name: "image upload corrupt", method: "PUT", target: "/v1/images/" + heldImage.String(), ctype: "image/png", body: pngHeader, setup: fails("PutImage", Errorf(422, CodeBadImage, "truncated")), status: 422, code: CodeBadImage},
		{name: "image", method: "GET", target: "/v1/images/" + heldImage.String(), status: 200,
			check: func(t *testing.T, a answer) {
				if !bytes.Equal(a.body, pngHeader) || a.header.Get("Content-Type") != "image/png" || !strings.Contains(a.header.Get("Cache-Control"), "immutable") {
					t.Errorf("image: %q %v", a.body, a.header)
				}
			}},
		{name: "image not held", method: "GET", target: "/v1/images/" + chain.Hash{3}.String(), status: 404, code: CodeNotFound},
		{name: "image bad hash", method: "GET", target: "/v1/images/x", status: 400, code: CodeBadRequest},
		{name: "image analysis", method: "GET", target: "/v1/images/" + heldImage.String() + "/analysis", status: 200, check: jsonOf(ImageReport{Hash: heldImage, Format: "png", Bytes: 8})},
		{name: "image analysis not held", method: "GET", target: "/v1/images/" + chain.Hash{3}.String() + "/analysis", status: 404, code: CodeNotFound},
		{name: "image analysis bad hash", method: "GET", target: "/v1/images/x/analysis", status: 400, code: CodeBadRequest},
		{name: "image overlay", method: "GET", target: "/v1/images/" + heldImage.String() + "/overlay", status: 200,
			check: func(t *testing.T, a answer) {
				if a.header.Get("Content-Type") != "image/png" {
					t.Errorf("overlay type %q", a.header.Get("Content-Type"))
				}
			}},
		{name: "image overlay not held", method: "GET", target: "/v1/images/" + chain.Hash{3}.String() + "/overlay", status: 404, code: CodeNotFound},
		{name: "image overlay bad hash", method: "GET", target: "/v1/images/x/overlay", status: 400, code: CodeBadRequest},
		{name: "image DELETE", method: "DELETE", target: "/v1/images/" + heldImage.String(), status: 405,
			check: func(t *testing.T, a answer) {
				if a.header.Get("Allow") != "GET, PUT" {
					t.Errorf("Allow %q, want GET, PUT", a.header.Get("Allow"))
				}
			}},

		{name: "industries none is []", method: "GET", target: "/v1/industries", status: 200, check: jsonOf([]int{})},
		{name: "industry", method: "GET", target: "/v1/industries/" + addr.String(), status: 200, call: callString("Industry", addr)},
		{name: "industry unknown", method: "GET", target: "/v1/industries/" + addr.String(), setup: fails("Industry", NotFound("unknown industry")), status: 404, code: CodeNotFound},
		{name: "industry bad address", method: "GET", target: "/v1/industries/nope", status: 400, code: CodeBadRequest, mention: []string{"address"}},

		{name: "offers none is []", method: "GET", target: "/v1/market/offers", status: 200, check: jsonOf([]int{})},
		{name: "trades", method: "GET", target: "/v1/market/trades?limit=5", status: 200, call: "Trades 0 0 5"},
		{name: "trades default", method: "GET", target: "/v1/market/trades", status: 200, call: "Trades 0 0 100"},
		{name: "trades before", method: "GET", target: "/v1/market/trades?before=120345:7&limit=1000", status: 200, call: "Trades 120345 7 1000"},
		{name: "trades limit 0", method: "GET", target: "/v1/market/trades?limit=0", status: 400, code: CodeBadRequest, mention: []string{"limit", "1 to 1000"}},
		{name: "trades limit above the page", method: "GET", target: "/v1/market/trades?limit=1001", status: 400, code: CodeBadRequest, mention: []string{"limit", "1 to 1000"}},
		{name: "trades limit huge", method: "GET", target: "/v1/market/trades?limit=99999999999999999999", status: 400, code: CodeBadRequest, mention: []string{"limit"}},
		{name: "trades before without index", method: "GET", target: "/v1/market/trades?before=12", status: 400, code: CodeBadRequest, mention: []string{"before", "height:index"}},
		{name: "trades before height 0", method: "GET", target: "/v1/market/trades?before=0:0", status: 400, code: CodeBadRequest, mention: []string{"before"}},
		{name: "trades before index too big", method: "GET", target: "/v1/market/trades?before=5:4294967296", status: 400, code: CodeBadRequest, mention: []string{"before"}},
		{name: "trades before negative", method: "GET", target: "/v1/market/trades?before=-5:1", status: 400, code: CodeBadRequest, mention: []string{"before"}},

		{name: "settlements of the last settled period", method: "GET", target: "/v1/settlements", status: 200, call: "Settlements 2"},
		{name: "settlements by label", method: "GET", target: "/v1/settlements?period=2026-11", status: 200, call: "Settlements 10"},
		{name: "settlements by number", method: "GET", target: "/v1/settlements?period=4", status: 200, call: "Settlements 4"},
		{name: "settlements bad label", method: "GET", target: "/v1/settlements?period=2026-11-05", status: 400, code: CodeBadRequest, mention: []string{"period", "YYYY-MM"}},
		{name: "settlements negative", method: "GET", target: "/v1/settlements?period=-1", status: 400, code: CodeBadRequest, mention: []string{"period"}},
		{name: "settlements none settled", method: "GET", target: "/v1/settlements", setup: fails("LastSettledPeriod", errors.New("none")), status: 404, code: CodeNotFound, mention: []string{"no period has been settled", "2026-02-01"}},
		{name: "leaderboard", method: "GET", target: "/v1/leaderboard?period=2026-03", status: 200, call: "Leaderboard 2", check: jsonOf([]int{})},
		{name: "leaderboard bad period", method: "GET", target: "/v1/leaderboard?period=march", status: 400, code: CodeBadRequest, mention: []string{"period"}},
		{name: "leaderboard none settled", method: "GET", target: "/v1/leaderboard", setup: fails("LastSettledPeriod", errors.New("none")), status: 404, code: CodeNotFound},

		{name: "alerts", method: "GET", target: "/v1/alerts?device=" + dev.String() + "&industry=" + addr.String() + "&kind=leak&since=2026-11-29T10:00:00Z&limit=3", status: 200,
			call: callString("Alerts", dev.Short(), addr, "leak", chain.TimeOf(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)), 3)},
		{name: "alerts default limit", method: "GET", target: "/v1/alerts", status: 200, call: callString("Alerts", chain.PubKey{}.Short(), chain.Address{}, "", chain.Time(0), 200)},
		{name: "alerts unknown kind", method: "GET", target: "/v1/alerts?kind=flood", status: 400, code: CodeBadRequest, mention: []string{"kind", `"flood"`, "leak"}},
		{name: "alerts bad device", method: "GET", target: "/v1/alerts?device=1", status: 400, code: CodeBadRequest, mention: []string{"device"}},
		{name: "alerts bad industry", method: "GET", target: "/v1/alerts?industry=1", status: 400, code: CodeBadRequest, mention: []string{"industry"}},
		{name: "alerts bad since", method: "GET", target: "/v1/alerts?since=today", status: 400, code: CodeBadRequest, mention: []string{"since"}},
		{name: "alerts bad limit", method: "GET", target: "/v1/alerts?limit=0", status: 400, code: CodeBadRequest, mention: []string{"limit"}},
		{name: "alerts disabled", method: "GET", target: "/v1/alerts", setup: fails("Alerts", NotFound("alerts are disabled")), status: 404, code: CodeNotFound},
		{name: "alerts before a block", method: "GET", target: "/v1/alerts?before=120", status: 200,
			call: callString("Alerts", chain.PubKey{}.Short(), chain.Address{}, "", chain.Time(0), 200, "before", "120")},
		{name: "alerts before an alert", method: "GET", target: "/v1/alerts?before=120:" + knownHash.String(), status: 200,
			call: callString("Alerts", chain.PubKey{}.Short(), chain.Address{}, "", chain.Time(0), 200, "before", "120:"+knownHash.String())},
		{name: "alerts before 0", method: "GET", target: "/v1/alerts?before=0", status: 400, code: CodeBadRequest, mention: []string{"before", "height"}},
		{name: "alerts before a bad id", method: "GET", target: "/v1/alerts?before=5:zz", status: 400, code: CodeBadRequest, mention: []string{"before", "alert id"}},
		{name: "alerts next page in Link", method: "GET", target: "/v1/alerts?kind=leak&limit=1", status: 200,
			check: func(t *testing.T, a answer) {
				want := `</v1/alerts?before=7%3A` + chain.Hash{7}.String() + `&kind=leak&limit=1>; rel="next"`
				if got := a.header.Get("Link"); got != want {
					t.Errorf("Link %q, want %q", got, want)
				}
			}},
		{name: "alerts last page has no Link", method: "GET", target: "/v1/alerts?limit=2", status: 200,
			check: func(t *testing.T, a answer) {
				if got := a.header.Get("Link"); got != "" {
					t.Errorf("Link %q on the last page", got)
				}
			}},

		{name: "evidence none is []", method: "GET", target: "/v1/evidence", status: 200, call: "Evidence 0 0 100", check: jsonOf([]int{})},
		{name: "evidence page", method: "GET", target: "/v1/evidence?before=900:2&limit=10", status: 200, call: "Evidence 900 2 10"},
		{name: "evidence bad before", method: "GET", target: "/v1/evidence?before=x:1", status: 400, code: CodeBadRequest, mention: []string{"before"}},
		{name: "evidence limit above the page", method: "GET", target: "/v1/evidence?limit=5000", status: 400, code: CodeBadRequest, mention: []string{"limit"}},
		{name: "validators", method: "GET", target: "/v1/validators", status: 200, call: "Validators"},

		{name: "proof", method: "GET", target: "/v1/proofs/readings/" + dev.String() + "/5", status: 200, call: callString("ReadingProof", dev.Short(), 5)},
		{name: "proof not final", method: "GET", target: "/v1/proofs/readings/" + dev.String() + "/500", status: 404, code: CodeNotFound},
		{name: "proof seq 0", method: "GET", target: "/v1/proofs/readings/" + dev.String() + "/0", status: 400, code: CodeBadRequest, mention: []string{"seq"}},
		{name: "proof bad seq", method: "GET", target: "/v1/proofs/readings/" + dev.String() + "/first", status: 400, code: CodeBadRequest, mention: []string{"seq"}},
		{name: "proof bad device", method: "GET", target: "/v1/proofs/readings/zz/1", status: 400, code: CodeBadRequest, mention: []string{"device"}},

		{name: "report", method: "GET", target: "/v1/reports/2026-06", status: 200, call: "Report 5"},
		{name: "report by number", method: "GET", target: "/v1/reports/3", status: 200, call: "Report 3"},
		{name: "report not started", method: "GET", target: "/v1/reports/2027-01", status: 404, code: CodeNotFound},
		{name: "report bad period", method: "GET", target: "/v1/reports/2026-13", status: 400, code: CodeBadRequest, mention: []string{"period"}},

		{name: "audit", method: "GET", target: "/v1/audit", status: 200, call: "AuditStatus"},
		{name: "audit not an auditor", method: "GET", target: "/v1/audit", setup: fails("AuditStatus", NotFound("this node is a validator")), status: 404, code: CodeNotFound},

		{name: "unknown route", method: "GET", target: "/v1/nothing", status: 404, code: CodeNotFound, mention: []string{"openapi.json"}},
		{name: "unknown route under a known one", method: "GET", target: "/v1/images/" + heldImage.String() + "/thumbnail", status: 404, code: CodeNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			at.f.mu.Lock()
			at.f.fail, at.f.calls = map[string]error{}, nil
			at.f.mu.Unlock()
			if c.setup != nil {
				c.setup(at.f)
			}
			a := at.do(c.method, c.target, c.ctype, c.body)
			if a.status != c.status {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.target, a.status, c.status, a.body)
			}
			if ct := a.header.Get("Content-Type"); a.status >= 400 && ct != "application/json" {
				t.Errorf("error answered as %q, want application/json", ct)
			}
			if c.code != "" && a.errorCode() != c.code {
				t.Errorf("code %q, want %q: %s", a.errorCode(), c.code, a.body)
			}
			for _, w := range c.mention {
				if !strings.Contains(a.errorMessage(), w) {
					t.Errorf("error %q does not mention %s", a.errorMessage(), w)
				}
			}
			if last := at.f.lastCall(); c.status == 400 && last != "" && !strings.HasPrefix(last, "Periods") && !strings.HasPrefix(last, "DecodeReadings") {
				t.Errorf("a bad request reached the backend: %s", at.f.lastCall())
			}
			if c.call != "" && at.f.lastCall() != c.call {
				t.Errorf("backend call %q, want %q", at.f.lastCall(), c.call)
			}
			if c.check != nil {
				c.check(t, a)
			}
		})
	}
	at.eventsCases(t, dev)

	// Every route answered its success status and every error status it
	// documents, and nothing it does not document.
	for _, rt := range (&server{}).routes() {
		key := rt.method + " " + rt.path
		seen := at.seen[key]
		want := append([]int{rt.status}, rt.errors...)
		for _, s := range want {
			if !seen[s] {
				t.Errorf("%s: never answered %d, which the route table documents", key, s)
			}
		}
		for s := range seen {
			documented := slices.Contains(want, s) || slices.Contains(universalErrors, s) ||
				(key == "POST /v1/readings" && s == http.StatusMultiStatus)
			if !documented {
				t.Errorf("%s answered %d, which the route table does not document", key, s)
			}
		}
	}
}

// eventsCases runs GET /v1/events: the stream and its filters.
func (at *apiTest) eventsCases(t *testing.T, dev chain.PubKey) {
	other := hexKey(t)
	t.Run("events stream", func(t *testing.T) {
		all := at.openEvents(t, "")
		byDevice := at.openEvents(t, "?device="+dev.String())
		finals := at.openEvents(t, "?kind=final")
		waitUntil(t, "three subscribers", func() bool { return at.f.hub.Subscribers() == 3 })

		hub := at.f.hub
		hub.Publish(events.KindBlock, map[string]int{"height": 1})
		hub.PublishAbout(events.KindFinal, other, FinalEvent{Device: other, Seq: 1})
		hub.PublishAbout(events.KindFinal, dev, FinalEvent{Device: dev, Seq: 2})
		hub.PublishAbout(events.KindAlert, dev, map[string]string{"kind": "leak"})
		hub.Publish(events.KindBlock, map[string]int{"height": 2})

		for _, c := range []struct {
			name string
			got  <-chan sseEvent
			want []string
		}{
			{"unfiltered", all, []string{"block", "alert", "block"}},
			{"device", byDevice, []string{"final 2", "alert"}},
			{"kind final", finals, []string{"final 1", "final 2"}},
		} {
			for _, w := range c.want {
				select {
				case ev := <-c.got:
					got := ev.kind
					if ev.kind == events.KindFinal {
						var fe FinalEvent
						if err := json.Unmarshal(ev.data, &fe); err != nil {
							t.Fatal(err)
						}
						got = fmt.Sprintf("final %d", fe.Seq)
					}
					if got != w {
						t.Errorf("%s: got %s, want %s", c.name, got, w)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s: no %s event", c.name, w)
				}
			}
		}
	})
}

type sseEvent struct {
	id, kind string
	data     []byte
}

// openEvents subscribes to GET /v1/events+query until the test ends.
func (at *apiTest) openEvents(t *testing.T, query string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", at.srv.URL+"/v1/events"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := at.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	at.note("GET", "/v1/events"+query, resp.StatusCode)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /v1/events%s: %d %s", query, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 64)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.kind = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = []byte(line[6:])
			case line == "" && ev.kind != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return out
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPanicIsInternalError: a panicking backend answers 500 with the
// error shape, and the server keeps serving.
func TestPanicIsInternalError(t *testing.T) {
	at := newAPITest(t)
	at.f.failWith("Status", nil)
	h := NewHandler(panicky{at.f}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/status", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), CodeInternal) {
		t.Fatalf("panic: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/validators", nil))
	if rec.Code != 200 {
		t.Fatalf("after a panic: %d", rec.Code)
	}
}

type panicky struct{ *fake }

func (panicky) Status(context.Context) (Status, error) { panic("boom") }

// TestBlockCBOR checks GET /v1/blocks asked for application/cbor: the
// block's canonical encoding (the same block as the JSON answer), errors
// still JSON, and JSON for clients that do not ask for CBOR.
func TestBlockCBOR(t *testing.T) {
	at := newAPITest(t)
	get := func(target, accept string) answer {
		t.Helper()
		return at.doWith(http.MethodGet, target, http.Header{"Accept": {accept}}, nil)
	}
	for _, accept := range []string{"application/cbor", "application/json;q=0.5, Application/CBOR"} {
		a := get("/v1/blocks/tx/2", accept)
		if a.status != 200 || a.header.Get("Content-Type") != ContentTypeCBOR {
			t.Fatalf("Accept %q: %d %q", accept, a.status, a.header.Get("Content-Type"))
		}
		var b chain.Block
		if err := chain.Decode(a.body, &b); err != nil {
			t.Fatalf("Accept %q: the answer is not a block's canonical encoding: %v", accept, err)
		}
		var view BlockView
		if j := get("/v1/blocks/tx/2", ""); j.status != 200 || json.Unmarshal(j.body, &view) != nil {
			t.Fatalf("JSON answer %d %s", j.status, j.body)
		}
		if b.Hash() != view.Hash {
			t.Errorf("Accept %q: the CBOR block hashes to %s, the JSON block is %s", accept, b.Hash().Short(), view.Hash.Short())
		}
	}
	if a := get("/v1/blocks/data/latest", "application/cbor"); a.status != 200 || a.header.Get("Content-Type") != ContentTypeCBOR {
		t.Errorf("latest as CBOR: %d %q", a.status, a.header.Get("Content-Type"))
	}
	a := get("/v1/blocks/tx/9", "application/cbor")
	if a.status != 404 || a.header.Get("Content-Type") != "application/json" || a.errorCode() != CodeNotFound {
		t.Errorf("a missing block asked as CBOR: %d %q %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	for _, accept := range []string{"text/html, */*", "application/cbor;q=0, application/json", "application/cbor; q=0.0"} {
		if a := get("/v1/blocks/tx/2", accept); a.header.Get("Content-Type") != "application/json" {
			t.Errorf("Accept %q got %q, want JSON", accept, a.header.Get("Content-Type"))
		}
	}
}
