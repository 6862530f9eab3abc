package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/events"
	"github.com/waterchain/waterchain/node/imaging"
)

// Options configure the server.
type Options struct {
	MaxBodyBytes int64        // largest request body; default 8 MiB
	Logger       *slog.Logger // default slog.Default()
	// Extra mounts more handlers (the dashboard at "/", "/metrics").
	Extra func(r chi.Router)
	// MaxImageBytes is the largest image upload (config images.max_bytes);
	// default 4 MiB.
	MaxImageBytes int64
}

// NewHandler returns the HTTP handler of the API.
func NewHandler(b Backend, opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 8 << 20
	}
	if opts.MaxImageBytes <= 0 {
		opts.MaxImageBytes = 4 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &server{b: b, opts: opts, log: opts.Logger}
	r := chi.NewRouter()
	top := r
	r.Use(s.recoverer)
	r.Route("/v1", func(r chi.Router) {
		for _, rt := range s.routes() {
			rt := rt
			if !slices.Contains(s.methods, rt.method) {
				s.methods = append(s.methods, rt.method)
			}
			r.MethodFunc(rt.method, strings.TrimPrefix(rt.path, "/v1"), func(w http.ResponseWriter, req *http.Request) {
				q := &request{Request: req, route: &rt}
				if err := q.checkQuery(); err != nil {
					s.fail(w, err)
					return
				}
				rt.serve(w, q)
			})
		}
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			s.fail(w, NotFound("no API route %s %s; see GET /v1/openapi.json or the README's HTTP API table", r.Method, r.URL.Path))
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
			allowed := s.allowed(top, req.URL.Path)
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			s.fail(w, Errorf(http.StatusMethodNotAllowed, CodeBadRequest, "%s is not allowed on %s; it answers %s", req.Method, req.URL.Path, strings.Join(allowed, ", ")))
		})
	})
	if opts.Extra != nil {
		opts.Extra(r)
	}
	return r
}

// allowed lists the methods the API routes path for, for a 405's Allow.
func (s *server) allowed(mux chi.Routes, path string) []string {
	var out []string
	for _, m := range s.methods {
		if mux.Match(chi.NewRouteContext(), m, path) {
			out = append(out, m)
		}
	}
	return out
}

type server struct {
	// methods are those of the route table, in the order first used.
	methods []string
	b       Backend
	opts    Options
	log     *slog.Logger
}

func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("api handler panicked", "path", r.URL.Path, "panic", v)
				s.fail(w, errors.New("internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *server) reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	if err := enc.Encode(v); err != nil {
		s.log.Debug("api: writing answer", "err", err)
	}
}

// replyJSON writes data, a JSON value encoded already, as s.reply would
// write it.
func (s *server) replyJSON(w http.ResponseWriter, status int, data []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if _, err := w.Write(data); err != nil {
		s.log.Debug("api: writing answer", "err", err)
	}
}

func (s *server) fail(w http.ResponseWriter, err error) {
	status, code, retry := statusOf(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		s.log.Error("api: internal error", "err", err)
	}
	s.reply(w, status, Error{Message: msg, Code: code, RetryAfterMs: setRetryAfter(w.Header(), retry)})
}

// answer replies 200 with v, or the error.
func (s *server) answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		s.fail(w, err)
		return
	}
	s.reply(w, http.StatusOK, v)
}

// nonNil makes an absent list answer [] rather than null.
func nonNil[T any](v []T, err error) ([]T, error) {
	if v == nil && err == nil {
		v = []T{}
	}
	return v, err
}

func (s *server) status(w http.ResponseWriter, q *request) {
	st, err := s.b.Status(q.Context())
	s.answer(w, st, err)
}

