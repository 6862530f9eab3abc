// Package web owns the dashboard every node serves: a set of static files
// (HTML, CSS, ES modules, an SVG icon) embedded in the binary, and the
// HTTP handler that serves them.
//
// The dashboard is a client of the node's own HTTP API (package node/api):
// it reads /v1/... with fetch, follows /v1/events (server-sent events) for
// live blocks and alerts, and draws its charts as SVG with its own code. It
// makes no request to any other origin (no CDN, fonts or analytics); the
// Content-Security-Policy the handler sends forbids it.
//
// Callers mount Handler after the API routes, for every path that is not
// /v1/... or /metrics:
//
//	r.Handle("/*", web.Handler())
//
// The handler serves index.html for "/" and for any extension-less path
// (client-side routes), and the other files under /assets/VERSION/...,
// where VERSION is a digest of all embedded files: those answers are
// cacheable forever, while index.html is revalidated on every load (ETag),
// so a new binary is picked up by the next page load. It answers GET and
// HEAD only, and gzips text files for clients that accept it.
package web
