package p2p

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

func TestRequestResponse(t *testing.T) {
	hosts, keys := startNetwork(t, 2, func(i int, c *Config) {
		c.MaxRequestSize = 1000
		c.MaxResponseSize = 1 << 20
		c.MaxConcurrentRequests = 1
		if i == 0 { // the client accepts smaller responses than the server may send
			c.MaxResponseSize = 5000
			c.MaxRequestSize = 2000
		}
	})
	client, server := hosts[0], hosts[1]
	serverKey := keys[1].Public()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	err := server.Handle("sync/blocks/1", func(ctx context.Context, from chain.PubKey, req []byte) ([]byte, error) {
		switch {
		case string(req) == "fail":
			return nil, errors.New("no such height")
		case string(req) == "big":
			return make([]byte, 6000), nil
		case string(req) == "block":
			entered <- struct{}{}
			select {
			case <-release:
				return []byte("released"), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case string(req) == "panic":
			panic("handler bug")
		}
		if from != keys[0].Public() {
			return nil, errors.New("wrong peer key")
		}
		return append([]byte("echo:"), req...), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Handle("sync/blocks/1", nil); !errors.Is(err, ErrBadProtocol) {
		t.Errorf("nil handler: %v", err)
	}
	if err := server.Handle("sync/blocks/1", func(context.Context, chain.PubKey, []byte) ([]byte, error) { return nil, nil }); !errors.Is(err, ErrProtocolHandled) {
		t.Errorf("second handler: got %v, want ErrProtocolHandled", err)
	}
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		req := bytes.Repeat([]byte("h"), 1000) // exactly the server's limit
		resp, err := client.Request(ctx, serverKey, "sync/blocks/1", req)
		if err != nil {
			t.Fatal(err)
		}
		if want := append([]byte("echo:"), req...); !bytes.Equal(resp, want) {
			t.Fatalf("response %d bytes, want %d", len(resp), len(want))
		}
	})
	t.Run("empty request", func(t *testing.T) {
		resp, err := client.Request(ctx, serverKey, "sync/blocks/1", nil)
		if err != nil || string(resp) != "echo:" {
			t.Fatalf("got %q, %v", resp, err)
		}
	})
	t.Run("handler error", func(t *testing.T) {
		_, err := client.Request(ctx, serverKey, "sync/blocks/1", []byte("fail"))
		if !errors.Is(err, ErrRemote) || !strings.Contains(err.Error(), "no such height") {
			t.Fatalf("got %v, want ErrRemote with the handler's message", err)
		}
	})
	t.Run("handler panic", func(t *testing.T) {
		_, err := client.Request(ctx, serverKey, "sync/blocks/1", []byte("panic"))
		if !errors.Is(err, ErrRemote) || !strings.Contains(err.Error(), "internal error") {
			t.Fatalf("got %v, want ErrRemote internal error", err)
		}
	})
	t.Run("request over own limit", func(t *testing.T) {
		_, err := client.Request(ctx, serverKey, "sync/blocks/1", make([]byte, 2001))
		if !errors.Is(err, ErrRequestTooLarge) {
			t.Fatalf("got %v, want ErrRequestTooLarge", err)
		}
	})
	t.Run("request over server limit", func(t *testing.T) {
		_, err := client.Request(ctx, serverKey, "sync/blocks/1", make([]byte, 1001))
		if !errors.Is(err, ErrRemote) || !strings.Contains(err.Error(), "request too large") {
			t.Fatalf("got %v, want ErrRemote request too large", err)
		}
	})
	t.Run("response over limit", func(t *testing.T) {
		_, err := client.Request(ctx, serverKey, "sync/blocks/1", []byte("big"))
		if !errors.Is(err, ErrResponseTooLarge) {
			t.Fatalf("got %v, want ErrResponseTooLarge", err)
		}
	})
	t.Run("unknown protocol", func(t *testing.T) {
		_, err := client.Request(ctx, serverKey, "nope/1", nil)
		if err == nil {
			t.Fatal("request on an unhandled protocol succeeded")
		}
	})
	t.Run("bad protocol name", func(t *testing.T) {
		_, err := client.Request(ctx, serverKey, "/Sync", nil)
		if !errors.Is(err, ErrBadProtocol) {
			t.Fatalf("got %v, want ErrBadProtocol", err)
		}
	})
	t.Run("busy and deadline", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := client.Request(ctx, serverKey, "sync/blocks/1", []byte("block"))
			done <- err
		}()
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("handler not entered")
		}
		// MaxConcurrentRequests is 1: a second request is turned away.
		_, err := client.Request(ctx, serverKey, "sync/blocks/1", []byte("x"))
		if !errors.Is(err, ErrBusy) || !errors.Is(err, ErrRemote) {
			t.Fatalf("got %v, want ErrRemote and ErrBusy", err)
		}
		// A request whose deadline passes fails with the context's error.
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err = client.Request(short, serverKey, "sync/blocks/1", []byte("x"))
		if err == nil {
			t.Fatal("request succeeded while the server was busy")
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("blocked request: %v", err)
		}
	})
	t.Run("deadline while waiting", func(t *testing.T) {
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		// The handler blocks on an already-closed channel path only for
		// "block"; make a fresh blocking handler for this.
		block := make(chan struct{})
		defer close(block)
		if err := server.Handle("slow", func(ctx context.Context, _ chain.PubKey, _ []byte) ([]byte, error) {
			select {
			case <-block:
			case <-ctx.Done():
			}
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
		// The previous request's handler may not have released its slot.
		eventually(t, 5*time.Second, "the server to be idle", func() bool { return len(server.reqSem) == 0 })
		_, err := client.Request(short, serverKey, "slow", nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want context.DeadlineExceeded", err)
		}
	})
	if n := counter(t, client.metrics.requests.WithLabelValues("sync/blocks/1", "out", "ok")); n < 2 {
		t.Errorf("ok requests counted %v, want >= 2", n)
	}
}
