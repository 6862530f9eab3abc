package web_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/waterchain/waterchain/node/web"
)

func serve(t testing.TB, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestIndexForRootAndClientRoutes(t *testing.T) {
	h := web.Handler()
	for _, target := range []string{"/", "/index.html", "/network", "/industry/wc0011", "/explorer/block/data/3?x=1"} {
		rec := serve(t, h, http.MethodGet, target, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d, want 200", target, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: content type %q", target, ct)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: cache control %q, want no-cache so a new binary is picked up", target, cc)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("GET %s: content security policy %q does not confine the page to its origin", target, csp)
		}
		body := rec.Body.String()
		if strings.Contains(body, "{{ASSETS}}") {
			t.Fatalf("GET %s: placeholder left in index.html", target)
		}
		want := web.AssetPrefix + web.Version() + "/js/app.js"
		if !strings.Contains(body, `src="`+want+`"`) {
			t.Errorf("GET %s: index.html does not load %s", target, want)
		}
	}
}

func TestAssetsVersionedAndCached(t *testing.T) {
	h := web.Handler()
	v := web.Version()
	if len(v) != 16 {
		t.Fatalf("version %q: want 16 hex digits", v)
	}
	cases := []struct{ file, ctype string }{
		{"js/app.js", "text/javascript; charset=utf-8"},
		{"js/pages/explorer.js", "text/javascript; charset=utf-8"},
		{"css/app.css", "text/css; charset=utf-8"},
		{"favicon.svg", "image/svg+xml"},
	}
	for _, c := range cases {
		rec := serve(t, h, http.MethodGet, web.AssetPrefix+v+"/"+c.file, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d", c.file, rec.Code)
		}
		if got := rec.Header().Get("Content-Type"); got != c.ctype {
			t.Errorf("GET %s: content type %q, want %q", c.file, got, c.ctype)
		}
		if got := rec.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: cache control %q, want immutable for a versioned asset", c.file, got)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", c.file)
		}
		etag := rec.Header().Get("ETag")
		if etag == "" {
			t.Fatalf("GET %s: no ETag", c.file)
		}
		again := serve(t, h, http.MethodGet, web.AssetPrefix+v+"/"+c.file, map[string]string{"If-None-Match": `"other", ` + etag})
		if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("GET %s with its ETag: status %d, %d bytes; want 304 and none", c.file, again.Code, again.Body.Len())
		}
	}
	// A page of an older build asks for its version: the file is served,
	// but not cached forever under a name that now means other bytes.
	rec := serve(t, h, http.MethodGet, web.AssetPrefix+"0123456789abcdef/js/app.js", nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("old version: status %d, cache control %q; want 200 no-cache", rec.Code, rec.Header().Get("Cache-Control"))
	}
}

func TestGzip(t *testing.T) {
	h := web.Handler()
	target := web.AssetPrefix + web.Version() + "/js/pages/explorer.js"
	plain := serve(t, h, http.MethodGet, target, nil)
	for _, ae := range []string{"gzip", "br, gzip;q=0.8", "*"} {
		rec := serve(t, h, http.MethodGet, target, map[string]string{"Accept-Encoding": ae})
		if rec.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("Accept-Encoding %q: not gzipped", ae)
		}
		if !strings.Contains(rec.Header().Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: no Vary header", ae)
		}
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, plain.Body.Bytes()) {
			t.Fatalf("Accept-Encoding %q: gunzipped body differs from the plain one (err %v)", ae, err)
		}
	}
	for _, ae := range []string{"", "br", "gzip;q=0", "*, gzip;q=0", "identity"} {
		rec := serve(t, h, http.MethodGet, target, map[string]string{"Accept-Encoding": ae})
		if rec.Header().Get("Content-Encoding") != "" {
			t.Errorf("Accept-Encoding %q: gzipped, want plain", ae)
		}
	}
}

func TestNotFoundMethodsAndAPIPaths(t *testing.T) {
	h := web.Handler()
	v := web.Version()
	for _, target := range []string{"/nope.js", "/favicon.ico", web.AssetPrefix + v + "/js/none.js", web.AssetPrefix + v, web.AssetPrefix + v + "/index.html", web.AssetPrefix,
		"/debug/pprof/", "/debug/pprof/heap", "/admin", "/networks", "/v1x", "/.env", "/wp-login.php", "/js/app.js"} {
		if rec := serve(t, h, http.MethodGet, target, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", target, rec.Code)
		}
	}
	for _, target := range []string{"/v1/status", "/v1", "/metrics", "/v1/nothing/here"} {
		rec := serve(t, h, http.MethodGet, target, nil)
		if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: status %d, type %q; an API path must never get the dashboard's HTML", target, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := serve(t, h, m, "/", nil)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: status %d, Allow %q", m, rec.Code, rec.Header().Get("Allow"))
		}
	}
	head := serve(t, h, http.MethodHead, "/", nil)
	if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD /: status %d, %d body bytes, length %q", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
	}
}

