package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waterchain/waterchain/node/home"
)

// benchProcesses starts "waterchain bench --processes" with args and a
// network directory under the test's temporary directory, returning the
// command (stdout and stderr in out), a channel that delivers its exit and
// that directory. The command is killed when the test ends.
func benchProcesses(t *testing.T, out *bytes.Buffer, args ...string) (*exec.Cmd, <-chan error, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bench")
	cmd := exec.Command(binary, append([]string{"bench", "--processes", "--dir", dir, "--verify-duration", "100ms"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		done <- cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	return cmd, done, dir
}

// waitBench waits up to limit for the bench started by benchProcesses to
// exit, and fails the test, with its output, unless it exits cleanly.
func waitBench(t *testing.T, cmd *exec.Cmd, done <-chan error, out *bytes.Buffer, limit time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("bench: %v\n%s", err, out.String())
		}
	case <-time.After(limit):
		cmd.Process.Kill()
		t.Fatalf("bench did not finish in %s:\n%s", limit, out.String())
	}
}

// benchAPIs reads the URLs of the bench network's nodes from its manifest.
func benchAPIs(dir string) ([]string, error) {
	m, err := home.LoadManifest(filepath.Join(dir, "net", home.ManifestFileName))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range m.Nodes {
		out = append(out, n.API)
	}
	return out, nil
}

// answering lists the APIs that answer GET /v1/status.
func answering(apis []string) []string {
	c := &http.Client{Timeout: 2 * time.Second}
	var up []string
	for _, a := range apis {
		resp, err := c.Get(a + "/v1/status")
		if err == nil {
			resp.Body.Close()
			up = append(up, a)
		}
	}
	return up
}

// intOrAbsent shows a JSON number that may be missing.
func intOrAbsent(p *int) string {
	if p == nil {
		return "absent"
	}
	return strconv.Itoa(*p)
}

// TestBenchProcesses runs the process bench for one short low-rate step on
// four validators and reads its last line as scripts do: every reading
// accepted and final, latencies and per-node CPU seconds present and
// plausible, and no node left running after the command exits.
func TestBenchProcesses(t *testing.T) {
	const rate, seconds, validators = 100, 3, 4
	var out bytes.Buffer
	cmd, done, dir := benchProcesses(t, &out, "--validators", "4", "--rates", "100", "--duration", "3s",
		"--devices", "40", "--drain", "20s", "--no-half-peak")
	waitBench(t, cmd, done, &out, 50*time.Second)
	text := strings.TrimSpace(out.String())
	lines := strings.Split(text, "\n")
	var res struct {
		FinalizedPerS float64 `json:"finalized_per_s"`
		LatencyP50Ms  float64 `json:"latency_p50_ms"`
		LatencyP99Ms  float64 `json:"latency_p99_ms"`
		VerifyPerS    float64 `json:"verify_per_s"`
		Validators    int     `json:"validators"`
		Conditions    struct {
			Processes bool `json:"processes"`
		} `json:"conditions"`
		Steps []struct {
			OfferedPerS     int       `json:"offered_per_s"`
			SubmittedPerS   float64   `json:"submitted_per_s"`
			AcceptedPerS    float64   `json:"accepted_per_s"`
			FinalizedPerS   float64   `json:"finalized_per_s"`
			Submitted       int       `json:"submitted"`
			Rejected        int       `json:"rejected"`
			RefusedAnswers  *int      `json:"refused_answers"`
			Retried         *int      `json:"retried"`
			Finalized       int       `json:"finalized"`
			LatencyP50Ms    float64   `json:"latency_p50_ms"`
			LatencyP99Ms    float64   `json:"latency_p99_ms"`
			NodeCPUSeconds  []float64 `json:"node_cpu_s"`
			BenchCPUSeconds float64   `json:"bench_cpu_s"`
			FirstError      string    `json:"first_error"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line is not the JSON result: %v\n%s", err, text)
	}
	if !res.Conditions.Processes || res.Validators != validators || res.VerifyPerS <= 0 || len(res.Steps) != 1 {
		t.Fatalf("processes %v, %d validators, verify %v/s, %d steps:\n%s", res.Conditions.Processes, res.Validators, res.VerifyPerS, len(res.Steps), text)
	}
	s := res.Steps[0]
	if s.OfferedPerS != rate || s.Submitted != rate*seconds || s.Rejected != 0 || s.RefusedAnswers == nil || *s.RefusedAnswers != 0 || s.Retried == nil || *s.Retried != 0 {
		t.Errorf("offered %d/s, %d accepted, %d rejected (%s), refused answers %s, retried %s; want %d accepted", s.OfferedPerS, s.Submitted, s.Rejected, s.FirstError, intOrAbsent(s.RefusedAnswers), intOrAbsent(s.Retried), rate*seconds)
	}
	if s.AcceptedPerS <= 0.8*rate || s.AcceptedPerS > s.SubmittedPerS*1.001 {
		t.Errorf("accepted %.1f/s of %.1f/s submitted at %d/s offered", s.AcceptedPerS, s.SubmittedPerS, rate)
	}
	if s.Finalized != s.Submitted || s.FinalizedPerS <= 0 || s.FinalizedPerS > 1.05*rate || res.FinalizedPerS != s.FinalizedPerS {
		t.Errorf("%d of %d final at %.1f/s (result %.1f/s)", s.Finalized, s.Submitted, s.FinalizedPerS, res.FinalizedPerS)
	}
	if s.LatencyP50Ms <= 0 || s.LatencyP99Ms < s.LatencyP50Ms || res.LatencyP99Ms != s.LatencyP99Ms {
		t.Errorf("p50 %v ms, p99 %v ms (result p99 %v)", s.LatencyP50Ms, s.LatencyP99Ms, res.LatencyP99Ms)
	}
	if len(s.NodeCPUSeconds) != validators {
		t.Fatalf("node_cpu_s %v: want one figure per validator", s.NodeCPUSeconds)
	}
	for i, c := range s.NodeCPUSeconds {
		// Every node verified 300 readings and voted on blocks for ~4 s.
		if c <= 0 || c > 2*float64(seconds+20) {
			t.Errorf("validator-%d used %v CPU seconds", i+1, c)
		}
	}
	if s.BenchCPUSeconds <= 0 {
		t.Errorf("bench_cpu_s %v", s.BenchCPUSeconds)
	}
	for _, col := range []string{"ACCEPTED/s", "429/503", "RETRIED", "NODES CPU s", "node CPU s: v1 "} {
		if !strings.Contains(text, col) {
			t.Errorf("the table lacks %q:\n%s", col, text)
		}
	}
	apis, err := benchAPIs(dir)
	if err != nil || len(apis) != validators {
		t.Fatalf("manifest: %v, %d nodes", err, len(apis))
	}
	if up := answering(apis); len(up) > 0 {
		t.Errorf("nodes still answer after the bench exited: %v", up)
	}
}

// TestBenchProcessesStops: the bench's nodes stop when it is interrupted
// (SIGINT, as Ctrl-C) mid-step, and die with it when it is killed
// (SIGKILL: the kernel kills them, Pdeathsig).
func TestBenchProcessesStops(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			var out bytes.Buffer
			cmd, done, dir := benchProcesses(t, &out, "--validators", "4", "--rates", "50", "--duration", "60s", "--devices", "8")
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			var apis []string
			for {
				var err error
				if apis, err = benchAPIs(dir); err == nil && len(answering(apis)) == len(apis) {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("bench exited early: %v\n%s", err, out.String())
				case <-ctx.Done():
					t.Fatalf("the bench's nodes did not come up in 40 s:\n%s", out.String())
				case <-time.After(200 * time.Millisecond):
				}
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("bench still running 30 s after %v:\n%s", sig, out.String())
			}
			deadline := time.Now().Add(10 * time.Second)
			for up := answering(apis); len(up) > 0; up = answering(apis) {
				if time.Now().After(deadline) {
					t.Fatalf("nodes still answer 10 s after the bench ended on %v: %v", sig, up)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if _, err := os.Stat(filepath.Join(dir, "net", "validator-1", "node.log")); err != nil {
				t.Errorf("node log: %v", err)
			}
		})
	}
}

// TestBenchProcessesStepProfiles: with --node-cpuprofile-steps each node
// serves its profiles on a --pprof port and the bench writes one CPU
// profile per node and step, named by the step, that Go's tools read.
func TestBenchProcessesStepProfiles(t *testing.T) {
	profiles := filepath.Join(t.TempDir(), "profiles")
	var out bytes.Buffer
	cmd, done, _ := benchProcesses(t, &out, "--validators", "2", "--rates", "100", "--duration", "2s",
		"--devices", "20", "--drain", "20s", "--no-half-peak", "--node-cpuprofile", profiles, "--node-cpuprofile-steps")
	waitBench(t, cmd, done, &out, 50*time.Second)
	for _, name := range []string{"validator-1-rate-100.pprof", "validator-2-rate-100.pprof"} {
		raw, err := os.ReadFile(filepath.Join(profiles, name))
		if err != nil {
			entries, _ := os.ReadDir(profiles)
			t.Fatalf("%v (the directory holds %v)\n%s", err, entries, out.String())
		}
		// A CPU profile is a gzipped protobuf whose string table names
		// its sample type.
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pb, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, want := range []string{"samples", "cpu", "nanoseconds"} {
			if !bytes.Contains(pb, []byte(want)) {
				t.Errorf("%s: no %q in the profile: not a CPU profile", name, want)
			}
		}
	}
	if entries, _ := os.ReadDir(profiles); len(entries) != 2 {
		t.Errorf("%d files in the profile directory; want one per node and step", len(entries))
	}
}

// TestBenchScaling runs "waterchain bench scaling" on networks of one and
// two validator processes and reads the rows from its last line.
func TestBenchScaling(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "bench", "scaling", "--sizes", "1,2", "--rate", "100", "--devices", "20",
		"--warmup", "1s", "--duration", "2s", "--verify-duration", "50ms")
	setDeathSignal(cmd)
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res struct {
		Rate  int `json:"rate_per_s"`
		Sizes []struct {
			Validators    int     `json:"validators"`
			Finalized     int     `json:"finalized"`
			Submitted     int     `json:"submitted"`
			AcceptedP50Ms float64 `json:"accepted_latency_p50_ms"`
			P50VsLinear   float64 `json:"p50_vs_linear"`
		} `json:"sizes"`
		P50Linear *bool `json:"p50_linear"`
		P99Linear *bool `json:"p99_linear"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, out)
	}
	if res.Rate != 100 || len(res.Sizes) != 2 || res.Sizes[0].Validators != 1 || res.Sizes[1].Validators != 2 {
		t.Fatalf("rate %d, sizes %+v; want 100/s on 1 and 2 validators\n%s", res.Rate, res.Sizes, out)
	}
	for _, s := range res.Sizes {
		if s.Submitted != 200 || s.Finalized != 200 || s.AcceptedP50Ms <= 0 {
			t.Errorf("%d validators: %d of %d final, p50 %v ms; want all 200 of 2 s at 100/s, p50 > 0", s.Validators, s.Finalized, s.Submitted, s.AcceptedP50Ms)
		}
	}
	if res.Sizes[0].P50VsLinear != 1 || res.P50Linear == nil || res.P99Linear == nil {
		t.Errorf("base p50 ÷ linear %v (want 1), verdicts %v %v\n%s", res.Sizes[0].P50VsLinear, res.P50Linear, res.P99Linear, out)
	}
	for _, want := range []string{"VALIDATORS", "P50 ÷ LINEAR", "latency from acceptance grew"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
