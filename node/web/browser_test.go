package web_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/home/hometest"
	"github.com/waterchain/waterchain/node/keys"
	"github.com/waterchain/waterchain/node/web"
)

// The browser tests drive headless Chromium against a real in-process
// network of 4 validators and an auditor. They need a Chromium: Debian's
// package "chromium" (apt-get install chromium), or the binary named by
// WATERCHAIN_CHROMIUM. Without one they skip, unless
// WATERCHAIN_REQUIRE_BROWSER=1 (as in .ci/run), where they fail.
//
// Screenshots of every page are taken on every run; with
// WATERCHAIN_SCREENSHOTS=1 they replace the committed ones in
// testdata/screenshots/ (see its README.md).

const screenshotDir = "testdata/screenshots"

func findChromium() string {
	if p := os.Getenv("WATERCHAIN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startNodes starts every node of d's network.
func (d *devnet) startNodes(logger *slog.Logger) error {
	for _, nn := range d.nw.Nodes {
		h, err := home.Open(nn.Home)
		if err != nil {
			return err
		}
		cfg, err := h.LoadConfig()
		if err != nil {
			return err
		}
		cfg.API.Listen = "127.0.0.1:0"
		g, err := h.LoadGenesis()
		if err != nil {
			return err
		}
		key, err := h.LoadNodeKey()
		if err != nil {
			return err
		}
		n, err := node.New(node.Options{Home: h.Dir, Config: cfg, Genesis: g, Key: key, Logger: logger.With("node", nn.Name), Name: nn.Name})
		if err != nil {
			return err
		}
		if err := n.Start(context.Background()); err != nil {
			n.Close()
			return err
		}
		d.nodes = append(d.nodes, n)
	}
	return nil
}

// devnet is the network the browser looks at.
type devnet struct {
	t       *testing.T
	nw      *home.Network
	nodes   []*node.Node
	api     string // base URL of node 0's API
	base    string // base URL the browser opens (the node, or a front serving the dashboard)
	chainID string
	// industry is the address of the first industry with meters, and its
	// meters' keys.
	industry string
	devices  []*chain.PrivateKey
	nextSeq  map[chain.PubKey]uint64
}

func startDevnet(t *testing.T) *devnet {
	t.Helper()
	level := slog.LevelError
	if os.Getenv("WATERCHAIN_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// The nodes' p2p ports are fixed in the network's files, so a port
	// taken meanwhile by another test process makes a node fail to listen:
	// then the network is written again on other ports.
	var d *devnet
	for attempt := 1; ; attempt++ {
		nw, err := home.WriteNetwork(t.TempDir(), home.NetworkOptions{
			Validators: 4, Auditors: 1, DevnetParams: true, DevicesPerIndustry: 2,
			BasePort: hometest.FreeBasePort(t, 5),
			// Genesis 6 minutes back: the 5-minute period 0 and its 30 s
			// reading window are over, so the first blocks settle it.
			GenesisTime: time.Now().Add(-6 * time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		d = &devnet{t: t, nw: nw, chainID: nw.Genesis.ChainID, nextSeq: map[chain.PubKey]uint64{}}
		err = d.startNodes(logger)
		if err == nil {
			break
		}
		for _, n := range d.nodes {
			n.Close()
		}
		if !strings.Contains(err.Error(), "address already in use") || attempt == 5 {
			t.Fatal(err)
		}
		t.Logf("attempt %d: %v; writing the network on other ports", attempt, err)
	}
	t.Cleanup(func() {
		for _, n := range d.nodes {
			n.Close()
		}
	})
	d.api = "http://" + d.nodes[0].APIAddr()
	d.base = d.dashboardBase()

	// The first industry's meters.
	byName := map[string]chain.Address{}
	for _, a := range d.nw.Accounts {
		byName[a.Name] = a.Address
	}
	for _, dev := range d.nw.Devices {
		addr := byName[dev.Industry].String()
		if d.industry == "" {
			d.industry = addr
		}
		if addr != d.industry {
			continue
		}
		k, err := keys.Load(dev.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		d.devices = append(d.devices, k)
	}
	if len(d.devices) == 0 {
		t.Fatal("the generated network has no meters")
	}
	return d
}

// dashboardBase is the node's own address when it serves the dashboard at
// "/"; otherwise a front that serves this package's handler and passes
// /v1/ and /metrics to the node, so the pages are tested either way.
func (d *devnet) dashboardBase() string {
	resp, err := http.Get(d.api + "/")
	if err == nil {
		defer resp.Body.Close()
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			return d.api
		}
	}
	d.t.Logf("the node does not serve the dashboard at / yet (wire web.Handler() into node.httpHandler); testing through a front")
	target, _ := url.Parse(d.api)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // server-sent events
	dash := web.Handler()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/metrics" {
			proxy.ServeHTTP(w, r)
			return
		}
		dash.ServeHTTP(w, r)
	}))
	d.t.Cleanup(front.Close)
	return front.URL
}

// getJSON reads an API route of node 0 into out; it returns the status.
func (d *devnet) getJSON(path string, out any) int {
	d.t.Helper()
	resp, err := http.Get(d.api + path)
	if err != nil {
		d.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			d.t.Fatalf("GET %s: %v in %s", path, err, raw)
		}
	}
	return resp.StatusCode
}

// mustGetJSON is getJSON for a route that must answer 200: any other status
// fails the test.
func (d *devnet) mustGetJSON(path string, out any) {
	d.t.Helper()
	if code := d.getJSON(path, out); code != http.StatusOK {
		d.t.Fatalf("GET %s: status %d, want 200", path, code)
	}
}

func (d *devnet) post(path string, body any) (int, string) {
	d.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		d.t.Fatal(err)
	}
	resp, err := http.Post(d.api+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		d.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// waitFor polls cond (API state of a live network) until it holds.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}

type status struct {
	ChainID     string   `json:"chain_id"`
	GenesisHash string   `json:"genesis_hash"`
	Validators  []string `json:"validators"`
	Lanes       map[string]struct {
		Height uint64 `json:"height"`
		Hash   string `json:"hash"`
	} `json:"lanes"`
}

func (d *devnet) status() status {
	var st status
	if code := d.getJSON("/v1/status", &st); code != http.StatusOK {
		d.t.Fatalf("status: HTTP %d", code)
	}
	return st
}

// reading makes the next signed reading of meter dev, at time at.
func (d *devnet) reading(dev *chain.PrivateKey, at time.Time, conductivity int64) *chain.Reading {
	d.nextSeq[dev.Public()]++
	seq := d.nextSeq[dev.Public()]
	r := &chain.Reading{
		Device: dev.Public(), Seq: seq, Time: chain.TimeOf(at),
		FlowRate: 12_000_000 + int64(seq%5)*400_000, Volume: 30_000 + int64(seq%3)*1000, VolumeTotal: int64(seq) * 40_000,
		Conductivity: conductivity, SuspendedSolids: 1200 + int64(seq%4)*100, Absorbance: 150 + int64(seq%3)*10, Turbidity: 800 + int64(seq%6)*50,
	}
	r.Sign(d.chainID, dev)
	return r
}

func (d *devnet) submit(rs []*chain.Reading) {
	d.t.Helper()
	code, body := d.post("/v1/readings", rs)
	if code != http.StatusAccepted {
		d.t.Fatalf("POST /v1/readings: HTTP %d: %s", code, body)
	}
}

type apiReading struct {
	Seq    uint64 `json:"seq"`
	Time   string `json:"time"`
	Volume int64  `json:"volume"`
	Height uint64 `json:"height"`
}

func (d *devnet) readings(dev chain.PubKey, from time.Time) []apiReading {
	var res struct {
		Readings []apiReading `json:"readings"`
	}
	d.mustGetJSON(fmt.Sprintf("/v1/readings?device=%s&from=%s&limit=10000", dev, url.QueryEscape(from.UTC().Format(time.RFC3339Nano))), &res)
	return res.Readings
}

// browser is one headless Chromium tab with the console watched.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex // guards errors
	errors []string
}

// startBrowser starts a headless Chromium; extra options are added to the
// defaults.
func startBrowser(t *testing.T, chromium string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &browser{t: t, ctx: ctx}
	messages := chromedp.Console(ctx)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1200, 860)); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting %s: %v", chromium, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			b.note(m)
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-done
	})
	return b
}

