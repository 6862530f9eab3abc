package api

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// Costs of POST /v1/readings beyond the door (issue 16): a CPU profile of
// four validators as processes at their peak put a quarter of their CPU in
// this handler, a quarter of that in io.ReadAll growing and clearing the
// body's buffer, and as much again in encoding/json writing the answer
// (one result per reading, each hash through MarshalText). The body's
// buffer is now pooled and sized from Content-Length, and the answer
// written by appendSubmitReadings.

// maxPooledBody is the largest body buffer kept for the next request:
// batches of a few thousand readings; a rare larger one is left to the GC.
const maxPooledBody = 1 << 20

// bodyPool holds *[]byte buffers of request bodies.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// readBodyPooled is readBody into a pooled buffer: release gives the
// buffer back, and body must not be used after it. release is never nil.
func readBodyPooled(w http.ResponseWriter, r *http.Request, limit int64, tooLarge string) (body []byte, release func(), err error) {
	bp := bodyPool.Get().(*[]byte)
	buf := (*bp)[:0]
	if n := r.ContentLength; n > 0 && n <= limit && int64(cap(buf)) < n+1 {
		buf = make([]byte, 0, n+1) // +1: EOF is read without growing
	}
	release = func() {
		if cap(buf) <= maxPooledBody {
			*bp = buf[:0]
			bodyPool.Put(bp)
		}
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if rerr == io.EOF {
			return buf, release, nil
		}
		if rerr != nil {
			release()
			return nil, func() {}, bodyError(rerr, tooLarge)
		}
	}
}

// submitReadingsSize is about the length of appendSubmitReadings(nil, e,
// res), so that the answer is written into one allocation: refused
// readings each carry an error message, and growing the buffer by
// doubling showed in the profiles of an overloaded node.
func submitReadingsSize(e *Error, res *SubmitReadingsResult) int {
	size := 96 // {"accepted":…,"rejected":…,"retry_after_ms":…,"results":[]}
	if e != nil {
		size += 32 + len(e.Message) + len(e.Code)
	}
	for i := range res.Results {
		r := &res.Results[i]
		// {"hash":"<64 hex>","seq":<20 digits>}, and an error and code
		size += 104
		if r.Error != "" {
			size += 12 + len(r.Error) + len(r.Error)/8 // a little room for escapes
		}
		if r.Code != "" {
			size += 11 + len(r.Code)
		}
	}
	return size
}

// appendSubmitReadings appends res as json.Encoder writes it (newline
// included, HTML escaped), led by e's message and code when e is not nil
// (the answer of a batch refused whole: its wait is res.RetryAfterMs).
// TestAppendSubmitReadings holds it to encoding/json's bytes.
func appendSubmitReadings(b []byte, e *Error, res *SubmitReadingsResult) []byte {
	b = append(b, '{')
	if e != nil {
		b = append(b, `"error":`...)
		b = appendJSONString(b, e.Message)
		b = append(b, `,"code":`...)
		b = appendJSONString(b, e.Code)
		b = append(b, ',')
	}
	b = append(b, `"accepted":`...)
	b = strconv.AppendInt(b, int64(res.Accepted), 10)
	b = append(b, `,"rejected":`...)
	b = strconv.AppendInt(b, int64(res.Rejected), 10)
	if res.RetryAfterMs != 0 {
		b = append(b, `,"retry_after_ms":`...)
		b = strconv.AppendInt(b, res.RetryAfterMs, 10)
	}
	b = append(b, `,"results":`...)
	if res.Results == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range res.Results {
			r := &res.Results[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"hash":"`...)
			b = hex.AppendEncode(b, r.Hash[:])
			b = append(b, '"')
			if r.Seq != 0 {
				b = append(b, `,"seq":`...)
				b = strconv.AppendUint(b, r.Seq, 10)
			}
			if r.Error != "" {
				b = append(b, `,"error":`...)
				b = appendJSONString(b, r.Error)
			}
			if r.Code != "" {
				b = append(b, `,"code":`...)
				b = appendJSONString(b, r.Code)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}', '\n')
}

// appendJSONString appends s as a JSON string, as encoding/json writes it.
// Printable ASCII with nothing to escape is copied; anything else goes
// through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil { // a string always encodes
				panic(err)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
