package ingest

import "github.com/waterchain/waterchain/chain"

// Submitter is the door check every ingestion path (HTTP, MQTT) hands its
// decoded readings to. The node implements it: ValidateBasic, signature,
// device registered and active, sequence number above the last, time
// within the window, room in the mempool; the good readings are queued for
// the next data block, the others are dropped.
//
// Submit returns exactly one error per reading, in order: nil for an
// accepted reading, else the reason it was rejected (one line, naming the
// device and seq, saying what to fix). Submit is called from many
// goroutines at once and must be safe for that.
type Submitter interface {
	Submit(readings []*chain.Reading) []error
}

// SubmitterFunc adapts a function (such as a node's SubmitReadings method)
// to Submitter.
type SubmitterFunc func(readings []*chain.Reading) []error

// Submit calls f.
func (f SubmitterFunc) Submit(readings []*chain.Reading) []error { return f(readings) }

var _ Submitter = SubmitterFunc(nil)
