package main

import (
	"context"
	"fmt"
	"io"

	"github.com/waterchain/waterchain/node/home"
)

// startDevnetMeters runs the simulated meters of nw's devices.
func startDevnetMeters(ctx context.Context, log io.Writer, nw *home.Network) error {
	fmt.Fprintf(log, "meters: %d devices\n", len(nw.Devices))
	return nil
}