// note records console errors and exceptions, the network log's failed
// requests among them: every route the dashboard calls must answer.
func (b *browser) note(m chromedp.ConsoleMessage) {
	if m.Type != chromedp.ConsoleError && !m.IsException() && m.Type != "assert" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, fmt.Sprintf("%s %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text))
}

// consoleErrors returns and clears the errors seen so far.
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.errors
	b.errors = nil
	return out
}

func (b *browser) checkConsole(t *testing.T) {
	t.Helper()
	for _, e := range b.consoleErrors() {
		t.Errorf("console: %s", e)
	}
}

// do runs actions with a deadline.
func (b *browser) do(t *testing.T, what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v (console: %v)", what, err, b.consoleErrors())
	}
}

func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// open navigates to a page and waits until it has loaded its data.
func (b *browser) open(t *testing.T, base, hash, page string) {
	t.Helper()
	b.do(t, "open "+hash, 20*time.Second,
		chromedp.Navigate(base+"/"+hash),
		poll(fmt.Sprintf(`document.body.dataset.ready === %q`, page), 15*time.Second),
	)
}

// waitJS polls a JavaScript condition in the page.
func (b *browser) waitJS(t *testing.T, what, expr string, d time.Duration) {
	t.Helper()
	b.do(t, what, d+2*time.Second, poll(expr, d))
}