func (s *server) block(w http.ResponseWriter, q *request) {
	v := q.value("lane")
	lane, err := chain.ParseLane(v)
	if err != nil {
		s.fail(w, bad("lane", v, err))
		return
	}
	var height uint64
	if h := q.value("height"); h != "latest" {
		height, err = strconv.ParseUint(h, 10, 64)
		if err != nil || height == 0 {
			s.fail(w, bad("height", h, errors.New(`want a number from 1, or "latest"`)))
			return
		}
	}
	if acceptsCBOR(q.Request) {
		raw, err := s.b.EncodedBlock(lane, height)
		if err != nil {
			s.fail(w, err)
			return
		}
		w.Header().Set("Content-Type", ContentTypeCBOR)
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write(raw); err != nil {
			s.log.Debug("api: writing answer", "err", err)
		}
		return
	}
	b, err := s.b.Block(lane, height)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.reply(w, http.StatusOK, BlockView{Hash: b.Hash(), Block: b})
}

// ContentTypeCBOR is the media type of a block in its canonical CBOR
// encoding (RFC 8949), which GET /v1/blocks answers to a request that
// accepts it.
const ContentTypeCBOR = "application/cbor"

// acceptsCBOR reports whether r's Accept header names application/cbor,
// with a weight other than q=0 ("not acceptable", RFC 9110 12.4.2).
// Errors stay JSON. A client verifying blocks gets the bytes their hash
// and signatures cover, and a node serves them from its store without
// decoding or encoding the block.
func acceptsCBOR(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, params, err := mime.ParseMediaType(part)
			if err != nil || mt != ContentTypeCBOR {
				continue
			}
			q, err := strconv.ParseFloat(params["q"], 64)
			return err != nil || q != 0 // no weight, or one above 0
		}
	}
	return false
}

// BlockView is a block as the API serves it: with its hash.
type BlockView struct {
	Hash chain.Hash `json:"hash"`
	*chain.Block
}

// readBody reads a request body up to limit bytes; tooLarge is the
// message of a 413, given the limit.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, tooLarge string) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, limit)
	var body []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= limit {
		// The declared length, read into one allocation (io.ReadAll's
		// doubling copied and zeroed large bodies several times over).
		body = make([]byte, n)
		_, err = io.ReadFull(rd, body)
	} else {
		body, err = io.ReadAll(rd)
	}
	if err != nil {
		return nil, bodyError(err, tooLarge)
	}
	return body, nil
}

// bodyError is the answer to a failed body read: 413 with tooLarge past
// the limit, else 400.
func bodyError(err error, tooLarge string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, tooLarge, mbe.Limit)
	}
	return BadRequest("reading the request body: %v", err)
}

func (s *server) postReadings(w http.ResponseWriter, q *request) {
	if err := s.b.ReadingsRoom(); err != nil {
		// Refused whole before the body is decoded: a refusal costs no
		// work per reading. The body is drained (to its limit) so that
		// the connection can carry the client's next request.
		io.Copy(io.Discard, http.MaxBytesReader(w, q.Body, s.opts.MaxBodyBytes))
		s.fail(w, err)
		return
	}
	body, release, err := readBodyPooled(w, q.Request, s.opts.MaxBodyBytes, "request body exceeds %d bytes; send smaller batches")
	if err != nil {
		s.fail(w, err)
		return
	}
	// The decoded readings do not alias body (Door.DecodeReadings), so
	// its buffer serves the next request once this one is answered.
	defer release()
	rs, err := s.b.DecodeReadings(q.Header.Get("Content-Type"), body)
	if err != nil {
		var he *HTTPError
		if !errors.As(err, &he) {
			err = BadRequest("%v", err)
		}
		s.fail(w, err)
		return
	}
	if len(rs) == 0 {
		s.fail(w, BadRequest("no readings in the request"))
		return
	}
	hashes, errs := s.b.SubmitReadingsHashed(rs)
	res := SubmitReadingsResult{Results: make([]EntryResult, len(rs))}
	var firstErr error
	var retry time.Duration // the longest of the refusals for now
	for i, rd := range rs {
		h := hashes[i]
		if h.IsZero() {
			h = rd.Hash()
		}
		res.Results[i] = EntryResult{Hash: h, Seq: rd.Seq}
		if errs[i] != nil {
			_, code, after := statusOf(errs[i])
			retry = max(retry, after)
			res.Results[i].Error, res.Results[i].Code = errs[i].Error(), code
			res.Rejected++
			if firstErr == nil {
				firstErr = errs[i]
			}
			continue
		}
		res.Accepted++
	}
	// The answer is written by appendSubmitReadings, byte for byte what
	// s.reply would write, without reflection: it names every reading.
	status := http.StatusAccepted
	var e *Error
	switch {
	case res.Rejected == 0:
	case res.Accepted > 0:
		status = http.StatusMultiStatus
	default:
		status, _, _ = statusOf(firstErr)
		e = &Error{Message: firstErr.Error(), Code: res.Results[0].Code}
	}
	res.RetryAfterMs = setRetryAfter(w.Header(), retry)
	s.replyJSON(w, status, appendSubmitReadings(make([]byte, 0, submitReadingsSize(e, &res)), e, &res))
}

