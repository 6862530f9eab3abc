package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// servePprof serves Go's runtime profiles (net/http/pprof) on addr, on a
// listener of their own apart from the API, as geth's --pprof.addr and
// CometBFT's pprof_laddr do: a CPU profile of any window of a running node
// (GET /debug/pprof/profile?seconds=N), its goroutines, heap and
// mutexes. The profiles show the node's internals and cost CPU while they
// run, so the flag is for an operator's loopback, never a public address.
// The stop it returns closes the listener.
func servePprof(addr string, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("pprof server stopped", "addr", addr, "err", err)
		}
	}()
	logger.Info("serving Go profiles", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}
