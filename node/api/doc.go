// Package api holds the JSON shapes of Waterchain's HTTP API (DESIGN.md,
// Interfaces): what a node serves and what the CLI, the simulator, the
// dashboard and scripts read. The server lives in package node; this package
// has no behaviour beyond the types and the error codes, so clients can
// import it without pulling in the node.
//
// Changing a field name here changes the public API: do it only with a
// migration note in the README.
package api
