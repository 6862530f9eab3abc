// Package node runs a Waterchain node: it opens the store, executes both
// lanes' state machines, drives one consensus engine per lane, gossips over
// libp2p, syncs blocks from peers when behind, checks readings and
// transactions at the door (HTTP, MQTT, gossip), computes alerts, and serves
// the HTTP API and the dashboard.
//
// Threading: one goroutine, the loop (loop.go), owns the consensus engines
// and everything that changes the committed chain: it proposes, validates
// and commits blocks. Other goroutines (HTTP handlers, gossip handlers,
// signature-verification workers, sync) talk to it through channels and
// read the store, which is safe for concurrent reads. Signatures are
// verified once, off the loop, at the door or in batches for block
// validation, and remembered in a cache so they are never verified twice.
// Readings the door admits reach the other validators in gossip messages
// of many readings (gossip_batch.go), however few each request carries,
// and from 10 validators straight to each peer (readings_direct.go).
// Votes go straight to each peer (votes.go), from 10 validators through the
// round's proposer, which passes on a quorum in one message
// (voterelay.go), and are checked a phase at a time (votegather.go); their
// messages are decoded by hand (vote_decode.go). Proposals go by gossip,
// and from 10 validators straight to each peer (proposals.go).
// The loop commits a final block in memory; the commit writer
// (commitwriter.go) stores it, and Head, the API and the events follow the
// store.
//
// A caller builds a Node with New, starts it with Start and stops it with
// Close; Start returns once the node listens. Everything a node needs is in
// its home directory (see package home).
package node
