package node

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/mempool"
)

// The door: every reading and transaction that enters through HTTP or MQTT
// is checked here, cheapest first — shape, the state's rules as of the
// current heads, duplicates, the mempool's admission window (what the
// network finalizes: node/mempool.Admission), then the signature (once,
// batched, cached, within a budget) — and a refused one is answered
// with an error naming the problem, nothing stored. While the admission
// window is full, a POST /v1/readings is refused whole before its body is
// decoded (ReadingsRoom), the cheapest refusal of all. Gossip has its own
// door in gossip.go.

// SubmitReadings checks readings at the door and queues the good ones for
// the data chain, gossiping them to the other nodes. It returns one error
// (an *api.HTTPError) per reading, nil for accepted ones.
func (n *Node) SubmitReadings(rs []*chain.Reading) []error {
	_, errs := n.SubmitReadingsHashed(rs)
	return errs
}

// SubmitReadingsHashed is SubmitReadings that also returns the hash of each
// reading it hashed (zero for those refused before: malformed, or refused
// by the state's rules), so that the API need not hash them again.
//
// The checks run cheapest first, so that a reading that would be refused
// anyway costs no signature check: shape; then the state's rules as of
// the current heads (device registered and active, time window, seq and
// time after the device's last final reading), one registry lookup per
// device; then duplicates (in the request or waiting in the mempool: the
// very same signed bytes, checked when they came in); then the mempool's
// admission window: readings past what the network finalizes in
// mempool.admit_wait are refused 429 mempool_full with the wait after
// which room is expected (mempool.Ticket.RetryAfter; the API answers it
// as Retry-After and retry_after_ms); only then the signatures, within
// the door's budget (see doorVerifier). A request that does not fit the
// budget is refused 429 with Retry-After, nothing checked.
//
// The state's rules come before the window although the window costs
// less (it reads only each reading's device and seq, under one lock): a
// reading refused for the window leaves its device in the pool's memory
// of refusals (mempool.Readings.Admit keeps each device's readings in
// order), and the registry is what bounds that memory. With the window
// first, a request of readings of made-up devices past the window added
// one entry per reading. BenchmarkDoorPastTheWindow measures what a
// refused reading costs: 1.5–2.3 µs here, its device's state reads about half.
func (n *Node) SubmitReadingsHashed(rs []*chain.Reading) ([]chain.Hash, []error) {
	errs := make([]error, len(rs))
	hashes := make([]chain.Hash, len(rs))
	defer func() {
		rejected := 0
		for _, err := range errs {
			if err != nil {
				rejected++
			}
		}
		n.metrics.readingsRejected.Add(float64(rejected))
	}()
	for i, r := range rs {
		if r == nil {
			errs[i] = api.BadRequest("reading %d is null", i)
		} else if err := r.ValidateBasic(); err != nil {
			errs[i] = api.BadRequest("%v", err)
		}
	}
	checker, err := n.readingChecker()
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return hashes, errs
	}
	var todo []int
	seen := make(map[chain.Hash]struct{})
	for i, r := range rs {
		if errs[i] != nil {
			continue
		}
		if err := checker.Check(r); err != nil {
			errs[i] = doorError(err)
			continue
		}
		h := r.Hash()
		hashes[i] = h
		if _, dup := seen[h]; dup || n.readings.Has(h) {
			errs[i] = doorError(fmt.Errorf("%w: reading %s (device %s seq %d)", mempool.ErrDuplicate, h.Short(), r.Device.Short(), r.Seq))
			continue
		}
		seen[h] = struct{}{}
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return hashes, errs
	}
	// Admission by what the network finalizes, before any signature
	// check: the readings past the window are refused 429, and so are a
	// device's readings after one of its own refused, keeping its
	// readings in order.
	candidates := make([]*chain.Reading, len(todo))
	for k, i := range todo {
		candidates[k] = rs[i]
	}
	ticket := n.readings.Admit(candidates, time.Now())
	defer ticket.Close()
	ticketIndex := make(map[int]int, len(todo)) // rs index → the ticket's
	for k, i := range todo {
		ticketIndex[i] = k
	}
	if ticket.Granted() < len(todo) {
		retry := ticket.RetryAfter()
		admitted := todo[:0:0]
		// Readings refused alike share one answer (most share one
		// refusal), so that refusing costs little per reading.
		answers := make(map[error]error)
		for k, i := range todo {
			if ticket.Admitted(k) {
				admitted = append(admitted, i)
				continue
			}
			refusal := ticket.Refusal(k)
			e, ok := answers[refusal]
			if !ok {
				he := api.Wrap(http.StatusTooManyRequests, api.CodeMempoolFull, fmt.Errorf("%w; retry after %s", refusal, retry.Round(time.Millisecond)))
				he.RetryAfter = retry
				e = he
				answers[refusal] = e
			}
			errs[i] = e
		}
		n.metrics.readingsOverWindow.Add(float64(len(todo) - len(admitted)))
		todo = admitted
		if len(todo) == 0 {
			return hashes, errs
		}
	}
	todoHashes := make([]chain.Hash, len(todo))
	for k, i := range todo {
		todoHashes[k] = hashes[i]
	}
	sigErrs, err := n.door.verify(n.sigs, n.chainID, todoHashes, func(k int) (chain.PubKey, string, []byte, chain.Signature) {
		return readingSig(rs[todo[k]])
	})
	if err != nil {
		n.metrics.doorBusy.Inc()
		for _, i := range todo {
			errs[i] = doorError(err)
		}
		return hashes, errs
	}
	var accepted []*chain.Reading
	var acceptedHashes []chain.Hash
	noted := make(map[chain.PubKey]bool)
	for k, i := range todo {
		r := rs[i]
		if err := sigErrs[k]; err != nil {
			errs[i] = api.Wrap(http.StatusBadRequest, api.CodeBadSignature,
				fmt.Errorf("device %s seq %d: %w (was it signed with the device key over the canonical reading, for chain %q?)", r.Device.Short(), r.Seq, err, n.chainID))
			if !noted[r.Device] { // one tamper signal per device and request
				noted[r.Device] = true
				n.noteDoorReject(r, err)
			}
			continue
		}
		if err := ticket.Add(ticketIndex[i], hashes[i], r); err != nil {
			errs[i] = doorError(err)
			continue
		}
		accepted = append(accepted, r)
		acceptedHashes = append(acceptedHashes, hashes[i])
	}
	if len(accepted) > 0 {
		n.metrics.readingsAccepted.Add(float64(len(accepted)))
		n.noteSubmitted(acceptedHashes)
		n.gossipReadings(accepted)
		n.kick()
	}
	return hashes, errs
}