// poll waits until a JavaScript expression is truthy in the page.
func poll(expr string, d time.Duration) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(d))(ctx, t)
		return chromedp.Void{}, err
	}
}

func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	dir := screenshotDir
	if os.Getenv("WATERCHAIN_SCREENSHOTS") == "" {
		dir = t.TempDir() // keep the committed ones unless asked to refresh them
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDashboardInBrowser(t *testing.T) {
	chromium := findChromium()
	if chromium == "" {
		if os.Getenv("WATERCHAIN_REQUIRE_BROWSER") == "1" {
			t.Fatal("WATERCHAIN_REQUIRE_BROWSER=1 but no Chromium found: apt-get install -y chromium, or set WATERCHAIN_CHROMIUM")
		}
		t.Skip("no Chromium found: the dashboard's browser tests need Debian's chromium (apt-get install -y chromium) or WATERCHAIN_CHROMIUM=/path; set WATERCHAIN_REQUIRE_BROWSER=1 to make this a failure")
	}
	start := time.Now()
	d := startDevnet(t)
	waitFor(t, 40*time.Second, "both lanes to finalize a block", func() bool {
		st := d.status()
		return st.Lanes["data"].Height >= 1 && st.Lanes["tx"].Height >= 1
	})

	// Readings spread over the last 20 s (inside the acceptance window),
	// one above the conductivity limit so its chart shows an exceedance.
	now := time.Now()
	var rs []*chain.Reading
	for i := 0; i < 8; i++ {
		for j, dev := range d.devices {
			cond := int64(8_000 + 500*i + 900*j)
			if i == 6 && j == 0 {
				cond = 34_000 // 3400 µS/cm, above the devnet limit of 3000
			}
			rs = append(rs, d.reading(dev, now.Add(time.Duration(i-8)*2500*time.Millisecond), cond))
		}
	}
	d.submit(rs)
	// An allowance offer on the market.
	d.offer(t)
	waitFor(t, 20*time.Second, "the readings to be final", func() bool {
		for _, dev := range d.devices {
			if uint64(len(d.readings(dev.Public(), now.Add(-time.Minute)))) < d.nextSeq[dev.Public()] {
				return false
			}
		}
		return true
	})
	var offers []json.RawMessage
	waitFor(t, 20*time.Second, "the offer to be final", func() bool {
		return d.getJSON("/v1/market/offers", &offers) == http.StatusOK && len(offers) > 0
	})
	t.Logf("network up with readings and an offer in %s", time.Since(start).Round(time.Millisecond))

	b := startBrowser(t, chromium)

	t.Run("network", func(t *testing.T) {
		b.open(t, d.base, "#/network", "network")
		st := d.status()
		// The heights shown are blocks the API serves, with the same hash.
		for _, lane := range []string{"data", "tx"} {
			type fig struct {
				Height uint64 `json:"height"`
				Hash   string `json:"hash"`
			}
			f := eval[fig](t, b, fmt.Sprintf(`(() => { const e = document.querySelector('[data-figure=%q]'); return {height: Number(e.dataset.value), hash: e.dataset.hash}; })()`, lane+"-height"))
			if f.Height == 0 || f.Height > st.Lanes[lane].Height {
				t.Errorf("%s height shown %d, API is at %d", lane, f.Height, st.Lanes[lane].Height)
			}
			var blk struct {
				Hash string `json:"hash"`
			}
			d.mustGetJSON(fmt.Sprintf("/v1/blocks/%s/%d", lane, f.Height), &blk)
			if blk.Hash != f.Hash {
				t.Errorf("%s block %d: page shows hash %s, API %s", lane, f.Height, f.Hash, blk.Hash)
			}
		}
		if n := eval[int](t, b, `Number(document.querySelector('[data-figure=validators]').dataset.value)`); n != len(st.Validators) {
			t.Errorf("validators shown %d, API %d", n, len(st.Validators))
		}
		// Every validator row shows whether it signed recent blocks; the
		// counts agree with the blocks' certificates (4 of 4 sign here).
		rows := eval[int](t, b, `document.querySelectorAll('[data-validator] [data-signed]').length`)
		if rows != len(st.Validators) {
			t.Errorf("%d validator rows with signing figures, want %d", rows, len(st.Validators))
		}
		// Live: the data height moves without a reload.
		b.waitJS(t, "the data height to advance live", fmt.Sprintf(`(window.__mark = window.__mark || 'kept', Number(document.querySelector('[data-figure="data-height"]').dataset.value) > %d)`, st.Lanes["data"].Height), 10*time.Second)
		if m := eval[string](t, b, `window.__mark`); m != "kept" {
			t.Errorf("the page reloaded")
		}
		b.screenshot(t, "network")
		b.checkConsole(t)
	})

	t.Run("industry", func(t *testing.T) {
		var ind struct {
			Balance              uint64 `json:"balance"`
			AllowanceAfterTrades uint64 `json:"allowance_after_trades"`
			PeriodLabel          string `json:"period_label"`
			Permit               struct {
				Limits map[string]int64 `json:"limits"`
			} `json:"permit"`
			PermitHistory []json.RawMessage `json:"permit_history"`
		}
		d.mustGetJSON("/v1/industries/"+d.industry, &ind)
		ps, err := periodStart(ind.PeriodLabel)
		if err != nil {
			t.Fatal(err)
		}
		// Chart the open period, unless it began after the first readings
		// (a 5-minute devnet period may close during the test).
		window := "period"
		if ps.After(now.Add(-25 * time.Second)) {
			window = "5m"
		}
		b.open(t, d.base, "#/industry/"+d.industry+"?window="+window, "industry")
		fig := func(name string) string {
			return eval[string](t, b, fmt.Sprintf(`document.querySelector('[data-figure=%q]').dataset.value`, name))
		}
		if got := fig("balance"); got != fmt.Sprint(ind.Balance) {
			t.Errorf("balance shown %s, API %d", got, ind.Balance)
		}
		if got := fig("allowance"); got != fmt.Sprint(ind.AllowanceAfterTrades) {
			t.Errorf("allowance shown %s, API %d", got, ind.AllowanceAfterTrades)
		}
		// Water used this period: the sum of the meters' volumes since the
		// period began, from the readings API.
		var used int64
		for _, dev := range d.devices {
			for _, r := range d.readings(dev.Public(), ps) {
				used += r.Volume
			}
		}
		if got := fig("used"); got != fmt.Sprint(used) {
			t.Errorf("water used shown %s mL, readings API sums to %d", got, used)
		}
		// Each measure is charted; the conductivity chart draws the
		// permit's limit and marks the reading above it.
		b.waitJS(t, "the conductivity chart", `Number(document.querySelector('[data-measure=conductivity]').dataset.points) > 0`, 5*time.Second)
		limit := eval[string](t, b, `document.querySelector('[data-measure=conductivity] line.limit')?.dataset.limit ?? ''`)
		if want := fmt.Sprint(float64(ind.Permit.Limits["conductivity"]) / 10); limit != want {
			t.Errorf("conductivity chart limit line at %q, permit says %s µS/cm", limit, want)
		}
		if n := eval[int](t, b, `document.querySelectorAll('[data-measure=conductivity] circle.over').length`); n != 1 {
			t.Errorf("%d readings marked over the conductivity limit, want 1", n)
		}
		if n := eval[int](t, b, `document.querySelectorAll('.chart-box[data-measure] svg').length`); n != 6 {
			t.Errorf("%d measure charts drawn, want 6", n)
		}
		// The permit card lists every version the API has.
		if n := eval[int](t, b, `document.querySelectorAll('tr[data-permit]:not([data-permit=next])').length`); n != len(ind.PermitHistory) || n == 0 {
			t.Errorf("%d permit versions shown, the API has %d", n, len(ind.PermitHistory))
		}
		// The newest settlement record's inputs are shown as the API has
		// them: A, U, E, D, d, c, saved or over, gross, reward, and each
		// meter's expected, readings and delivered.
		var recs []struct {
			Period               int64  `json:"period"`
			Industry             string `json:"industry"`
			AllowanceAfterTrades uint64 `json:"allowance_after_trades"`
			UsedML               uint64 `json:"used_ml"`
			Expected             uint64 `json:"expected"`
			Delivered            uint64 `json:"delivered"`
			DeliveryPermille     uint32 `json:"delivery_permille"`
			CompliancePermille   uint32 `json:"compliance_permille"`
			SavedLitres          uint64 `json:"saved_litres"`
			OverLitres           uint64 `json:"over_litres"`
			Gross                uint64 `json:"gross"`
			Reward               uint64 `json:"reward"`
			Meters               []struct {
				Device                        string `json:"device"`
				Expected, Readings, Delivered uint64
			} `json:"meters"`
		}
		waitFor(t, 20*time.Second, "a settled period", func() bool { return d.getJSON("/v1/settlements", &recs) == http.StatusOK && len(recs) > 0 })
		shownFor := 0
		for _, rec := range recs {
			if rec.Industry != d.industry {
				continue
			}
			shownFor++
			b.waitJS(t, "the settlement inputs", fmt.Sprintf(`document.querySelector('[data-settlement="%d"]') !== null`, rec.Period), 10*time.Second)
			shown := eval[map[string]string](t, b, `Object.fromEntries([...document.querySelectorAll('[data-settle]')].map((e) => [e.dataset.settle, e.dataset.value]))`)
			want := map[string]uint64{"A": rec.AllowanceAfterTrades, "U": rec.UsedML, "E": rec.Expected, "D": rec.Delivered,
				"d": uint64(rec.DeliveryPermille), "c": uint64(rec.CompliancePermille), "gross": rec.Gross, "reward": rec.Reward}
			if rec.OverLitres > 0 {
				want["over"] = rec.OverLitres
			} else {
				want["saved"] = rec.SavedLitres
			}
			for k, v := range want {
				if shown[k] != fmt.Sprint(v) {
					t.Errorf("period %d settlement input %s shown %q, API %d", rec.Period, k, shown[k], v)
				}
			}
			var apiMeters []string
			for _, m := range rec.Meters {
				apiMeters = append(apiMeters, fmt.Sprintf("%s:%d:%d:%d", m.Device, m.Expected, m.Readings, m.Delivered))
			}
			if got := eval[[]string](t, b, `[...document.querySelectorAll('tr[data-meter]')].map((e) => [e.dataset.meter, e.dataset.expected, e.dataset.readings, e.dataset.delivered].join(':'))`); strings.Join(got, " ") != strings.Join(apiMeters, " ") || len(got) == 0 {
				t.Errorf("period %d meters shown %v, API %v", rec.Period, got, apiMeters)
			}
		}
		if shownFor != 1 {
			t.Errorf("the last settled period has %d records of industry %s, want 1", shownFor, d.industry)
		}
		b.screenshot(t, "industry")
		b.checkConsole(t)
	})

	t.Run("market", func(t *testing.T) {
		b.open(t, d.base, "#/market", "market")
		var offers []struct {
			ID    string `json:"id"`
			Price uint64 `json:"price"`
		}
		d.mustGetJSON("/v1/market/offers", &offers)
		if got := eval[int](t, b, `Number(document.querySelector('[data-figure="offers-count"]').dataset.value)`); got != len(offers) {
			t.Errorf("open offers shown %d, API %d", got, len(offers))
		}
		if got := eval[int](t, b, `document.querySelectorAll('[data-offer]').length`); got != len(offers) {
			t.Errorf("offer rows %d, API %d", got, len(offers))
		}
		if got := eval[string](t, b, `document.querySelector('[data-figure="best-price"]').dataset.value`); len(offers) > 0 && got != fmt.Sprint(offers[0].Price) {
			t.Errorf("best price %s, API's cheapest %d", got, offers[0].Price)
		}
		if n := eval[int](t, b, `document.querySelectorAll('.chart circle, .chart path.series').length`); n == 0 {
			t.Errorf("the price chart draws nothing")
		}
		b.screenshot(t, "market")
		b.checkConsole(t)
	})

	// A data block with readings, and one of its readings.
	var sample apiReading
	dev0 := d.devices[0].Public()
	for _, r := range d.readings(dev0, now.Add(-time.Minute)) {
		sample = r
		break
	}

	t.Run("explorer", func(t *testing.T) {
		b.open(t, d.base, fmt.Sprintf("#/explorer/block/data/%d", sample.Height), "explorer")
		var blk struct {
			Header struct {
				NumEntries int `json:"num_entries"`
			} `json:"header"`
			Cert struct {
				Sigs []struct {
					Validator string `json:"validator"`
				} `json:"sigs"`
			} `json:"cert"`
		}
		d.mustGetJSON(fmt.Sprintf("/v1/blocks/data/%d", sample.Height), &blk)
		if got := eval[int](t, b, `document.querySelectorAll('[data-device][data-seq]').length`); got != blk.Header.NumEntries {
			t.Errorf("%d reading rows, block has %d entries", got, blk.Header.NumEntries)
		}
		if got := eval[int](t, b, `document.querySelectorAll('[data-validator][data-signed=true]').length`); got != len(blk.Cert.Sigs) {
			t.Errorf("%d validators marked as signers, certificate has %d", got, len(blk.Cert.Sigs))
		}
		// The page hashes the header and checks every precommit signature
		// with WebCrypto: the same verdict as the Go code.
		b.waitJS(t, "the certificate check", `document.querySelector('[data-verdict]').dataset.verdict !== 'pending'`, 10*time.Second)
		if v := eval[string](t, b, `document.querySelector('[data-verdict]').dataset.verdict + ': ' + document.querySelector('[data-verdict]').textContent`); !strings.HasPrefix(v, "ok:") {
			t.Errorf("certificate check in the browser: %s", v)
		}
		b.screenshot(t, "explorer")
		b.checkConsole(t)
	})

	t.Run("reading encoding matches Go", func(t *testing.T) {
		// The browser's canonical CBOR of a reading (its Merkle leaf and,
		// minus the signature, its signing bytes) equals Go's.
		var res struct {
			Readings []json.RawMessage `json:"readings"`
		}
		d.mustGetJSON(fmt.Sprintf("/v1/readings?device=%s&seq=%d", dev0, sample.Seq), &res)
		if len(res.Readings) != 1 {
			t.Fatalf("reading %d: %d answers", sample.Seq, len(res.Readings))
		}
		var r chain.Reading
		if err := json.Unmarshal(res.Readings[0], &r); err != nil {
			t.Fatal(err)
		}
		assets := d.base + web.AssetPrefix + web.Version()
		got := eval[[]string](t, b, fmt.Sprintf(`(async () => {
			const p = await import(%q);
			const c = await import(%q);
			const d = await import(%q);
			const r = %s;
			const full = p.encodeReading(r);
			return [d.bytesToHex(full), d.bytesToHex(c.withoutLastKey(full, 15))];
		})()`, assets+"/js/proof.js", assets+"/js/cbor.js", assets+"/js/dom.js", res.Readings[0]))
		if len(got) != 2 || got[0] != hex.EncodeToString(r.Encode()) || got[1] != hex.EncodeToString(r.SigningBytes()) {
			t.Errorf("browser encodes reading %d as %v, Go as [%x %x]", sample.Seq, got, r.Encode(), r.SigningBytes())
		}
		b.checkConsole(t)
	})

	t.Run("proof verifier agrees with Go", func(t *testing.T) {
		// A proof bundle built here from the API's block (the shape of
		// chain.ReadingProof) and checked by Go's Verify: the browser's
		// verifier passes it, and fails each single flipped byte.
		p := d.buildProof(t, dev0, sample)
		st := d.status()
		genesisSet := d.genesisValidators(t)
		gh, err := chain.ParseHash(st.GenesisHash)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(st.ChainID, gh, genesisSet); err != nil {
			t.Fatalf("Go rejects the bundle built for the browser: %v", err)
		}
		bundle, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		trust, err := json.Marshal(map[string]any{"chainID": st.ChainID, "genesisHash": st.GenesisHash, "genesisValidators": genesisSet})
		if err != nil {
			t.Fatal(err)
		}
		assets := d.base + web.AssetPrefix + web.Version()
		got := eval[map[string]string](t, b, fmt.Sprintf(`(async () => {
			const p = await import(%q);
			const bundle = %s, trust = %s;
			const failed = (r) => r.ok ? 'ok' : r.checks.filter((c) => !c.ok).map((c) => c.name + ' (' + c.detail + ')').join('; ');
			const out = { genuine: failed(await p.verifyReadingProof(bundle, trust)) };
			for (const part of ['reading', 'path', 'header', 'signature']) {
				out[part] = failed(await p.verifyReadingProof(p.tamper(bundle, part), trust));
			}
			const other = { ...trust, genesisValidators: [...trust.genesisValidators].reverse() };
			out['other genesis set'] = failed(await p.verifyReadingProof(bundle, other));
			return out;
		})()`, assets+"/js/proof.js", bundle, trust))
		if got["genuine"] != "ok" {
			t.Errorf("genuine proof: the browser says %q", got["genuine"])
		}
		for _, part := range []string{"reading", "path", "header", "signature", "other genesis set"} {
			if got[part] == "ok" || got[part] == "" {
				t.Errorf("proof with %s tampered: the browser accepts it", part)
			} else {
				t.Logf("tampered %s: %s", part, got[part])
			}
		}
		b.checkConsole(t)
	})

	t.Run("proof", func(t *testing.T) {
		b.open(t, d.base, fmt.Sprintf("#/explorer/reading/%s/%d", dev0, sample.Seq), "explorer")
		d.mustGetJSON(fmt.Sprintf("/v1/proofs/readings/%s/%d", dev0, sample.Seq), nil)
		verdict := `document.querySelector('[data-proof] [data-verdict]').dataset.verdict`
		b.waitJS(t, "the proof check", verdict+` !== 'pending'`, 10*time.Second)
		if v := eval[string](t, b, verdict+` + ': ' + document.querySelector('[data-proof]').innerText`); !strings.HasPrefix(v, "ok:") {
			t.Fatalf("genuine proof: %s", v)
		}
		b.screenshot(t, "proof-valid")
		// Flip one byte of the reading's bytes in the page: red.
		b.do(t, "tamper", 10*time.Second, chromedp.Click(chromedp.CSS(`[data-action=tamper]`)))
		b.waitJS(t, "the tampered proof check", verdict+` === 'bad'`, 10*time.Second)
		failed := eval[[]string](t, b, `[...document.querySelectorAll('[data-check][data-ok=false]')].map(e => e.dataset.check)`)
		if len(failed) == 0 {
			t.Errorf("tampered proof: verdict bad but no failed check listed")
		}
		t.Logf("tampered proof fails: %v", failed)
		b.do(t, "open the bundle", 5*time.Second, chromedp.Click(chromedp.CSS(`details summary`)))
		b.screenshot(t, "proof-tampered")
		b.checkConsole(t)
	})

	t.Run("alerts", func(t *testing.T) {
		b.open(t, d.base, "#/alerts", "alerts")
		d.mustGetJSON("/v1/alerts", nil)
		before := eval[int](t, b, `document.querySelectorAll('[data-alert-id]').length`)
		eval[string](t, b, `window.__mark = 'kept'`)
		// Readings far above every discharge limit, now: the alert rules
		// raise an exceedance when their block is final.
		var rs []*chain.Reading
		for i := 0; i < 3; i++ {
			r := d.reading(d.devices[1], time.Now().Add(time.Duration(i-3)*time.Second), 90_000)
			r.SuspendedSolids, r.Turbidity = 9_000, 40_000
			r.Sign(d.chainID, d.devices[1])
			rs = append(rs, r)
		}
		d.submit(rs)
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		defer cancel()
		err := chromedp.Do(ctx, poll(fmt.Sprintf(`document.querySelectorAll('[data-alert-id]').length > %d`, before), 18*time.Second))
		b.screenshot(t, "alerts")
		if err != nil {
			t.Fatalf("no alert appeared without reload within 18 s of readings above every limit: %v", err)
		}
		if m := eval[string](t, b, `window.__mark`); m != "kept" {
			t.Errorf("the page reloaded")
		}
		// Every alert shown is one the API lists.
		var listed []struct {
			ID string `json:"id"`
		}
		d.mustGetJSON("/v1/alerts", &listed)
		known := map[string]bool{}
		for _, a := range listed {
			known[a.ID] = true
		}
		for _, id := range eval[[]string](t, b, `[...document.querySelectorAll('[data-alert-id]')].map(e => e.dataset.alertId)`) {
			if !known[id] {
				t.Errorf("alert %s is shown but GET /v1/alerts does not list it", id)
			}
		}
		// Filtering by kind keeps only that kind.
		kind := eval[string](t, b, `document.querySelector('[data-alert-id]').dataset.kind`)
		b.do(t, "filter by kind", 5*time.Second, chromedp.SetValue(chromedp.CSS(`select[name=kind]`), kind),
			chromedp.Evaluate[chromedp.Void](`void document.querySelector('select[name=kind]').dispatchEvent(new Event('change'))`))
		if n := eval[int](t, b, fmt.Sprintf(`[...document.querySelectorAll('[data-alert-id]')].filter(e => e.dataset.kind !== %q).length`, kind)); n != 0 {
			t.Errorf("filter by kind %q left %d rows of other kinds", kind, n)
		}
		b.screenshot(t, "alerts")
		b.checkConsole(t)
	})

	t.Run("phone", func(t *testing.T) {
		// Every page fits a 375 px wide screen: no sideways scrolling of
		// the page itself (wide tables scroll inside their own box).
		b.do(t, "phone viewport", 5*time.Second, chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2)))
		defer b.do(t, "desktop viewport", 5*time.Second, chromedp.EmulateViewport(1200, 860))
		for _, p := range []struct{ hash, page string }{
			{"#/network", "network"}, {"#/industry/" + d.industry, "industry"}, {"#/market", "market"},
			{"#/alerts", "alerts"}, {fmt.Sprintf("#/explorer/block/data/%d", sample.Height), "explorer"},
		} {
			b.open(t, d.base, p.hash, p.page)
			if w := eval[int](t, b, `document.documentElement.scrollWidth`); w > 376 {
				t.Errorf("%s is %d px wide on a 375 px screen", p.hash, w)
			}
			if p.page == "industry" {
				b.screenshot(t, "phone-industry")
			}
		}
		b.checkConsole(t)
	})
	t.Logf("browser tests done in %s", time.Since(start).Round(time.Millisecond))
}

