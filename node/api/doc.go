// Package api is Waterchain's HTTP API (DESIGN.md, Interfaces): the JSON
// shapes a node serves and the CLI, simulator, dashboard and scripts read,
// and the server (NewHandler) that answers them over the small interfaces
// of backend.go (Chain, Door, Registry, Market, Alerts, Images, Reports,
// Proofs, EventSource), which the node implements.
//
// One route table (routes.go) makes both the router and the OpenAPI 3
// document served at GET /v1/openapi.json (openapi.go builds the schemas
// from the Go types by reflection). Handlers read parameters only through
// the table's declarations, parse and check them, and answer 400 naming
// the bad one before the backend is asked; a query parameter a route does
// not take is refused too.
//
// Every error answer is {"error": "...", "code": "..."} with a fitting
// status; a backend chooses them by returning an *HTTPError. A rejected
// write changes nothing: the backend checks before it stores.
//
// Changing a field name here changes the public API: do it only with a
// migration note in the README.
package api
