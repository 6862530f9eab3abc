package api

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CodeBusy answers a request refused because a budget shared by all
// clients (connections, body bytes, signature checks) is spent for now:
// 429 or 503 with Retry-After.
const CodeBusy = "busy"

// LimitOptions bound what clients may hold of the server. A client is an
// IP address: behind a reverse proxy every client is the proxy, so raise
// the per-client values to the totals there.
type LimitOptions struct {
	// MaxConns is the number of open connections, all clients together;
	// a connection past it is answered 503 at once and closed, without
	// its request being read.
	MaxConns int
	// MaxConnsPerClient is the number of open connections of one client.
	MaxConnsPerClient int
	// ReservedConns of MaxConns are kept for clients that hold at most
	// lightConns connections (a status probe, a dashboard), so that a few
	// clients holding many connections cannot take all of them.
	ReservedConns int
	// MaxBodyBytes is the largest body of POST and PUT requests other
	// than image uploads, MaxImageBytes that of PUT /v1/images/{hash}. A
	// larger declared Content-Length is refused 413 before the body is
	// read.
	MaxBodyBytes  int64
	MaxImageBytes int64
	// BodyBytes and BodyBytesPerClient bound the request bodies being
	// read, decoded and checked at once (all clients, one client). A
	// request whose declared length (or, when undeclared, its route's
	// limit) does not fit is refused 429 with Retry-After before its body
	// is read.
	BodyBytes          int64
	BodyBytesPerClient int64
	// StreamWriteTimeout is how long each write of a streamed answer
	// (/v1/events) may take; the server's WriteTimeout, which bounds a
	// whole answer, does not apply to streams.
	StreamWriteTimeout time.Duration
}

// lightConns is how many connections a client may hold and still use the
// reserved ones.
const lightConns = 2

// maxRefusing bounds the connections being answered 503 at once; past it a
// refused connection is reset without an answer, so that refusing cannot
// itself hold many file descriptors.
const maxRefusing = 64

// Limiter enforces LimitOptions: Listener caps connections, Handler caps
// request bodies and lets streams outlive the write timeout. Its methods
// are safe for concurrent use.
type Limiter struct {
	opts LimitOptions

	mu        sync.Mutex     // guards conns, perClient
	conns     int            // open connections admitted
	perClient map[string]int // open connections per client

	bodies budget

	refusing     atomic.Int64
	refusedConns atomic.Uint64
	refusedBusy  atomic.Uint64
	refusedLarge atomic.Uint64
}

// NewLimiter returns a Limiter enforcing o. Zero or negative values
// disable the matching limit.
func NewLimiter(o LimitOptions) *Limiter {
	return &Limiter{
		opts:      o,
		perClient: make(map[string]int),
		bodies:    budget{total: o.BodyBytes, perClient: o.BodyBytesPerClient, held: make(map[string]int64)},
	}
}

// LimiterStats are a Limiter's counters, for metrics.
type LimiterStats struct {
	OpenConns    int    // connections open now
	RefusedConns uint64 // connections refused at the cap (503 or reset)
	BodyBytes    int64  // request body bytes held now
	RefusedBusy  uint64 // requests refused 429: the body budget was spent
	RefusedLarge uint64 // requests refused 413 by their declared length
}

// Stats returns the counters.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	open := l.conns
	l.mu.Unlock()
	return LimiterStats{
		OpenConns: open, RefusedConns: l.refusedConns.Load(), BodyBytes: l.bodies.inUse(),
		RefusedBusy: l.refusedBusy.Load(), RefusedLarge: l.refusedLarge.Load(),
	}
}

// clientOf is the client a remote address counts against: its IP.
func clientOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// Listener wraps ln so that it admits connections within the caps. A
// connection over a cap is answered 503 (code busy, Retry-After: 1) and
// closed by a goroutine of its own; Accept goes on to the next one.
func (l *Limiter) Listener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, l: l}
}

type limitListener struct {
	net.Listener
	l *Limiter
}

func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := clientOf(c.RemoteAddr())
		if ll.l.admit(client) {
			return &limitedConn{Conn: c, l: ll.l, client: client}, nil
		}
		ll.l.refusedConns.Add(1)
		ll.l.refuse(c)
	}
}

// admit counts a new connection of client if the caps allow it.
func (l *Limiter) admit(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	held := l.perClient[client]
	switch {
	case l.opts.MaxConnsPerClient > 0 && held >= l.opts.MaxConnsPerClient:
		return false
	case l.opts.MaxConns > 0 && l.conns >= l.opts.MaxConns:
		return false
	case l.opts.MaxConns > 0 && l.conns >= l.opts.MaxConns-l.opts.ReservedConns && held >= lightConns:
		return false
	}
	l.conns++
	l.perClient[client] = held + 1
	return true
}

func (l *Limiter) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns--
	if l.perClient[client] <= 1 {
		delete(l.perClient, client)
	} else {
		l.perClient[client]--
	}
}

