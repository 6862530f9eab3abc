package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/web"
)

// The dashboard's own JavaScript (cbor.js, crypto.js) run in Chromium and
// held to the Go code: no network of nodes, only the dashboard's files
// served on loopback. insecureHost resolves to the same loopback server
// inside the browser, but is not localhost, so a page from it is not a
// secure context: no WebCrypto, as for a dashboard opened by its LAN
// address over plain http.
const insecureHost = "waterchain-insecure.test"

// jsPages serves the dashboard's files and a blank page, and starts
// Chromium. It returns the browser and the base URLs of the secure
// (127.0.0.1) and insecure origins.
func jsPages(t *testing.T) (b *browser, secure, insecure string) {
	t.Helper()
	chromium := findChromium()
	if chromium == "" {
		if os.Getenv("WATERCHAIN_REQUIRE_BROWSER") == "1" {
			t.Fatal("WATERCHAIN_REQUIRE_BROWSER=1 but no Chromium found: apt-get install -y chromium, or set WATERCHAIN_CHROMIUM")
		}
		t.Skip("no Chromium found: the dashboard's JavaScript tests need Debian's chromium (apt-get install -y chromium) or WATERCHAIN_CHROMIUM=/path; set WATERCHAIN_REQUIRE_BROWSER=1 to make this a failure")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(web.AssetPrefix, web.Handler())
	mux.HandleFunc("/blank", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><link rel=icon href="data:,"><title>blank</title>`)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln) //nolint:errcheck // ends with Close below
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	b = startBrowser(t, chromium, chromedp.Flag("host-resolver-rules", "MAP "+insecureHost+" 127.0.0.1"))
	return b, fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://%s:%d", insecureHost, port)
}

// jsModule is the URL of one of the dashboard's modules under base.
func jsModule(base, name string) string {
	return base + web.AssetPrefix + web.Version() + "/js/" + name
}

// TestCBORMatchesGo: cbor.js encodes integers across the whole CBOR range,
// 2^53 and 2^64-1 included, to the bytes Go's canonical encoder makes,
// decodes them back to the same value (a Number while safe, a BigInt
// beyond) and refuses what it cannot encode exactly.
func TestCBORMatchesGo(t *testing.T) {
	b, base, _ := jsPages(t)
	b.do(t, "open a blank page", 10*time.Second, chromedp.Navigate(base+"/blank"))

	const safe = 1<<53 - 1
	type intCase struct {
		js   string // the JavaScript value
		want []byte // Go's canonical encoding
	}
	var cases []intCase
	for _, u := range []uint64{0, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, safe - 1, safe, safe + 1, safe + 2, 1 << 63, math.MaxUint64 - 1, math.MaxUint64} {
		js := strconv.FormatUint(u, 10) + "n"
		if u <= safe {
			js = strconv.FormatUint(u, 10) // a Number
			cases = append(cases, intCase{js + "n", chain.MustEncode(u)})
		}
		cases = append(cases, intCase{js, chain.MustEncode(u)})
	}
	for _, i := range []int64{-1, -24, -25, -256, -257, -(1 << 32), -(1 << 32) - 1, -safe, -safe - 1, -safe - 2, math.MinInt64} {
		js := strconv.FormatInt(i, 10) + "n"
		if i >= -safe {
			js = strconv.FormatInt(i, 10)
		}
		cases = append(cases, intCase{js, chain.MustEncode(i)})
	}
	// -2^64, the least CBOR integer, is beyond int64: RFC 8949 Appendix A.
	cases = append(cases, intCase{"-18446744073709551616n", []byte{0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}})

	values := make([]string, len(cases))
	for i, c := range cases {
		values[i] = c.js
	}
	type jsResult struct {
		Hex   string `json:"hex"`
		Again string `json:"again"` // encode(decode(bytes))
		Type  string `json:"type"`  // typeof decode(bytes)
		Same  bool   `json:"same"`  // decode(bytes) === the value encoded, as a BigInt
	}
	got := eval[[]jsResult](t, b, fmt.Sprintf(`(async () => {
		const c = await import(%q);
		const hex = (u8) => [...u8].map((x) => x.toString(16).padStart(2, '0')).join('');
		return [%s].map((v) => {
			const bytes = c.encode(v);
			const back = c.decode(bytes);
			return { hex: hex(bytes), again: hex(c.encode(back)), type: typeof back, same: BigInt(back) === BigInt(v) };
		});
	})()`, jsModule(base, "cbor.js"), strings.Join(values, ", ")))
	if len(got) != len(cases) {
		t.Fatalf("%d results for %d values", len(got), len(cases))
	}
	for i, c := range cases {
		g := got[i]
		want := hex.EncodeToString(c.want)
		if g.Hex != want {
			t.Errorf("encode(%s) = %s, Go encodes %s", c.js, g.Hex, want)
		}
		if g.Again != want || !g.Same {
			t.Errorf("decode(encode(%s)) is not the value: encodes again as %s (same value: %v)", c.js, g.Again, g.Same)
		}
		v, _ := strconv.ParseFloat(strings.TrimSuffix(c.js, "n"), 64)
		wantType := "number"
		if math.Abs(v) > safe {
			wantType = "bigint"
		}
		if g.Type != wantType {
			t.Errorf("decode(encode(%s)) is a %s, want a %s", c.js, g.Type, wantType)
		}
	}

	// A reading whose uint64 and int64 fields are at their limits, as the
	// API's JSON: proof.js's parseBundle keeps its integers exact, the
	// browser's canonical bytes (the Merkle leaf) equal Go's, and
	// formatBundle writes the same JSON back.
	r := chain.Reading{Seq: math.MaxUint64, Time: chain.Time(1_760_000_000_123), FlowRate: math.MinInt64,
		Volume: 1<<53 + 1, VolumeTotal: math.MaxInt64, Conductivity: -(1 << 53), SuspendedSolids: 1, Absorbance: 0, Turbidity: safe}
	r.Device[0], r.Sig = 7, make(chain.Signature, 64)
	r.Sig[0], r.Sig[63] = 1, 2
	readingJSON, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	got2 := eval[[]string](t, b, fmt.Sprintf(`(async () => {
		const p = await import(%q);
		const text = %q;
		const r = p.parseBundle(text);
		return [[...p.encodeReading(r)].map((x) => x.toString(16).padStart(2, '0')).join(''), typeof r.seq, p.formatBundle(r)];
	})()`, jsModule(base, "proof.js"), readingJSON))
	if want := hex.EncodeToString(r.Encode()); len(got2) != 3 || got2[0] != want {
		t.Errorf("a reading at the integer limits: the browser encodes %v, Go %s", got2, want)
	} else {
		if got2[1] != "bigint" {
			t.Errorf("parseBundle gives seq %d as a %s, want a bigint", r.Seq, got2[1])
		}
		if got2[2] != string(readingJSON) {
			t.Errorf("formatBundle(parseBundle(json)) = %s\nwant %s", got2[2], readingJSON)
		}
	}

	// What cannot be encoded exactly is refused with a CborError, and
	// non-canonical or out-of-range bytes are refused by decode.
	refused := eval[[]string](t, b, fmt.Sprintf(`(async () => {
		const c = await import(%q);
		const bytes = (hex) => new Uint8Array(hex.match(/../g).map((x) => parseInt(x, 16)));
		const tries = {
			'Number 2^53': () => c.encode(2 ** 53),
			'Number -(2^53)': () => c.encode(-(2 ** 53)),
			'Number 0.5': () => c.encode(0.5),
			'BigInt 2^64': () => c.encode(2n ** 64n),
			'BigInt -(2^64)-1': () => c.encode(-(2n ** 64n) - 1n),
			'8-byte argument below 2^32': () => c.decode(bytes('1b00000000ffffffff')),
			'byte string of length 2^53': () => c.decode(bytes('5b0020000000000000')),
			'array of length 2^64-1': () => c.decode(bytes('9bffffffffffffffff')),
		};
		const out = [];
		for (const [name, f] of Object.entries(tries)) {
			try { f(); out.push(name + ': accepted'); } catch (err) { out.push(name + ': ' + (err instanceof c.CborError ? 'CborError' : err)); }
		}
		return out;
	})()`, jsModule(base, "cbor.js")))
	for _, r := range refused {
		if !strings.HasSuffix(r, ": CborError") {
			t.Errorf("want a CborError: %s", r)
		}
	}
	b.checkConsole(t)
}

// TestSHA256Fallback: crypto.js's own SHA-256 (what the proof checks use
// where the page is not a secure context) gives the FIPS 180-4 digests of
// NIST's examples and Go's digest at every length around the padding
// boundaries; and on a page that is not a secure context, sha256 is that
// fallback and still right.
func TestSHA256Fallback(t *testing.T) {
	b, base, insecure := jsPages(t)
	b.do(t, "open a blank page", 10*time.Second, chromedp.Navigate(base+"/blank"))

	// NIST's SHA-256 examples (FIPS 180-4 example values; the million
	// 'a' from FIPS 180-2 appendix B.3).
	nist := []struct{ js, want string }{
		{`''`, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{`'abc'`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{`'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'`, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
		{`'a'.repeat(1000000)`, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
	}
	// Random messages of every length from 0 to 200 bytes, Go's digests.
	rng := rand.New(rand.NewPCG(1, 2))
	var msgs []string
	var wants []string
	for n := 0; n <= 200; n++ {
		m := make([]byte, n)
		for i := range m {
			m[i] = byte(rng.UintN(256))
		}
		sum := sha256.Sum256(m)
		msgs = append(msgs, strconv.Quote(hex.EncodeToString(m)))
		wants = append(wants, hex.EncodeToString(sum[:]))
	}
	var nistJS []string
	for _, v := range nist {
		nistJS = append(nistJS, v.js)
	}
	script := func(module string) string {
		return fmt.Sprintf(`(async () => {
			const c = await import(%q);
			const hex = (u8) => [...u8].map((x) => x.toString(16).padStart(2, '0')).join('');
			const bytes = (h) => new Uint8Array((h.match(/../g) || []).map((x) => parseInt(x, 16)));
			const enc = new TextEncoder();
			return {
				secure: isSecureContext,
				webcrypto: !!(globalThis.crypto && globalThis.crypto.subtle),
				nistJS: [%s].map((s) => hex(c.sha256js(enc.encode(s)))),
				nist: await Promise.all([%[2]s].map(async (s) => hex(await c.sha256(enc.encode(s))))),
				lengthsJS: [%[3]s].map((h) => hex(c.sha256js(bytes(h)))),
			};
		})()`, module, strings.Join(nistJS, ", "), strings.Join(msgs, ", "))
	}
	type result struct {
		Secure    bool     `json:"secure"`
		WebCrypto bool     `json:"webcrypto"`
		NISTJS    []string `json:"nistJS"`
		NIST      []string `json:"nist"`
		LengthsJS []string `json:"lengthsJS"`
	}
	check := func(t *testing.T, r result) {
		t.Helper()
		if len(r.NISTJS) != len(nist) || len(r.NIST) != len(nist) || len(r.LengthsJS) != len(wants) {
			t.Fatalf("short answer: %d, %d, %d digests", len(r.NISTJS), len(r.NIST), len(r.LengthsJS))
		}
		for i, v := range nist {
			name := v.js
			if len(name) > 24 {
				name = name[:24] + "…"
			}
			if r.NISTJS[i] != v.want {
				t.Errorf("sha256js(%s) = %s, NIST %s", name, r.NISTJS[i], v.want)
			}
			if r.NIST[i] != v.want {
				t.Errorf("sha256(%s) = %s, NIST %s", name, r.NIST[i], v.want)
			}
		}
		for n, want := range wants {
			if r.LengthsJS[n] != want {
				t.Errorf("sha256js of %d random bytes = %s, Go %s", n, r.LengthsJS[n], want)
			}
		}
	}

	t.Run("secure context", func(t *testing.T) {
		r := eval[result](t, b, script(jsModule(base, "crypto.js")))
		if !r.Secure || !r.WebCrypto {
			t.Fatalf("http://127.0.0.1: secure context %v, WebCrypto %v; want both", r.Secure, r.WebCrypto)
		}
		check(t, r)
	})

	t.Run("not a secure context", func(t *testing.T) {
		b.do(t, "open the insecure origin", 10*time.Second, chromedp.Navigate(insecure+"/blank"))
		r := eval[result](t, b, script(jsModule(insecure, "crypto.js")))
		if r.Secure || r.WebCrypto {
			t.Fatalf("http://%s: secure context %v, WebCrypto %v; want neither, so that sha256 is the fallback", insecureHost, r.Secure, r.WebCrypto)
		}
		check(t, r)
	})
	b.checkConsole(t)
}

// TestLaneNoteSaysWhyQuiet: the network page's lane figure says when the
// last block was made and, from /v1/status, whether the lane is idle (and
// until when), making a block, or overdue.
func TestLaneNoteSaysWhyQuiet(t *testing.T) {
	b, base, _ := jsPages(t)
	b.do(t, "open a blank page", 10*time.Second, chromedp.Navigate(base+"/blank"))
	type note struct {
		Text  string `json:"text"`
		State string `json:"state"`
		Title string `json:"title"`
	}
	now := time.Date(2026, 3, 10, 9, 1, 0, 0, time.UTC)
	last, due := now.Add(-time.Minute), now.Add(9*time.Minute)
	lane := func(extra string) string {
		return fmt.Sprintf(`{height: 7, time: %q, round: 0, next_block_due: %q%s}`, last.Format(time.RFC3339), due.Format(time.RFC3339), extra)
	}
	reason := "idle: no entries waiting; next block by 09:10:00 UTC at the latest (the idle interval 10m0s since the last block)"
	cases := []struct {
		name, lane string
		want       note // Text: a part of the note; Title: "" for any
	}{
		{"idle", lane(fmt.Sprintf(`, quiet_reason: %q`, reason)), note{Text: "next block by ", State: "idle", Title: reason}},
		{"busy", lane(""), note{Text: "making a block", State: "busy"}},
		{"overdue", lane(`, overdue: true`), note{Text: "a block was due ", State: "overdue"}},
		{"no block yet", `{height: 0, round: 0}`, note{Text: "no block yet"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := eval[note](t, b, fmt.Sprintf(`(async () => {
				const m = await import(%q);
				const el = document.createElement('div');
				const n = m.laneNote(%s, %d);
				for (const part of [n].flat()) el.append(part);
				const s = el.querySelector('[data-lane-state]');
				return { text: el.textContent, state: s ? s.dataset.laneState : '', title: s ? s.title : '' };
			})()`, jsModule(base, "pages/network.js"), c.lane, now.UnixMilli()))
			if !strings.Contains(got.Text, c.want.Text) || got.State != c.want.State || (c.want.Title != "" && got.Title != c.want.Title) {
				t.Errorf("note %+v, want state %q, title %q, text containing %q", got, c.want.State, c.want.Title, c.want.Text)
			}
			if c.lane != `{height: 0, round: 0}` && !strings.Contains(got.Text, "last block 1m ago") {
				t.Errorf("note %q does not say when the last block was made", got.Text)
			}
		})
	}
}
