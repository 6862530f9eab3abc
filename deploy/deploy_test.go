// Package deploy holds the files operators deploy Waterchain with: the
// compose network, the systemd unit, the Prometheus scrape and alert
// configuration and the Grafana dashboard. Its tests check them against the
// software: every metric the dashboard and the alert rules query exists in
// a running node's /metrics, the compose network is what "waterchain
// testnet --hosts" writes, the unit passes systemd-analyze, the image
// builds (where the tools exist).
package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/home/hometest"
)

// nodeMetrics starts a one-validator node, waits for its first blocks and
// returns the metric families its /metrics serves.
func nodeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	nw, err := home.WriteNetwork(t.TempDir(), home.NetworkOptions{
		Validators: 1, DevnetParams: true, DevicesPerIndustry: 1,
		BasePort: hometest.FreeBasePort(t, 1),
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := home.Open(nw.Nodes[0].Home)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.API.Listen = "127.0.0.1:0"
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"} // alone: nobody dials it
	g, err := h.LoadGenesis()
	if err != nil {
		t.Fatal(err)
	}
	key, err := h.LoadNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Options{Home: h.Dir, Config: cfg, Genesis: g, Key: key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		n.Close()
		t.Fatal(err)
	}
	defer n.Close()
	deadline := time.Now().Add(60 * time.Second)
	for n.Height(chain.LaneData) < 2 || n.Height(chain.LaneTx) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no blocks within 60 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + n.APIAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	names := map[string]bool{}
	for name, f := range families {
		names[name] = true
		// A histogram is queried by its series' names.
		if f.GetType().String() == "HISTOGRAM" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[name+suffix] = true
			}
		}
	}
	return names
}

// metricName finds the metric names in a PromQL expression: identifiers
// followed by a selector or a range, and not PromQL's own words.
var metricName = regexp.MustCompile(`\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{`)

func queriedMetrics(exprs []string) []string {
	var out []string
	for _, e := range exprs {
		for _, m := range metricName.FindAllStringSubmatch(e, -1) {
			if !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
	}
	slices.Sort(out)
	return out
}

// dashboardExprs returns every PromQL expression of the Grafana dashboard.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("grafana", "waterchain.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana/waterchain.json: %v", err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatal("grafana/waterchain.json has no uid or no panels")
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// alertExprs returns every expression of the Prometheus alert rules.
func alertExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatalf("prometheus/alerts.yml: %v", err)
	}
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("alert rule %+v lacks a name or an expression", r)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs
}

// TestDashboardAndAlertsQueryServedMetrics: every metric the Grafana
// dashboard and the alert rules query is served by a running node (or by
// Prometheus itself: "up").
func TestDashboardAndAlertsQueryServedMetrics(t *testing.T) {
	served := nodeMetrics(t)
	served["up"] = true // Prometheus's own series per target
	dash := queriedMetrics(dashboardExprs(t))
	alerts := queriedMetrics(alertExprs(t))
	if len(dash) < 10 {
		t.Fatalf("the dashboard queries only %v", dash)
	}
	for _, m := range append(dash, alerts...) {
		if !served[m] {
			t.Errorf("%s is queried but no node serves it", m)
		}
	}
	// The list: heights, finality latency, rounds, mempool, peers,
	// gossip, alerts.
	for _, want := range []string{"waterchain_height", "waterchain_finality_latency_seconds_bucket", "waterchain_consensus_round",
		"waterchain_mempool_entries", "waterchain_peers", "waterchain_gossip_rejected_total", "waterchain_alerts_total"} {
		if !slices.Contains(dash, want) {
			t.Errorf("the dashboard has no panel on %s", want)
		}
	}
}

// TestComposeIsTheTestnetLayout: the compose network's node services are
// the nodes "waterchain testnet --hosts" writes, each mounting its home,
// and Prometheus scrapes each of them at its API port.
func TestComposeIsTheTestnetLayout(t *testing.T) {
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Hostname string   `yaml:"hostname"`
			Volumes  []string `yaml:"volumes"`
			Image    string   `yaml:"image"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	hosts := []string{"validator-1", "validator-2", "validator-3", "validator-4", "auditor-1"}
	const basePort = 26656
	nw, err := home.WriteNetwork(filepath.Join(t.TempDir(), "net"), home.NetworkOptions{
		Validators: 4, Auditors: 1, BasePort: basePort, Hosts: hosts, DevnetParams: true, DevicesPerIndustry: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, n := range nw.Nodes {
		svc, ok := compose.Services[n.Name]
		if !ok {
			t.Errorf("compose has no service %s", n.Name)
			continue
		}
		if svc.Hostname != n.Name {
			t.Errorf("service %s has hostname %q; the other nodes dial it as %s", n.Name, svc.Hostname, n.Name)
		}
		want := "./net/" + n.Name + ":/var/lib/waterchain"
		if !slices.Contains(svc.Volumes, want) {
			t.Errorf("service %s mounts %v, want %s", n.Name, svc.Volumes, want)
		}
		targets = append(targets, fmt.Sprintf("%s:%d", n.Name, basePort+1))
		if !strings.HasSuffix(n.API, fmt.Sprintf(":%d", basePort+1)) {
			t.Errorf("node %s API %s is not on port %d", n.Name, n.API, basePort+1)
		}
	}

	prom, err := os.ReadFile(filepath.Join("prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc struct {
		ScrapeConfigs []struct {
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(prom, &pc); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	var scraped []string
	for _, sc := range pc.ScrapeConfigs {
		if sc.MetricsPath != "/metrics" {
			t.Errorf("metrics_path %q, the node serves /metrics", sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			scraped = append(scraped, st.Targets...)
		}
	}
	slices.Sort(scraped)
	slices.Sort(targets)
	if !slices.Equal(scraped, targets) {
		t.Errorf("Prometheus scrapes %v, the network's APIs are %v", scraped, targets)
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit, its
// ExecStart pointed at a freshly built binary.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed on this machine: the unit is not checked here")
	}
	bin := filepath.Join(t.TempDir(), "waterchain")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/waterchain").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	unit, err := os.ReadFile("waterchain.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/waterchain run --home /var/lib/waterchain") {
		t.Fatal("the unit's ExecStart is not the documented command")
	}
	path := filepath.Join(t.TempDir(), "waterchain.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/waterchain", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// verify also reports the machine's own units; only lines about ours
	// count.
	var ours []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "waterchain.service") {
			ours = append(ours, line)
		}
	}
	if len(ours) > 0 || (err != nil && !errors.As(err, new(*exec.ExitError))) {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, strings.Join(ours, "\n"))
	}
	sec, err := exec.Command(analyze, "security", "--offline=true", "--threshold=30", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: the unit's exposure is above 3.0 (of 10): %v\n%s", err, sec)
	}
}

// TestDockerImageBuilds builds the image where a Docker daemon answers.
func TestDockerImageBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the image build downloads base images")
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker is not installed on this machine: the image is not built here")
	}
	if err := exec.Command(docker, "info").Run(); err != nil {
		t.Skip("no Docker daemon answers on this machine: the image is not built here")
	}
	out, err := exec.Command(docker, "build", "-t", "waterchain:test", "..").CombinedOutput()
	if err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	out, err = exec.Command(docker, "run", "--rm", "waterchain:test", "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "waterchain "+node.Version) {
		t.Fatalf("docker run waterchain:test version: %v\n%s", err, out)
	}
}
