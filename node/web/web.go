package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
)

//go:embed static
var embedded embed.FS

// AssetPrefix is the path under which the dashboard's files other than
// index.html are served, followed by the version and the file's path.
const AssetPrefix = "/assets/"

// assetsPlaceholder is replaced in index.html by AssetPrefix + version.
const assetsPlaceholder = "{{ASSETS}}"

// contentSecurityPolicy allows the dashboard to talk to its own origin
// only: no CDN, font, analytics or any other outside request.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

var (
	// ErrNoIndex is returned by New when the files hold no index.html.
	ErrNoIndex = errors.New("web: no index.html in the dashboard files")
	// ErrUnknownType is returned by New for a file whose extension has no
	// content type here; add it to contentTypes.
	ErrUnknownType = errors.New("web: no content type for file")
)

// contentTypes maps the extensions the dashboard uses to their types. A
// fixed table, not the system's MIME database, so that every machine
// serves the same headers.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".json":        "application/json",
	".webmanifest": "application/manifest+json",
	".txt":         "text/plain; charset=utf-8",
}

// compressible are the content types worth gzipping.
func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || ctype == "image/svg+xml" ||
		ctype == "application/json" || ctype == "application/manifest+json"
}

// file is one served file, prepared once.
type file struct {
	body  []byte
	gz    []byte // nil when not worth compressing
	ctype string
	etag  string // strong, quoted
}

// site is the dashboard's files, read-only once built.
type site struct {
	version string
	index   *file
	files   map[string]*file // by path relative to the root, "js/app.js"
}

// defaultSite is the embedded dashboard, prepared on first use.
var defaultSite = sync.OnceValues(func() (*site, error) { return newSite(Files()) })

// Handler returns the handler serving the embedded dashboard. It is built
// once and shared; it is safe for concurrent use.
func Handler() http.Handler {
	s, err := defaultSite()
	if err != nil {
		// The embedded files are checked by this package's tests, so this
		// is a build defect; answer it rather than panic.
		msg := err.Error()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "dashboard unavailable: "+msg, http.StatusInternalServerError)
		})
	}
	return s
}

// Files returns the dashboard's files (index.html at the root), as
// embedded, before index.html's asset paths are filled in.
func Files() fs.FS {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		return embedded // cannot happen: "static" is a valid path
	}
	return sub
}

// Version is the digest of the embedded files that names their asset path
// (AssetPrefix + Version + "/js/app.js"); empty if they cannot be read.
func Version() string {
	s, err := defaultSite()
	if err != nil {
		return ""
	}
	return s.version
}

// New returns a handler serving the dashboard files of fsys, which must
// hold index.html at its root. Every file is read and prepared now; the
// handler never touches fsys again.
func New(fsys fs.FS) (http.Handler, error) {
	s, err := newSite(fsys)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func newSite(fsys fs.FS) (*site, error) {
	raw := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if _, ok := contentTypes[path.Ext(p)]; !ok {
			return fmt.Errorf("%w %q (extension %q)", ErrUnknownType, p, path.Ext(p))
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		raw[p] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	indexSrc, ok := raw["index.html"]
	if !ok {
		return nil, ErrNoIndex
	}
	// The version digests every file, in path order, framed by lengths.
	names := make([]string, 0, len(raw))
	for p := range raw {
		names = append(names, p)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, p := range names {
		fmt.Fprintf(h, "%d:%s:%d:", len(p), p, len(raw[p]))
		h.Write(raw[p])
	}
	s := &site{version: hex.EncodeToString(h.Sum(nil))[:16], files: make(map[string]*file, len(raw))}
	for _, p := range names {
		if p == "index.html" {
			continue
		}
		s.files[p] = prepare(raw[p], contentTypes[path.Ext(p)])
	}
	index := bytes.ReplaceAll(indexSrc, []byte(assetsPlaceholder), []byte(AssetPrefix+s.version))
	s.index = prepare(index, contentTypes[".html"])
	return s, nil
}

func prepare(body []byte, ctype string) *file {
	sum := sha256.Sum256(body)
	f := &file{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	if compressible(ctype) && len(body) > 512 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // level is valid
		_, _ = zw.Write(body)                                    // writes to a bytes.Buffer do not fail
		if zw.Close() == nil && buf.Len() < len(body)*9/10 {
			f.gz = buf.Bytes()
		}
	}
	return f
}

// ServeHTTP answers GET and HEAD: index.html for "/" and client-side
// routes, the files under AssetPrefix, 404 for anything else.
func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, r.Method+" is not allowed on the dashboard; it answers GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/v1" || strings.HasPrefix(p, "/v1/") || p == "/metrics":
		// Not ours: the API mounts these before the dashboard. Never answer
		// an API path with HTML, which would confuse API clients.
		hdr.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "{\"error\":%s,\"code\":\"not_found\"}\n", strconv.Quote("no route "+p))
	case strings.HasPrefix(p, AssetPrefix):
		rest := strings.TrimPrefix(p, AssetPrefix)
		version, name, ok := strings.Cut(rest, "/")
		f := s.files[name]
		if !ok || f == nil {
			notFound(w, p)
			return
		}
		if version == s.version {
			hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			// A page of another build asks: serve what we have, uncached.
			hdr.Set("Cache-Control", "no-cache")
		}
		s.serveFile(w, r, f)
	case p == "/" || p == "/index.html" || isPage(p):
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		hdr.Set("X-Frame-Options", "DENY")
		s.serveFile(w, r, s.index)
	default:
		notFound(w, p)
	}
}

// Pages are the dashboard's pages (PAGES in js/app.js). The dashboard
// routes by the URL's fragment (#/market), but a path naming a page
// (/market/offers) also loads it, for links typed without the "#".
var Pages = []string{"network", "industry", "market", "alerts", "explorer"}

// isPage reports whether p is a dashboard page's path: "/page" or
// "/page/...". Any other path, such as /debug/pprof/, is not the
// dashboard's, and answers 404 rather than index.html.
func isPage(p string) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	for _, page := range Pages {
		if first == page {
			return true
		}
	}
	return false
}

func notFound(w http.ResponseWriter, p string) {
	w.Header().Set("Cache-Control", "no-cache")
	http.Error(w, "no dashboard file "+p, http.StatusNotFound)
}

func (s *site) serveFile(w http.ResponseWriter, r *http.Request, f *file) {
	hdr := w.Header()
	hdr.Set("Content-Type", f.ctype)
	hdr.Set("ETag", f.etag)
	if f.gz != nil {
		hdr.Add("Vary", "Accept-Encoding")
	}
	if etagMatches(r.Header.Get("If-None-Match"), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	if f.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body = f.gz
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// etagMatches implements If-None-Match's weak comparison over a list.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding header admits gzip: named
// (or matched by "*") without q=0. An explicit gzip entry wins over "*".
func acceptsGzip(header string) bool {
	star := false
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "*" {
			continue
		}
		ok := true
		if q, found := strings.CutPrefix(strings.ReplaceAll(strings.TrimSpace(params), " ", ""), "q="); found {
			v, err := strconv.ParseFloat(q, 64)
			ok = err == nil && v > 0
		}
		if name == "gzip" {
			return ok
		}
		star = ok
	}
	return star
}
