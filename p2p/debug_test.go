package p2p

import (
	"log/slog"
	"os"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func dumpMetrics(t testing.TB, n *Host) {
	reg := n.cfg.Registerer.(*prometheus.Registry)
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "waterchain") {
			continue
		}
		for _, m := range mf.GetMetric() {
			fmt.Println(mf.GetName(), m.GetLabel(), m.GetCounter().GetValue(), m.GetGauge().GetValue())
		}
	}
}

func logLevel() slog.Level {
	if os.Getenv("WATERCHAIN_P2P_LOG") == "debug" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
