package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/events"
	"github.com/waterchain/waterchain/node/imaging"
)

// Backend is what the server needs from a node. Methods are called from
// many goroutines at once. Errors that are not *HTTPError are answered 500.
type Backend interface {
	Status(ctx context.Context) (Status, error)
	// Block returns a finalized block with its certificate; height 0 means
	// the latest.
	Block(lane chain.Lane, height uint64) (*chain.Block, error)
	// DecodeReadings turns a request body into readings (native JSON or
	// SenML, by content type).
	DecodeReadings(contentType string, body []byte) ([]*chain.Reading, error)
	// SubmitReadingsHashed checks each reading at the door and queues the
	// good ones; one error (nil for accepted) per reading, and each
	// reading's hash (zero where it was rejected before being hashed).
	SubmitReadingsHashed(rs []*chain.Reading) ([]chain.Hash, []error)
	SubmitTx(tx *chain.Tx) error
	TxStatus(h chain.Hash) (TxStatus, error)
	Readings(q ReadingQuery) ([]Reading, error)
	Account(a chain.Address) (Account, error)
	Device(k chain.PubKey) (Device, error)
	// PutImage stores the camera image whose SHA-256 is hash, once a
	// reading waiting or final names it and the file passes the decoder's
	// checks; uploading a held image again succeeds. Refusals are
	// *HTTPError (413, 415, 422) naming the reason; nothing is stored.
	PutImage(hash chain.Hash, body []byte) error
	// Query answers the read-only routes whose shape belongs to other
	// packages (industries, offers, settlements, alerts, proofs, reports):
	// name is the route name, params its path and query parameters.
	Query(name string, params map[string]string) (any, error)
	Events() *events.Hub
}

// ReadingQuery selects finalized readings of one device.
type ReadingQuery struct {
	Device chain.PubKey
	Seq    uint64 // one reading when set
	From   chain.Time
	To     chain.Time // exclusive; 0: no bound
	Limit  int
}

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
	r.Use(s.recoverer)
	r.Route("/v1", func(r chi.Router) {
		r.Get("/status", s.status)
		r.Get("/blocks/{lane}/{height}", s.block)
		r.Post("/readings", s.postReadings)
		r.Get("/readings", s.getReadings)
		r.Post("/txs", s.postTx)
		r.Get("/txs/{hash}", s.getTx)
		r.Get("/accounts/{address}", s.account)
		r.Get("/devices/{key}", s.device)
		r.Get("/events", s.events)
		r.Put("/images/{hash}", s.putImage)
		for _, q := range []struct{ route, name string }{
			{"/industries", "industries"},
			{"/industries/{address}", "industry"},
			{"/market/offers", "offers"},
			{"/market/trades", "trades"},
			{"/settlements", "settlements"},
			{"/leaderboard", "leaderboard"},
			{"/alerts", "alerts"},
			{"/evidence", "evidence"},
			{"/proofs/readings/{device}/{seq}", "proof"},
			{"/reports/{period}", "report"},
			{"/validators", "validators"},
			{"/audit", "audit"},
			{"/images/{hash}", "image"},
			{"/images/{hash}/analysis", "image_analysis"},
			{"/images/{hash}/overlay", "image_overlay"},
		} {
			r.Get(q.route, s.query(q.name))
		}
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			s.fail(w, NotFound("no API route %s %s; see the README's HTTP API table", r.Method, r.URL.Path))
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			s.fail(w, Errorf(http.StatusMethodNotAllowed, CodeBadRequest, "%s is not allowed on %s", r.Method, r.URL.Path))
		})
	})
	if opts.Extra != nil {
		opts.Extra(r)
	}
	return r
}

type server struct {
	b    Backend
	opts Options
	log  *slog.Logger
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

func (s *server) fail(w http.ResponseWriter, err error) {
	status, code, retry := statusOf(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		s.log.Error("api: internal error", "err", err)
	}
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	s.reply(w, status, Error{Message: msg, Code: code})
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.b.Status(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	s.reply(w, http.StatusOK, st)
}

func (s *server) block(w http.ResponseWriter, r *http.Request) {
	lane, err := chain.ParseLane(chi.URLParam(r, "lane"))
	if err != nil {
		s.fail(w, BadRequest("%v", err))
		return
	}
	var height uint64
	if h := chi.URLParam(r, "height"); h != "latest" {
		height, err = strconv.ParseUint(h, 10, 64)
		if err != nil || height == 0 {
			s.fail(w, BadRequest("height %q: want a number from 1, or \"latest\"", h))
			return
		}
	}
	b, err := s.b.Block(lane, height)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.reply(w, http.StatusOK, BlockView{Hash: b.Hash(), Block: b})
}

// BlockView is a block as the API serves it: with its hash.
type BlockView struct {
	Hash chain.Hash `json:"hash"`
	*chain.Block
}

// readBody reads a request body up to the size limit.
func (s *server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body exceeds %d bytes; send smaller batches", mbe.Limit)
		}
		return nil, BadRequest("reading the request body: %v", err)
	}
	return body, nil
}