// ReadingsRoom returns nil while the door may admit client readings, and
// otherwise the refusal (429 mempool_full with Retry-After) that the API
// answers a POST /v1/readings with before reading or decoding its body,
// so that a refused request costs nothing per reading. It reserves no
// room: a request it lets through is admitted by SubmitReadingsHashed.
// A request refused this way marks none of its devices as refused (see
// mempool.Readings.Admit): a client that sends each device's readings
// in order, one request at a time, sends them again in order.
func (n *Node) ReadingsRoom() error {
	retry, err := n.readings.NoRoom(time.Now())
	if err == nil {
		return nil
	}
	n.metrics.readingsOverWindowRequests.Inc()
	e := api.Wrap(http.StatusTooManyRequests, api.CodeMempoolFull, fmt.Errorf("%w; retry after %s", err, retry.Round(time.Millisecond)))
	e.RetryAfter = retry
	return e
}

// SubmitTx checks a transaction at the door, queues it for the tx chain and
// gossips it. Its signature is checked within the door's budget, before the
// state's rules: these replay the sender's waiting transactions, which
// costs more than one signature.
func (n *Node) SubmitTx(tx *chain.Tx) error {
	if err := tx.ValidateBasic(); err != nil {
		return api.BadRequest("%v", err)
	}
	h := tx.Hash()
	if n.txs.Has(h) {
		return doorError(fmt.Errorf("%w: transaction %s", mempool.ErrDuplicate, h.Short()))
	}
	errs, err := n.door.verify(n.sigs, n.chainID, []chain.Hash{h}, func(int) (chain.PubKey, string, []byte, chain.Signature) { return txSig(tx) })
	if err != nil {
		n.metrics.doorBusy.Inc()
		return doorError(err)
	}
	if errs[0] != nil {
		return api.Wrap(http.StatusBadRequest, api.CodeBadSignature,
			fmt.Errorf("%w (was it signed by %s for chain %q?)", errs[0], tx.From.Address(), n.chainID))
	}
	if err := n.admitTx(tx); err != nil {
		return doorError(err)
	}
	n.publish(n.topics.txs, chain.MustEncode(tx))
	n.kick()
	return nil
}