// busyAnswer is the whole answer to a connection over the cap.
var busyAnswer = func() []byte {
	raw, _ := json.Marshal(Error{Message: "the node has as many API connections as it allows (api.limits.max_conns, max_conns_per_client); retry in a second", Code: CodeBusy, RetryAfterMs: 1000})
	body := string(raw) + "\n"
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

// refuse answers c 503 and closes it. The answer is written before the
// request is read; the request is then drained for up to a second so that
// closing does not reset the connection before the client reads the
// answer. At most maxRefusing are answered at once; others are reset.
func (l *Limiter) refuse(c net.Conn) {
	if l.refusing.Add(1) > maxRefusing {
		l.refusing.Add(-1)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
		return
	}
	go func() {
		defer l.refusing.Add(-1)
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(busyAnswer); err != nil {
			return
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		var buf [512]byte
		for {
			if _, err := c.Read(buf[:]); err != nil {
				return
			}
		}
	}()
}

// limitedConn gives its slot back when closed.
type limitedConn struct {
	net.Conn
	l      *Limiter
	client string
	once   sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.client) })
	return err
}

// budget counts units (body bytes) held by clients against a total and a
// per-client bound. Acquiring never waits: a request that does not fit is
// refused, so nothing queues.
type budget struct {
	total, perClient int64

	mu   sync.Mutex       // guards used, held
	used int64            // held by all clients
	held map[string]int64 // held per client
}

func (b *budget) tryAcquire(client string, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if (b.total > 0 && b.used+n > b.total) || (b.perClient > 0 && b.held[client]+n > b.perClient) {
		return false
	}
	b.used += n
	b.held[client] += n
	return true
}

func (b *budget) release(client string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.held[client] -= n; b.held[client] <= 0 {
		delete(b.held, client)
	}
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// eventsPath is the streamed route.
const eventsPath = "/v1/events"

// Handler wraps next: request bodies are admitted against the body budget
// before they are read, and the event stream gets a write deadline per
// event instead of one for the whole answer.
func (l *Limiter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == eventsPath && r.Method == http.MethodGet {
			l.stream(next, w, r)
			return
		}
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		max, tooLarge := l.opts.MaxBodyBytes, "request body of %d bytes is over %d bytes (config api.limits.max_body_bytes); send smaller batches"
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/images/") {
			max, tooLarge = l.opts.MaxImageBytes, "image too large: %d bytes, over %d bytes (config images.max_bytes); lower the camera's resolution or JPEG quality"
		}
		if max > 0 && r.ContentLength > max {
			l.refusedLarge.Add(1)
			w.Header().Set("Connection", "close")
			writeError(w, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, tooLarge, r.ContentLength, max))
			return
		}
		n := r.ContentLength
		if n < 0 { // undeclared (chunked): hold the route's limit
			n = max
		}
		client := clientOf(remoteAddr(r.RemoteAddr))
		if !l.bodies.tryAcquire(client, n) {
			l.refusedBusy.Add(1)
			w.Header().Set("Connection", "close")
			e := Errorf(http.StatusTooManyRequests, CodeBusy,
				"the node is reading as many request bodies as it allows (api.limits.body_bytes, body_bytes_per_client); retry after a second")
			e.RetryAfter = time.Second
			writeError(w, e)
			return
		}
		defer l.bodies.release(client, n)
		if max > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}

// remoteAddr parses an http.Request's RemoteAddr for clientOf.
type remoteAddr string

func (a remoteAddr) Network() string { return "tcp" }
func (a remoteAddr) String() string  { return string(a) }

// writeError answers err as the server's fail does.
func writeError(w http.ResponseWriter, e *HTTPError) {
	ms := setRetryAfter(w.Header(), e.RetryAfter)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(Error{Message: e.Error(), Code: e.Code, RetryAfterMs: ms})
}

// stream serves the event stream without the server's read deadline (the
// request has no body; an expired read deadline would end the stream) and
// with a write deadline renewed before each write, so that a stream lasts
// as long as its client reads it and no longer.
func (l *Limiter) stream(next http.Handler, w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	if l.opts.StreamWriteTimeout <= 0 {
		_ = rc.SetWriteDeadline(time.Time{})
		next.ServeHTTP(w, r)
		return
	}
	next.ServeHTTP(&streamWriter{ResponseWriter: w, rc: rc, timeout: l.opts.StreamWriteTimeout}, r)
}

// streamWriter renews the write deadline before each write and flush.
type streamWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (s *streamWriter) renew() { _ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout)) }

func (s *streamWriter) WriteHeader(code int) {
	s.renew()
	s.ResponseWriter.WriteHeader(code)
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.renew()
	return s.ResponseWriter.Write(p)
}

func (s *streamWriter) Flush() {
	s.renew()
	_ = s.rc.Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (s *streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