// offer puts part of the first industry's allowance on the market.
func (d *devnet) offer(t *testing.T) {
	t.Helper()
	var key *chain.PrivateKey
	for _, a := range d.nw.Accounts {
		if a.Address.String() == d.industry {
			k, err := keys.Load(a.KeyFile)
			if err != nil {
				t.Fatal(err)
			}
			key = k
		}
	}
	if key == nil {
		t.Fatalf("no account key for industry %s", d.industry)
	}
	var ind struct {
		Unoffered uint64 `json:"unoffered"`
	}
	var acct struct {
		Nonce uint64 `json:"nonce"`
	}
	d.mustGetJSON("/v1/industries/"+d.industry, &ind)
	d.mustGetJSON("/v1/accounts/"+d.industry, &acct)
	if ind.Unoffered < 10 {
		t.Fatalf("industry %s has %d litres to offer", d.industry, ind.Unoffered)
	}
	tx := &chain.Tx{From: key.Public(), Nonce: acct.Nonce + 1, OfferAllowance: &chain.OfferAllowance{Volume: ind.Unoffered / 10, Price: 2_500}}
	tx.Sign(d.chainID, key)
	if code, body := d.post("/v1/txs", tx); code != http.StatusAccepted {
		t.Fatalf("POST /v1/txs offer: HTTP %d: %s", code, body)
	}
}

