// Package api is Waterchain's HTTP API (DESIGN.md, Interfaces): the JSON
// shapes a node serves and the CLI, simulator, dashboard and scripts read,
// and the server (NewHandler) that answers them over a Backend the node
// implements.
//
// Every error answer is {"error": "...", "code": "..."} with a fitting
// status; a Backend chooses them by returning an *HTTPError. A rejected write
// changes nothing: the Backend checks before it stores.
//
// Changing a field name here changes the public API: do it only with a
// migration note in the README.
package api