func TestNewRejectsBadFileSets(t *testing.T) {
	if _, err := web.New(fstest.MapFS{"app.js": {Data: []byte("x")}}); !errors.Is(err, web.ErrNoIndex) {
		t.Errorf("no index.html: err %v, want ErrNoIndex", err)
	}
	_, err := web.New(fstest.MapFS{"index.html": {Data: []byte("x")}, "data.bin": {Data: []byte{1}}})
	if !errors.Is(err, web.ErrUnknownType) || !strings.Contains(err.Error(), "data.bin") {
		t.Errorf("unknown extension: err %v, want ErrUnknownType naming the file", err)
	}
	h, err := web.New(fstest.MapFS{"index.html": {Data: []byte(`<script src="{{ASSETS}}/a.js"></script>`)}, "a.js": {Data: []byte("1")}})
	if err != nil {
		t.Fatal(err)
	}
	body := serve(t, h, http.MethodGet, "/", nil).Body.String()
	m := regexp.MustCompile(`src="(/assets/[0-9a-f]{16}/a\.js)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("index %q: asset path not filled in", body)
	}
	if rec := serve(t, h, http.MethodGet, m[1], nil); rec.Code != http.StatusOK || rec.Body.String() != "1" {
		t.Errorf("GET %s: status %d body %q", m[1], rec.Code, rec.Body.String())
	}
}

// staticFiles returns every embedded file, by path.
func staticFiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(web.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web.Files(), p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The dashboard must make no request outside its origin: no URL with a
// scheme or a protocol-relative one, other than XML namespace names.
func TestNoOutsideReferences(t *testing.T) {
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for p, src := range staticFiles(t) {
		for _, m := range url.FindAllString(src, -1) {
			if m == "http://www.w3.org" {
				continue // the SVG namespace name, never fetched
			}
			t.Errorf("%s refers to %s: the dashboard must not load anything from another origin", p, m)
		}
	}
}

// Every relative ES module import names an embedded file, so a typo fails
// here rather than only in a browser.
func TestModuleImportsResolve(t *testing.T) {
	files := staticFiles(t)
	imp := regexp.MustCompile(`(?m)(?:^import|^export)[^'"]*from\s+'([^']+)'|import\('([^']+)'\)`)
	n := 0
	for p, src := range files {
		if path.Ext(p) != ".js" {
			continue
		}
		for _, m := range imp.FindAllStringSubmatch(src, -1) {
			spec := m[1] + m[2]
			if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
				t.Errorf("%s imports %q: only relative imports of embedded files are allowed", p, spec)
				continue
			}
			target := path.Join(path.Dir(p), spec)
			if _, ok := files[target]; !ok {
				t.Errorf("%s imports %q: no embedded file %s", p, spec, target)
			}
			n++
		}
	}
	if n < 10 {
		t.Fatalf("found only %d imports; the pattern is broken", n)
	}
}

func FuzzServeHTTP(f *testing.F) {
	f.Add("/", "", "gzip")
	f.Add("/assets/x/js/app.js", `"abc"`, "")
	f.Add("/v1/status", "*", "*;q=0")
	f.Add("/a/b/c.d", "W/\"x\", \"y\"", "gzip;q=abc, br")
	f.Add(web.AssetPrefix+web.Version()+"/css/app.css", "", "gzip;q=0.5")
	h := web.Handler()
	f.Fuzz(func(t *testing.T, p, inm, ae string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = p
		req.Header.Set("If-None-Match", inm)
		req.Header.Set("Accept-Encoding", ae)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusNotModified, http.StatusNotFound:
		default:
			t.Fatalf("path %q: status %d", p, rec.Code)
		}
		isAPI := p == "/v1" || strings.HasPrefix(p, "/v1/") || p == "/metrics"
		if isAPI && strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("path %q: an API path got HTML", p)
		}
	})
}

// TestPagesMatchTheApp: the paths that load index.html are the pages the
// app routes to, no more: a page added to app.js without Pages would 404
// when typed as a path, and a path left in Pages after its page went would
// serve the dashboard for nothing.
func TestPagesMatchTheApp(t *testing.T) {
	app, err := fs.ReadFile(web.Files(), "js/app.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`const PAGES = \{([^}]*)\}`).FindSubmatch(app)
	if m == nil {
		t.Fatal("app.js: no `const PAGES = { ... }`")
	}
	var inApp []string
	for _, name := range strings.Split(string(m[1]), ",") {
		inApp = append(inApp, strings.TrimSpace(name))
	}
	if !slices.Equal(sorted(inApp), sorted(web.Pages)) {
		t.Fatalf("app.js PAGES %v, web.Pages %v", inApp, web.Pages)
	}
	for _, p := range web.Pages {
		for _, target := range []string{"/" + p, "/" + p + "/", "/" + p + "/a/b?x=1"} {
			if rec := serve(t, web.Handler(), http.MethodGet, target, nil); rec.Code != http.StatusOK {
				t.Errorf("GET %s: status %d, want 200 (index.html)", target, rec.Code)
			}
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
