package node

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/mempool"
)

// The door: every reading and transaction that enters through HTTP, MQTT
// or gossip is checked here — shape, signature (once, batched, cached),
// the state's rules as of the current heads, the mempool's bounds — and a
// refused one is answered with an error naming the problem, nothing stored.

// SubmitReadings checks readings at the door and queues the good ones for
// the data chain, gossiping them to the other nodes. It returns one error
// (an *api.HTTPError) per reading, nil for accepted ones.
func (n *Node) SubmitReadings(rs []*chain.Reading) []error {
	_, errs := n.SubmitReadingsHashed(rs)
	return errs
}

// SubmitReadingsHashed is SubmitReadings that also returns the hash of each
// reading it hashed (all but those rejected by ValidateBasic, whose hash is
// zero), so that the API need not hash them again.
func (n *Node) SubmitReadingsHashed(rs []*chain.Reading) ([]chain.Hash, []error) {
	errs := make([]error, len(rs))
	all := make([]chain.Hash, len(rs))
	for i, r := range rs {
		if r == nil {
			errs[i] = api.BadRequest("reading %d is null", i)
		} else if err := r.ValidateBasic(); err != nil {
			errs[i] = api.BadRequest("%v", err)
		}
	}
	var todo []*chain.Reading
	var idx []int
	for i, r := range rs {
		if errs[i] == nil {
			todo = append(todo, r)
			idx = append(idx, i)
		}
	}
	hashes := readingHashes(todo)
	for k, i := range idx {
		all[i] = hashes[k]
	}
	for k, err := range verifyReadings(n.sigs, n.chainID, todo, hashes) {
		if err != nil {
			errs[idx[k]] = api.Wrap(http.StatusBadRequest, api.CodeBadSignature,
				fmt.Errorf("device %s seq %d: %w (was it signed with the device key over the canonical reading, for chain %q?)", todo[k].Device.Short(), todo[k].Seq, err, n.chainID))
			n.noteDoorReject(todo[k], err)
		}
	}
	var accepted []*chain.Reading
	var acceptedHashes []chain.Hash
	checker, err := n.readingChecker()
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return all, errs
	}
	for k, i := range idx {
		if errs[i] != nil {
			continue
		}
		if err := n.admitReading(checker, rs[i], hashes[k]); err != nil {
			errs[i] = doorError(err)
			continue
		}
		accepted = append(accepted, rs[i])
		acceptedHashes = append(acceptedHashes, hashes[k])
	}
	if len(accepted) > 0 {
		n.metrics.readingsAccepted.Add(float64(len(accepted)))
		n.noteSubmitted(acceptedHashes)
		for start := 0; start < len(accepted); start += maxGossipReadings {
			end := min(start+maxGossipReadings, len(accepted))
			n.publish(n.topics.readings, chain.MustEncode(&wireReadings{Readings: accepted[start:end]}))
		}
		n.kick()
	}
	n.metrics.readingsRejected.Add(float64(len(rs) - len(accepted)))
	return all, errs
}

// SubmitTx checks a transaction at the door, queues it for the tx chain and
// gossips it.
func (n *Node) SubmitTx(tx *chain.Tx) error {
	if err := tx.ValidateBasic(); err != nil {
		return api.BadRequest("%v", err)
	}
	if errs := verifyTxs(n.sigs, n.chainID, []*chain.Tx{tx}); errs[0] != nil {
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
	for _, p := range n.txs.Pending(tx.From) {
		if p.Nonce >= tx.Nonce {
			break
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
		e.RetryAfter = 2
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