// periodStart parses a period label as the API writes it (UTC).
func periodStart(label string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01"} {
		if t, err := time.Parse(layout, label); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("period label %q: want YYYY-MM or YYYY-MM-DDThh:mm", label)
}

// genesisValidators is the first validator set of the node's history.
func (d *devnet) genesisValidators(t *testing.T) []chain.PubKey {
	t.Helper()
	var recs []struct {
		From uint64         `json:"from"`
		Keys []chain.PubKey `json:"keys"`
	}
	if code := d.getJSON("/v1/validators", &recs); code != http.StatusOK || len(recs) == 0 {
		t.Fatalf("GET /v1/validators: HTTP %d, %d records", code, len(recs))
	}
	first := recs[0]
	for _, r := range recs {
		if r.From < first.From {
			first = r
		}
	}
	return first.Keys
}

// buildProof assembles the inclusion proof of reading r of device dev
// from its block as the API serves it.
func (d *devnet) buildProof(t *testing.T, dev chain.PubKey, r apiReading) *chain.ReadingProof {
	t.Helper()
	var blk chain.Block
	if code := d.getJSON(fmt.Sprintf("/v1/blocks/data/%d", r.Height), &blk); code != http.StatusOK {
		t.Fatalf("block data/%d: HTTP %d", r.Height, code)
	}
	index := -1
	for i, rd := range blk.Readings {
		if rd.Device == dev && rd.Seq == r.Seq {
			index = i
		}
	}
	if index < 0 || blk.Cert == nil {
		t.Fatalf("block data/%d lacks reading %d or its certificate", r.Height, r.Seq)
	}
	path, err := chain.InclusionProof(blk.Leaves(), index)
	if err != nil {
		t.Fatal(err)
	}
	st := d.status()
	gh, err := chain.ParseHash(st.GenesisHash)
	if err != nil {
		t.Fatal(err)
	}
	rd := blk.Readings[index]
	return &chain.ReadingProof{
		ChainID: st.ChainID, GenesisHash: gh, Reading: rd, ReadingCBOR: rd.Encode(), Index: uint64(index), Path: path,
		Header: blk.Header, HeaderCBOR: chain.MustEncode(&blk.Header), Cert: blk.Cert, Validators: d.genesisValidators(t),
	}
}