// checkTxState checks tx against the committed state with the sender's
// waiting transactions applied first, so a client may queue several.
func (n *Node) checkTxState(tx *chain.Tx) error {
	sr := n.state
	meta, err := state.GetTxMeta(sr)
	if err != nil {
		return err
	}
	h := &chain.Header{
		ChainID: n.chainID, Lane: chain.LaneTx, Height: meta.Height + 1, Time: meta.Time,
		Anchor: chain.Anchor{Height: meta.Anchor, Hash: n.genHash},
	}
	bld, err := state.NewTxBuilder(sr, readingSource{n.store}, n.stateGen, h)
	if err != nil {
		return err
	}
	// A waiting transaction at or below the account's nonce is in a block
	// already applied here and not yet written (the commit writer), which
	// the pool forgets once it is: skip it, or the next nonce is refused
	// for a moment after each of the sender's transactions is final.
	applied := uint64(0)
	if a, err := state.GetAccount(sr, tx.From.Address()); err == nil {
		applied = a.Nonce
	}
	for _, p := range n.txs.Pending(tx.From) {
		if p.Nonce >= tx.Nonce {
			break
		}
		if p.Nonce <= applied {
			continue
		}
		if err := bld.Add(p); err != nil {
			return fmt.Errorf("an earlier waiting transaction (nonce %d) no longer applies: %w", p.Nonce, err)
		}
	}
	return bld.Add(tx)
}

// doorError gives a refusal its HTTP status and code.
func doorError(err error) error {
	var he *api.HTTPError
	switch {
	case errors.As(err, &he):
		return err
	case errors.Is(err, mempool.ErrFull):
		e := api.Wrap(http.StatusTooManyRequests, api.CodeMempoolFull, fmt.Errorf("%w; retry later", err))
		e.RetryAfter = 2 * time.Second
		return e
	case errors.Is(err, errDoorBusy):
		e := api.Wrap(http.StatusTooManyRequests, api.CodeBusy, err)
		e.RetryAfter = time.Second
		return e
	case errors.Is(err, mempool.ErrDuplicate):
		return api.Wrap(http.StatusConflict, api.CodeDuplicate, err)
	case errors.Is(err, state.ErrUnknownDevice):
		return api.Wrap(http.StatusUnprocessableEntity, api.CodeUnknownDevice, fmt.Errorf("%w; register it first with: waterchain tx register-device", err))
	case errors.Is(err, state.ErrDeviceRevoked):
		return api.Wrap(http.StatusUnprocessableEntity, api.CodeRevoked, err)
	case errors.Is(err, state.ErrReplayedSeq), errors.Is(err, state.ErrTimeNotIncreasing):
		return api.Wrap(http.StatusConflict, api.CodeReplayed, err)
	case errors.Is(err, state.ErrTimeOutsideWindow):
		return api.Wrap(http.StatusUnprocessableEntity, api.CodeOutOfWindow, err)
	case errors.Is(err, state.ErrBadNonce):
		return api.Wrap(http.StatusConflict, api.CodeBadNonce, err)
	case errors.Is(err, state.ErrBadReading), errors.Is(err, state.ErrMalformedTx):
		return api.Wrap(http.StatusBadRequest, api.CodeBadRequest, err)
	case errors.Is(err, state.ErrCorruptState):
		return err
	}
	return api.Wrap(http.StatusUnprocessableEntity, api.CodeRejected, err)
}