func (s *server) getReadings(w http.ResponseWriter, q *request) {
	var rq ReadingQuery
	var err error
	if rq.Device, err = q.pubKey("device", true); err != nil {
		s.fail(w, err)
		return
	}
	if rq.Seq, err = q.uint("seq", 1, math.MaxUint64, 0); err != nil {
		s.fail(w, err)
		return
	}
	if rq.From, err = q.time("from"); err != nil {
		s.fail(w, err)
		return
	}
	if rq.To, err = q.time("to"); err != nil {
		s.fail(w, err)
		return
	}
	limit, err := q.uint("limit", 1, 10_000, 100)
	if err != nil {
		s.fail(w, err)
		return
	}
	rq.Limit = int(limit)
	out, err := nonNil(s.b.Readings(rq))
	s.answer(w, Readings{Readings: out}, err)
}

func (s *server) readingStatus(w http.ResponseWriter, q *request) {
	h, err := q.hash("hash")
	if err != nil {
		s.fail(w, err)
		return
	}
	st, err := s.b.ReadingStatus(h)
	s.answer(w, st, err)
}

// putImage answers PUT /v1/images/{hash}: the body is the JPEG or PNG file
// of a reading's image_hash, sent with its Content-Type.
func (s *server) putImage(w http.ResponseWriter, q *request) {
	h, err := q.hash("hash")
	if err != nil {
		s.fail(w, err)
		return
	}
	ctype, _, err := mime.ParseMediaType(q.Header.Get("Content-Type"))
	if err != nil || (ctype != "image/jpeg" && ctype != "image/png") {
		s.fail(w, Errorf(http.StatusUnsupportedMediaType, CodeBadImage,
			"Content-Type %q: send the image as image/jpeg or image/png", q.Header.Get("Content-Type")))
		return
	}
	body, err := readBody(w, q.Request, s.opts.MaxImageBytes, "image too large: over %d bytes (config images.max_bytes); lower the camera's resolution or JPEG quality")
	if err != nil {
		s.fail(w, err)
		return
	}
	if f, err := imaging.Sniff(body); err == nil && f.MIMEType() != ctype {
		s.fail(w, Errorf(http.StatusUnsupportedMediaType, CodeBadImage,
			"Content-Type is %s but the body is a %s file", ctype, f.MIMEType()))
		return
	}
	if err := s.b.PutImage(h, body); err != nil {
		s.fail(w, err)
		return
	}
	s.reply(w, http.StatusCreated, ImageStored{Hash: h, Bytes: len(body)})
}

// file serves bytes: an image, immutable under its hash.
func (s *server) file(w http.ResponseWriter, f File, err error) {
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", f.ContentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(f.Body)
}

func (s *server) image(w http.ResponseWriter, q *request) {
	h, err := q.hash("hash")
	if err != nil {
		s.fail(w, err)
		return
	}
	f, err := s.b.Image(h)
	s.file(w, f, err)
}

