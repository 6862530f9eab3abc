package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchCommand runs a tiny benchmark and reads the figures from the
// last line of its output, as scripts do.
func TestBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a network")
	}
	out, err := runSetupCmd(t, newBenchCmd(), "bench", "--validators", "2", "--rates", "100", "--duration", "1s",
		"--devices", "10", "--verify-duration", "50ms", "--no-half-peak")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"finalized_per_s", "latency_p50_ms", "latency_p99_ms", "verify_per_s", "validators", "ratio", "conditions"} {
		if _, ok := res[k]; !ok {
			t.Errorf("JSON lacks %s", k)
		}
	}
	if res["validators"] != float64(2) {
		t.Errorf("validators %v", res["validators"])
	}
	if f, _ := res["finalized_per_s"].(float64); f <= 0 {
		t.Errorf("finalized_per_s %v\n%s", res["finalized_per_s"], out)
	}
	for _, want := range []string{"OFFERED/s", "FINALIZED/s", "P99 ms", "ratio"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchCommandRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rates", "1000,x"}, "--rates"},
		{[]string{"--rates", "1000,-5"}, "--rates"},
		{[]string{"--validators", "99"}, "Validators"},
		{[]string{"--duration", "1ms"}, "Duration"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--processes", "--node-cpuprofile-steps"}, "NodeCPUProfileDir"},
	} {
		out, err := runSetupCmd(t, newBenchCmd(), append([]string{"bench"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v (%s), want an error naming %s", tc.args, err, out, tc.want)
		}
	}
}

func TestParseRates(t *testing.T) {
	got, err := parseRates(" 1000, 2000,4000 ")
	if err != nil || len(got) != 3 || got[0] != 1000 || got[2] != 4000 {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, err := parseRates(""); err != nil || got != nil {
		t.Fatalf("empty: %v, %v", got, err)
	}
}

func TestParseOfPeak(t *testing.T) {
	got, err := parseOfPeak(" 0.8, 2,4 ")
	if err != nil || len(got) != 3 || got[0] != 0.8 || got[2] != 4 {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, err := parseOfPeak(""); err != nil || got != nil {
		t.Fatalf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"0", "-1", "x", "1,,2", "NaN"} {
		if _, err := parseOfPeak(bad); err == nil || !strings.Contains(err.Error(), "--of-peak") {
			t.Errorf("%q: %v, want an error naming --of-peak", bad, err)
		}
	}
}

func FuzzParseRates(f *testing.F) {
	for _, s := range []string{"1000,2000", "", "0", "-1", "1,,2", "9999999999999999999999", " 5 ", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rates, err := parseRates(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--rates") {
				t.Fatalf("error does not name the flag: %v", err)
			}
			return
		}
		if strings.TrimSpace(s) == "" {
			if rates != nil {
				t.Fatalf("empty input gave %v", rates)
			}
			return
		}
		if len(rates) != strings.Count(s, ",")+1 {
			t.Fatalf("%q gave %d rates", s, len(rates))
		}
		for _, r := range rates {
			if r < 1 {
				t.Fatalf("%q gave rate %d", s, r)
			}
		}
	})
}

// TestStartTrace: `run --trace` writes a runtime execution trace that
// go tool trace reads (its header names the Go version), and a path it
// cannot create is an error naming the flag.
func TestStartTrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.trace")
	stop, err := startTrace(path)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("go 1.")) {
		t.Fatalf("trace starts %q, want the runtime trace header", data[:min(len(data), 16)])
	}
	if _, err := startTrace(filepath.Join(t.TempDir(), "missing", "node.trace")); err == nil || !strings.Contains(err.Error(), "--trace") {
		t.Fatalf("trace to a missing directory: %v, want an error naming --trace", err)
	}
}

func TestBenchScalingRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sizes", "4,x"}, "--sizes"},
		{[]string{"--sizes", "7,4"}, "Sizes"},
		{[]string{"--sizes", "4,99"}, "Validators"},
		{[]string{"--rate", "-5"}, "Rate"},
	} {
		out, err := runSetupCmd(t, newBenchCmd(), append([]string{"bench", "scaling"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v (%s), want an error naming %s", tc.args, err, out, tc.want)
		}
	}
}
