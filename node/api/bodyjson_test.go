package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// TestAppendSubmitReadings holds appendSubmitReadings to what
// json.Encoder writes for the same answers.
func TestAppendSubmitReadings(t *testing.T) {
	h := func(b byte) chain.Hash { var x chain.Hash; x[0], x[31] = b, 0xff-b; return x }
	results := [][]EntryResult{
		nil,
		{},
		{{Hash: h(1), Seq: 1}},
		{{Hash: h(2)}, {Hash: h(3), Seq: 18446744073709551615}},
		{{Hash: h(4), Seq: 7, Error: "duplicate: reading 0a0b (device 1c seq 7)", Code: "duplicate"}},
		{{Hash: h(5), Error: `<script>&"quoted"\ back`, Code: "bad_request"}, {Hash: h(6), Code: "x"}},
		{{Hash: h(7), Error: "tab\tnewline\n\x00 ctl \x7f"}, {Hash: h(8), Error: "café ✓ \u2028 \u2029"}},
		{{Hash: h(9), Error: "bad utf-8 \xff\xfe end"}},
	}
	errs := []*Error{nil, {Message: "mempool full; retry after 2 s", Code: CodeMempoolFull}, {Message: "<&>", Code: ""}}
	for i, rs := range results {
		for _, e := range errs {
			res := SubmitReadingsResult{Accepted: i, Rejected: len(rs), Results: rs, RetryAfterMs: int64(i%3) * 350}
			var want bytes.Buffer
			var v any = res
			if e != nil {
				v = struct {
					Message string `json:"error"`
					Code    string `json:"code"`
					SubmitReadingsResult
				}{e.Message, e.Code, res}
			}
			if err := json.NewEncoder(&want).Encode(v); err != nil {
				t.Fatal(err)
			}
			got := appendSubmitReadings(nil, e, &res)
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("results %d, error %v:\n got %s\nwant %s", i, e, got, want.Bytes())
			}
			// The answer fits the size reckoned for it, so it is written
			// into one allocation.
			if size := submitReadingsSize(e, &res); len(got) > size {
				t.Errorf("results %d, error %v: %d bytes, reckoned %d", i, e, len(got), size)
			}
		}
	}
}

// TestReadBodyPooled reads bodies of several sizes, declared or chunked,
// one after another through the pool, and refuses one over the limit.
func TestReadBodyPooled(t *testing.T) {
	const limit = 200 << 10
	bodies := [][]byte{
		bytes.Repeat([]byte("a"), 150<<10),
		[]byte("short"),
		{},
		bytes.Repeat([]byte("0123456789"), 10<<10),
		[]byte("x"),
	}
	for _, chunked := range []bool{false, true} {
		for i, want := range bodies {
			var r io.Reader = bytes.NewReader(want)
			if chunked {
				r = io.MultiReader(bytes.NewReader(want)) // no length known
			}
			req := httptest.NewRequest(http.MethodPost, "/v1/readings", r)
			if chunked {
				req.ContentLength = -1
			}
			got, release, err := readBodyPooled(httptest.NewRecorder(), req, limit, "over %d")
			if err != nil {
				t.Fatalf("body %d (chunked %v): %v", i, chunked, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("body %d (chunked %v): read %d bytes, want %d", i, chunked, len(got), len(want))
			}
			release()
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/readings", strings.NewReader(strings.Repeat("b", limit+1)))
	req.ContentLength = -1
	_, release, err := readBodyPooled(httptest.NewRecorder(), req, limit, "over %d")
	release()
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusRequestEntityTooLarge || !strings.Contains(err.Error(), "over 204800") {
		t.Fatalf("body over the limit: err %v, want 413 naming the limit", err)
	}
}

// BenchmarkReadingsRequest: reading a 1,000-reading body (about 330 KB)
// and writing its answer, before (io.ReadAll, json.Encoder) and now
// (readBodyPooled, appendSubmitReadings), in one run.
//
//	go test ./node/api -run '^$' -bench ReadingsRequest -benchmem
func BenchmarkReadingsRequest(b *testing.B) {
	body := bytes.Repeat([]byte(`{"device":"00","seq":1,"time":"2026-12-02T13:00:00Z","flow_rate":1,"sig":"00"}`), 330_000/80)
	res := SubmitReadingsResult{Accepted: 1000, Results: make([]EntryResult, 1000)}
	for i := range res.Results {
		res.Results[i] = EntryResult{Hash: chain.HashBytes([]byte{byte(i), byte(i >> 8)}), Seq: uint64(i + 1)}
	}
	req := func() *http.Request {
		return httptest.NewRequest(http.MethodPost, "/v1/readings", bytes.NewReader(body))
	}
	b.Run("before", func(b *testing.B) {
		for b.Loop() {
			w := httptest.NewRecorder()
			got, err := readBody(w, req(), 8<<20, "over %d")
			if err != nil || len(got) != len(body) {
				b.Fatal(err)
			}
			if err := json.NewEncoder(io.Discard).Encode(res); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("now", func(b *testing.B) {
		for b.Loop() {
			w := httptest.NewRecorder()
			got, release, err := readBodyPooled(w, req(), 8<<20, "over %d")
			if err != nil || len(got) != len(body) {
				b.Fatal(err)
			}
			out := appendSubmitReadings(make([]byte, 0, submitReadingsSize(nil, &res)), nil, &res)
			_, _ = io.Discard.Write(out)
			release()
		}
	})
}
