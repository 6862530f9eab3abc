package home

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDevnetSettlementPeriodAndNights: a devnet can shorten its settlement
// period (the devnet command's 4 minutes), a bad one is refused naming the
// field, and a devnet's alert rules judge nights of DevnetDayLength, with a
// window the simulated plants sleep through and one night to learn.
func TestDevnetSettlementPeriodAndNights(t *testing.T) {
	nw, err := WriteNetwork(filepath.Join(t.TempDir(), "net"), NetworkOptions{Validators: 1, BasePort: 31000, DevnetParams: true, SettlementPeriod: "4m"})
	if err != nil {
		t.Fatal(err)
	}
	if got := nw.Genesis.Params.SettlementPeriod; got != "4m" {
		t.Errorf("settlement period %q, want 4m", got)
	}
	h, err := Open(nw.Nodes[0].Home)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	th := cfg.Alerts.Thresholds
	if th.DayLength != DevnetDayLength.Milliseconds() || th.NightStart != 22*3_600_000 || th.NightEnd != 5*3_600_000 || th.LeakLearnNights != 1 {
		t.Errorf("devnet thresholds: day %d ms, night %d–%d, learn %d nights", th.DayLength, th.NightStart, th.NightEnd, th.LeakLearnNights)
	}

	_, err = WriteNetwork(filepath.Join(t.TempDir(), "net"), NetworkOptions{Validators: 1, BasePort: 31000, DevnetParams: true, SettlementPeriod: "30s"})
	if err == nil || !strings.Contains(err.Error(), "settlement_period") {
		t.Errorf("settlement period 30s: %v, want an error naming settlement_period", err)
	}
}