func (s *server) postReadings(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, err)
		return
	}
	rs, err := s.b.DecodeReadings(r.Header.Get("Content-Type"), body)
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
	for i, rd := range rs {
		h := hashes[i]
		if h.IsZero() {
			h = rd.Hash()
		}
		res.Results[i] = EntryResult{Hash: h, Seq: rd.Seq}
		if errs[i] != nil {
			_, code, _ := statusOf(errs[i])
			res.Results[i].Error, res.Results[i].Code = errs[i].Error(), code
			res.Rejected++
			if firstErr == nil {
				firstErr = errs[i]
			}
			continue
		}
		res.Accepted++
	}
	switch {
	case res.Rejected == 0:
		s.reply(w, http.StatusAccepted, res)
	case res.Accepted > 0:
		s.reply(w, http.StatusMultiStatus, res)
	default:
		status, _, retry := statusOf(firstErr)
		if retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
		}
		s.reply(w, status, struct {
			Error
			SubmitReadingsResult
		}{Error{Message: firstErr.Error(), Code: res.Results[0].Code}, res})
	}
}

func (s *server) getReadings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var rq ReadingQuery
	var err error
	if rq.Device, err = chain.ParsePubKey(q.Get("device")); err != nil {
		s.fail(w, BadRequest("device: %v (GET /v1/readings?device=HEX&from=RFC3339&to=RFC3339)", err))
		return
	}
	if v := q.Get("seq"); v != "" {
		if rq.Seq, err = strconv.ParseUint(v, 10, 64); err != nil {
			s.fail(w, BadRequest("seq %q: want a number", v))
			return
		}
	}
	for _, p := range []struct {
		name string
		dst  *chain.Time
	}{{"from", &rq.From}, {"to", &rq.To}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				s.fail(w, BadRequest("%s %q: want RFC 3339 such as 2026-11-29T10:00:00Z", p.name, v))
				return
			}
			*p.dst = chain.TimeOf(t)
		}
	}
	rq.Limit = 100
	if v := q.Get("limit"); v != "" {
		if rq.Limit, err = strconv.Atoi(v); err != nil || rq.Limit < 1 || rq.Limit > 10_000 {
			s.fail(w, BadRequest("limit %q: want 1 to 10000", v))
			return
		}
	}
	out, err := s.b.Readings(rq)
	if err != nil {
		s.fail(w, err)
		return
	}
	if out == nil {
		out = []Reading{}
	}
	s.reply(w, http.StatusOK, Readings{Readings: out})
}

// putImage answers PUT /v1/images/{hash}: the body is the JPEG or PNG file
// of a reading's image_hash, sent with its Content-Type.
func (s *server) putImage(w http.ResponseWriter, r *http.Request) {
	h, err := chain.ParseHash(chi.URLParam(r, "hash"))
	if err != nil {
		s.fail(w, BadRequest("image hash: %v (PUT /v1/images/{sha256 hex of the file})", err))
		return
	}
	ctype, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (ctype != "image/jpeg" && ctype != "image/png") {
		s.fail(w, Errorf(http.StatusUnsupportedMediaType, CodeBadImage,
			"Content-Type %q: send the image as image/jpeg or image/png", r.Header.Get("Content-Type")))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxImageBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge,
				"image too large: over %d bytes (config images.max_bytes); lower the camera's resolution or JPEG quality", mbe.Limit))
			return
		}
		s.fail(w, BadRequest("reading the image: %v", err))
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

func (s *server) postTx(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, err)
		return
	}
	var tx chain.Tx
	dec := json.NewDecoder(strings.NewReader(string(body)))
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

func (s *server) getTx(w http.ResponseWriter, r *http.Request) {
	h, err := chain.ParseHash(chi.URLParam(r, "hash"))
	if err != nil {
		s.fail(w, BadRequest("%v", err))
		return
	}
	st, err := s.b.TxStatus(h)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.reply(w, http.StatusOK, st)
}

func (s *server) account(w http.ResponseWriter, r *http.Request) {
	a, err := chain.ParseAddress(chi.URLParam(r, "address"))
	if err != nil {
		s.fail(w, BadRequest("%v", err))
		return
	}
	acct, err := s.b.Account(a)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.reply(w, http.StatusOK, acct)
}

func (s *server) device(w http.ResponseWriter, r *http.Request) {
	k, err := chain.ParsePubKey(chi.URLParam(r, "key"))
	if err != nil {
		s.fail(w, BadRequest("%v", err))
		return
	}
	d, err := s.b.Device(k)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.reply(w, http.StatusOK, d)
}

func (s *server) query(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		params := map[string]string{}
		for k, v := range r.URL.Query() {
			if len(v) > 0 {
				params[k] = v[0]
			}
		}
		if rc := chi.RouteContext(r.Context()); rc != nil {
			for i, k := range rc.URLParams.Keys {
				params[k] = rc.URLParams.Values[i]
			}
		}
		v, err := s.b.Query(name, params)
		if err != nil {
			s.fail(w, err)
			return
		}
		if raw, ok := v.(RawResponse); ok {
			w.Header().Set("Content-Type", raw.ContentType)
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			_, _ = w.Write(raw.Body)
			return
		}
		s.reply(w, http.StatusOK, v)
	}
}

// RawResponse is a Query answer served as bytes (images) instead of JSON.
type RawResponse struct {
	ContentType string
	Body        []byte
}

// events streams server-sent events: one "event: KIND" and "data: JSON"
// per event; a comment line every 15 s keeps proxies from closing it.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		s.fail(w, errors.New("streaming unsupported"))
		return
	}
	sub := s.b.Events().Subscribe(256)
	defer sub.Close()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": waterchain events\n\n")
	fl.Flush()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepAlive.C:
			fmt.Fprintf(w, ": keep-alive\n\n")
			fl.Flush()
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Kind, ev.Data)
			fl.Flush()
		}
	}
}