func (s *server) imageOverlay(w http.ResponseWriter, q *request) {
	h, err := q.hash("hash")
	if err != nil {
		s.fail(w, err)
		return
	}
	f, err := s.b.ImageOverlay(h)
	s.file(w, f, err)
}

func (s *server) imageAnalysis(w http.ResponseWriter, q *request) {
	h, err := q.hash("hash")
	if err != nil {
		s.fail(w, err)
		return
	}
	rep, err := s.b.ImageAnalysis(h)
	s.answer(w, rep, err)
}

func (s *server) postTx(w http.ResponseWriter, q *request) {
	body, err := readBody(w, q.Request, s.opts.MaxBodyBytes, "request body exceeds %d bytes")
	if err != nil {
		s.fail(w, err)
		return
	}
	var tx chain.Tx
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tx); err != nil {
		s.fail(w, BadRequest("transaction JSON: %v", err))
		return
	}
	if dec.More() {
		s.fail(w, BadRequest("transaction JSON: trailing data after the transaction"))
		return
	}
	if err := tx.ValidateBasic(); err != nil {
		s.fail(w, BadRequest("%v", err))
		return
	}
	if err := s.b.SubmitTx(&tx); err != nil {
		s.fail(w, err)
		return
	}
	s.reply(w, http.StatusAccepted, SubmitTxResult{Hash: tx.Hash()})
}

func (s *server) getTx(w http.ResponseWriter, q *request) {
	h, err := q.hash("hash")
	if err != nil {
		s.fail(w, err)
		return
	}
	st, err := s.b.TxStatus(h)
	s.answer(w, st, err)
}

func (s *server) account(w http.ResponseWriter, q *request) {
	a, err := q.address("address", true)
	if err != nil {
		s.fail(w, err)
		return
	}
	acct, err := s.b.Account(a)
	s.answer(w, acct, err)
}

func (s *server) device(w http.ResponseWriter, q *request) {
	k, err := q.pubKey("key", true)
	if err != nil {
		s.fail(w, err)
		return
	}
	d, err := s.b.Device(k)
	s.answer(w, d, err)
}

func (s *server) industries(w http.ResponseWriter, _ *request) {
	v, err := nonNil(s.b.Industries())
	s.answer(w, v, err)
}

func (s *server) industry(w http.ResponseWriter, q *request) {
	a, err := q.address("address", true)
	if err != nil {
		s.fail(w, err)
		return
	}
	v, err := s.b.Industry(a)
	s.answer(w, v, err)
}

func (s *server) offers(w http.ResponseWriter, _ *request) {
	v, err := nonNil(s.b.Offers())
	s.answer(w, v, err)
}

func (s *server) trades(w http.ResponseWriter, q *request) {
	page, err := q.page()
	if err != nil {
		s.fail(w, err)
		return
	}
	v, err := nonNil(s.b.Trades(page))
	s.answer(w, v, err)
}

// settledPeriod is the period parameter, defaulting to the last settled
// period.
func (s *server) settledPeriod(q *request) (int64, error) {
	periods, err := s.b.Periods()
	if err != nil {
		return 0, err
	}
	if q.value("period") != "" {
		return q.period("period", periods)
	}
	last, ok, err := s.b.LastSettledPeriod()
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, NotFound("no period has been settled yet; the first closes at %s", periods.End(0))
	}
	return last, nil
}

func (s *server) settlements(w http.ResponseWriter, q *request) {
	p, err := s.settledPeriod(q)
	if err != nil {
		s.fail(w, err)
		return
	}
	v, err := nonNil(s.b.Settlements(p))
	s.answer(w, v, err)
}

func (s *server) leaderboard(w http.ResponseWriter, q *request) {
	p, err := s.settledPeriod(q)
	if err != nil {
		s.fail(w, err)
		return
	}
	v, err := nonNil(s.b.Leaderboard(p))
	s.answer(w, v, err)
}

