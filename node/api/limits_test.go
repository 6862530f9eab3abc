package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serveLimited serves h through a Limiter on a loopback port, with the
// server timeouts the node uses.
func serveLimited(t *testing.T, o LimitOptions, srv *http.Server, h http.Handler) (*Limiter, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewLimiter(o)
	srv.Handler = l.Handler(h)
	go srv.Serve(l.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return l, ln.Addr().String()
}

// dialFrom opens a connection to addr from loopback address ip, so that
// one test can play several clients.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// statusOn sends GET /v1/status on c and returns the answer's status and
// Retry-After header.
func statusOn(t *testing.T, c net.Conn) (int, string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return 0, err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
}

// TestListenerCapsConnections fills the caps with connections from two
// clients and checks that more are answered 503 at once, that a client
// holding few connections still gets one of the reserved ones, and that a
// closed connection gives its slot back.
func TestListenerCapsConnections(t *testing.T) {
	l, addr := serveLimited(t, LimitOptions{MaxConns: 8, MaxConnsPerClient: 4, ReservedConns: 2}, &http.Server{}, okHandler())
	var held []net.Conn
	hold := func(ip string, n int) {
		for i := 0; i < n; i++ {
			c := dialFrom(t, ip, addr)
			if code, _ := statusOn(t, c); code != http.StatusOK {
				t.Fatalf("%s connection %d: %d, want 200 within the caps", ip, i+1, code)
			}
			held = append(held, c)
		}
	}
	hold("127.0.0.2", 4)
	if code, retry := statusOn(t, dialFrom(t, "127.0.0.2", addr)); code != http.StatusServiceUnavailable || retry != "1" {
		t.Fatalf("fifth connection of one client: %d Retry-After %q, want 503 with Retry-After 1", code, retry)
	}
	// At six open the rest is reserved: a client holding two is refused,
	// a client holding fewer gets one.
	hold("127.0.0.3", 2)
	if code, _ := statusOn(t, dialFrom(t, "127.0.0.3", addr)); code != http.StatusServiceUnavailable {
		t.Fatalf("third connection of a client at the reserve: %d, want 503", code)
	}
	hold("127.0.0.4", 1)
	hold("127.0.0.5", 1)
	if code, _ := statusOn(t, dialFrom(t, "127.0.0.6", addr)); code != http.StatusServiceUnavailable {
		t.Fatalf("connection past max_conns: %d, want 503", code)
	}
	if st := l.Stats(); st.OpenConns != 8 || st.RefusedConns != 3 {
		t.Fatalf("stats %+v, want 8 open and 3 refused", st)
	}
	held[0].Close()
	deadline := time.Now().Add(3 * time.Second)
	for l.Stats().OpenConns != 7 {
		if time.Now().After(deadline) {
			t.Fatalf("a closed connection was not given back: %+v", l.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := statusOn(t, dialFrom(t, "127.0.0.7", addr)); code != http.StatusOK {
		t.Fatalf("after a close: %d, want 200", code)
	}
}

// TestBodyBudgetRefusesBeforeReading checks that a body declared over the
// limit is refused 413 and one over the budget 429, in both cases without
// the handler running or the body being sent.
func TestBodyBudgetRefusesBeforeReading(t *testing.T) {
	var handled atomic.Int32
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handled.Add(1)
		io.Copy(io.Discard, r.Body)
		<-release
		w.WriteHeader(http.StatusAccepted)
	})
	l, addr := serveLimited(t, LimitOptions{MaxBodyBytes: 1000, MaxImageBytes: 5000, BodyBytes: 3000, BodyBytesPerClient: 2000}, &http.Server{}, h)

	// post sends headers declaring n bytes and only the first byte of the
	// body, then reads the answer: a refusal must come without the rest.
	post := func(ip, method, path string, n int) (int, string, string) {
		c := dialFrom(t, ip, addr)
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n[", method, path, n)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, "", err.Error()
		}
		defer resp.Body.Close()
		var e Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, resp.Header.Get("Retry-After"), e.Code
	}
	if code, _, ecode := post("127.0.0.2", "POST", "/v1/readings", 1001); code != http.StatusRequestEntityTooLarge || ecode != CodeTooLarge {
		t.Fatalf("declared 1001 bytes over 1000: %d %q, want 413 too_large", code, ecode)
	}

	// Two bodies of 1000 bytes fill 127.0.0.2's budget; they wait in the
	// handler until release.
	done := make(chan int, 2)
	for i := 0; i < 2; i++ {
		go func() {
			c := dialFrom(t, "127.0.0.2", addr)
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "POST /v1/readings HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n%s", strings.Repeat("x", 1000))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	deadline := time.Now().Add(3 * time.Second)
	for handled.Load() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 bodies reached the handler", handled.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, retry, ecode := post("127.0.0.2", "POST", "/v1/txs", 10); code != http.StatusTooManyRequests || retry != "1" || ecode != CodeBusy {
		t.Fatalf("past the client's budget: %d Retry-After %q %q, want 429 busy with Retry-After 1", code, retry, ecode)
	}
	// Another client is within its own budget but not the total's 1000 left.
	if code, retry, ecode := post("127.0.0.3", "PUT", "/v1/images/ab", 1001); code != http.StatusTooManyRequests || retry != "1" || ecode != CodeBusy {
		t.Fatalf("past the total budget: %d Retry-After %q %q, want 429 busy", code, retry, ecode)
	}
	if handled.Load() != 2 {
		t.Fatalf("the handler ran for a refused request")
	}
	if st := l.Stats(); st.BodyBytes != 2000 || st.RefusedBusy != 2 || st.RefusedLarge != 1 {
		t.Fatalf("stats %+v, want 2000 bytes held, 2 busy, 1 too large", st)
	}
	close(release)
	for i := 0; i < 2; i++ {
		if code := <-done; code != http.StatusAccepted {
			t.Fatalf("body within the budget: %d, want 202", code)
		}
	}
	deadline = time.Now().Add(3 * time.Second)
	for l.Stats().BodyBytes != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("budget not given back: %+v", l.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSlowBodyIsCutByReadTimeout sends a body a byte at a time, slower than
// the read timeout allows: the connection must end soon after it.
func TestSlowBodyIsCutByReadTimeout(t *testing.T) {
	srv := &http.Server{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: time.Second}
	_, addr := serveLimited(t, LimitOptions{MaxBodyBytes: 1000, BodyBytes: 1 << 20}, srv, okHandler())
	c := dialFrom(t, "127.0.0.2", addr)
	start := time.Now()
	fmt.Fprintf(c, "POST /v1/readings HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		io.Copy(io.Discard, c)
	}()
	for i := 0; i < 100; i++ {
		select {
		case <-ended:
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("connection ended after %s, read timeout 500ms", d)
			}
			return
		case <-time.After(200 * time.Millisecond):
			if _, err := c.Write([]byte("x")); err != nil {
				return // closed by the server
			}
		}
	}
	t.Fatalf("a body sent a byte every 200ms was still being read after %s", time.Since(start))
}

// TestEventStreamOutlivesWriteTimeout streams events for longer than the
// server's read and write timeouts: the stream must go on, since each
// event gets its own write deadline.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	srv := &http.Server{ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}
	const events = 12
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fl := w.(http.Flusher)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		fl.Flush()
		for i := 0; i < events; i++ {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			fmt.Fprintf(w, "data: %d\n\n", i)
			fl.Flush()
		}
	})
	_, addr := serveLimited(t, LimitOptions{StreamWriteTimeout: 200 * time.Millisecond}, srv, h)
	resp, err := http.Get("http://" + addr + "/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	got := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			got++
		}
	}
	if got != events {
		t.Fatalf("got %d of %d events over %s; the stream was cut (%v)", got, events, events*50*time.Millisecond, sc.Err())
	}
}
