// Package mempool holds the readings and transactions a node has accepted at
// its door (HTTP, MQTT, gossip) and not yet seen finalized.
//
// Both pools are deduplicated by entry hash and bounded: when full, Add
// returns ErrFull and the caller answers 429 Too Many Requests with a
// Retry-After — an entry is never dropped silently. Readings from clients
// are admitted tighter, by what the network finalizes (Admission, in
// admission.go), each node's door within its share of that window, since
// it sees what the other doors let in only once gossip brings it: the
// door takes a Ticket for a request's readings before
// checking their signatures, adds the admitted ones on it and refuses the
// rest, keeping each device's readings in order. While the window is full
// (NoRoom), the door refuses a request whole without decoding it. Entries leave a pool when
// a finalized block includes them (Remove) or when they can no longer apply
// (the node prunes them after each block).
//
// Readings are handed to the proposer in arrival order, which keeps each
// device's sequence numbers in order as meters send them; transactions are
// handed out per sender in nonce order.
//
// A Pool is safe for concurrent use: one mutex guards its maps, and no
// method does I/O or signature checks while holding it.
package mempool