func (s *server) alerts(w http.ResponseWriter, q *request) {
	var f alerts.Filter
	var err error
	if f.Device, err = q.pubKey("device", false); err != nil {
		s.fail(w, err)
		return
	}
	if f.Industry, err = q.address("industry", false); err != nil {
		s.fail(w, err)
		return
	}
	kind, err := q.oneOf("kind", alertKinds())
	if err != nil {
		s.fail(w, err)
		return
	}
	f.Kind = alerts.Kind(kind)
	if f.Since, err = q.time("since"); err != nil {
		s.fail(w, err)
		return
	}
	limit, err := q.uint("limit", 1, MaxAlerts, 200)
	if err != nil {
		s.fail(w, err)
		return
	}
	f.Limit = int(limit)
	before, err := q.alertCursor("before")
	if err != nil {
		s.fail(w, err)
		return
	}
	v, next, err := s.b.Alerts(AlertQuery{Filter: f, Before: before})
	if err == nil && next != nil {
		u := *q.URL
		params := u.Query()
		params.Set("before", next.String())
		u.RawQuery = params.Encode()
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", u.RequestURI()))
	}
	s.answer(w, nonNilSlice(v), err)
}

func nonNilSlice[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// MaxAlerts is the largest limit of GET /v1/alerts: the alerts a node
// keeps.
const MaxAlerts = 20_000

func (s *server) evidence(w http.ResponseWriter, q *request) {
	page, err := q.page()
	if err != nil {
		s.fail(w, err)
		return
	}
	v, err := nonNil(s.b.Evidence(page))
	s.answer(w, v, err)
}

func (s *server) validators(w http.ResponseWriter, _ *request) {
	v, err := nonNil(s.b.Validators())
	s.answer(w, v, err)
}

func (s *server) proof(w http.ResponseWriter, q *request) {
	dev, err := q.pubKey("device", true)
	if err != nil {
		s.fail(w, err)
		return
	}
	seq, err := q.uint("seq", 1, math.MaxUint64, 0)
	if err == nil && seq == 0 {
		err = bad("seq", "", errors.New("want a number from 1"))
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	p, err := s.b.ReadingProof(dev, seq)
	s.answer(w, p, err)
}

func (s *server) report(w http.ResponseWriter, q *request) {
	periods, err := s.b.Periods()
	if err != nil {
		s.fail(w, err)
		return
	}
	p, err := q.period("period", periods)
	if err != nil {
		s.fail(w, err)
		return
	}
	rep, err := s.b.Report(p)
	s.answer(w, rep, err)
}

func (s *server) auditStatus(w http.ResponseWriter, _ *request) {
	st, err := s.b.AuditStatus()
	s.answer(w, st, err)
}

// events streams server-sent events: one "event: KIND" and "data: JSON"
// per event; a comment line every 15 s keeps proxies from closing it. A
// subscriber too slow for the node loses events and is told with an
// "event: dropped" whose data counts them.
func (s *server) events(w http.ResponseWriter, q *request) {
	var f events.Filter
	var err error
	if f.Kinds, err = q.list("kind", []string{events.KindBlock, events.KindAlert, events.KindFinal}); err != nil {
		s.fail(w, err)
		return
	}
	if f.Device, err = q.pubKey("device", false); err != nil {
		s.fail(w, err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		s.fail(w, errors.New("streaming unsupported"))
		return
	}
	sub := s.b.Events().SubscribeFiltered(256, f)
	defer sub.Close()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": waterchain events\n\n")
	fl.Flush()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	var dropped uint64
	for {
		select {
		case <-q.Context().Done():
			return
		case <-keepAlive.C:
			fmt.Fprintf(w, ": keep-alive\n\n")
			fl.Flush()
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			if d := sub.Dropped(); d != dropped {
				fmt.Fprintf(w, "event: dropped\ndata: {\"dropped\":%d}\n\n", d-dropped)
				dropped = d
			}
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Kind, ev.Data)
			fl.Flush()
		}
	}
}
