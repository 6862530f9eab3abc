package main

import (
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/audit"
	"github.com/waterchain/waterchain/node/audit/audittest"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/report"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// auditedHome makes a node home whose store holds a real chain: 12 data
// blocks with a reading of each of 4 meters, a tx block every 3 (10-minute
// periods and a 1-minute reading window, so period 0 is settled by the tx
// block at 12 minutes), as a node would have written it. The node is
// stopped: the store is closed.
func auditedHome(t *testing.T) (dir string, g *genesis.Genesis) {
	t.Helper()
	g = audittest.Genesis(audittest.Options{Industries: 2, DevicesPerIndustry: 2, ReadingWindow: time.Minute})
	gpath := filepath.Join(t.TempDir(), "genesis.json")
	if err := g.Save(gpath); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "auditor")
	h, err := home.Init(dir, gpath, "")
	if err != nil {
		t.Fatal(err)
	}
	kv, err := store.OpenBadger(h.DataDir(), store.BadgerOptions{Logger: quietLog, MemTableSize: store.MinMemTableSize})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	st, err := store.Open(kv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := audittest.New(st, g)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Scenario(12, 3); err != nil {
		t.Fatal(err)
	}
	return dir, g
}

// flipEntry damages one byte of the entries chunk holding reading index
// of data block height in the home's store (a byte of its last entry).
func flipEntry(t *testing.T, dir string, height uint64, index uint32) {
	t.Helper()
	kv, err := store.OpenBadger(filepath.Join(dir, home.DataDirName), store.BadgerOptions{Logger: quietLog, MemTableSize: store.MinMemTableSize})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	key := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64([]byte{'e', byte(chain.LaneData)}, height), index/store.EntriesPerChunk)
	v, err := kv.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	v[len(v)-3] ^= 0x04
	b := kv.NewBatch()
	b.Set(key, v)
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerifyCommand(t *testing.T) {
	dir, _ := auditedHome(t)
	out, err := runSetupCmd(t, newAuditCmd(), "audit", "verify", "--home", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "OK: verified waterchain-audit-test") || !strings.Contains(out, "data chain to height 12 (48 readings)") {
		t.Errorf("output:\n%s", out)
	}
	js, err := runSetupCmd(t, newAuditCmd(), "audit", "verify", "--home", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var sum audit.Summary
	if err := json.Unmarshal([]byte(js), &sum); err != nil || sum.Readings != 48 || sum.TxHeight != 4 {
		t.Errorf("--json: %v %+v", err, sum)
	}

	// A running node holds the store: the audit says to stop it.
	kv, err := store.OpenBadger(filepath.Join(dir, home.DataDirName), store.BadgerOptions{Logger: quietLog, MemTableSize: store.MinMemTableSize})
	if err != nil {
		t.Fatal(err)
	}
	_, err = runSetupCmd(t, newAuditCmd(), "audit", "verify", "--home", dir)
	kv.Close()
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "stop the node") {
		t.Errorf("audit of a running node's store: %v", err)
	}

	flipEntry(t, dir, 5, 2)
	_, err = runSetupCmd(t, newAuditCmd(), "audit", "verify", "--home", dir)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitAuditFailed || !strings.Contains(err.Error(), "data/5") {
		t.Fatalf("audit of a damaged store: %v", err)
	}
	t.Log(err)

	for _, args := range [][]string{
		{"audit", "verify"},
		{"audit", "verify", "--home", t.TempDir()},
	} {
		if _, err := runSetupCmd(t, newAuditCmd(), args...); err == nil || errors.As(err, &ee) {
			t.Errorf("%v: %v, want a plain error", args, err)
		}
	}
}

func TestAuditReportCommand(t *testing.T) {
	dir, _ := auditedHome(t)
	out, err := runSetupCmd(t, newAuditCmd(), "audit", "report", "--home", dir, "--period", "2026-03-01T00:00", "--format", "csv")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || strings.Join(recs[0], ",") != strings.Join(report.CSVHeader(), ",") {
		t.Fatalf("csv:\n%s", out)
	}
	if recs[1][0] != "2026-03-01T00:00" || recs[1][1] != "settled" || recs[1][2] != "industry-1" {
		t.Errorf("first row: %v", recs[1][:3])
	}

	path := filepath.Join(t.TempDir(), "report.json")
	out, err = runSetupCmd(t, newAuditCmd(), "audit", "report", "--home", dir, "--period", "0", "--format", "json", "--out", path)
	if err != nil || !strings.Contains(out, "wrote "+path) {
		t.Fatalf("%v\n%s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil || rep.Period != "2026-03-01T00:00" || len(rep.Rows) != 2 || rep.Rows[0].Readings != 18 {
		t.Errorf("json report: %v %+v", err, rep)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--period", "0", "--format", "xml"}, "--format"},
		{[]string{"--format", "csv"}, "--period is required"},
		{[]string{"--period", "2026-13"}, "bad period"},
		{[]string{"--period", "2030-01-01T00:00"}, "has not started"},
	} {
		args := append([]string{"audit", "report", "--home", dir}, tc.args...)
		if _, err := runSetupCmd(t, newAuditCmd(), args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestAuditHelpHasExamples(t *testing.T) {
	for _, args := range [][]string{{"audit", "--help"}, {"audit", "verify", "--help"}, {"audit", "report", "--help"}} {
		out, err := runSetupCmd(t, newAuditCmd(), args...)
		if err != nil || !strings.Contains(out, "Examples:") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	for _, args := range [][]string{{"proof", "--help"}, {"proof", "reading", "--help"}, {"proof", "verify", "--help"}} {
		out, err := runSetupCmd(t, newProofCmd(), args...)
		if err != nil || !strings.Contains(out, "Examples:") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
}
