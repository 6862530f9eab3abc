package bench

import (
	"context"
	"errors"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// ErrOverload marks a refusal the node means as "not now": a batch
// answered 429 or 503, or a reading refused because the node's mempool is
// full or it is unavailable. A gateway sends such readings again.
var ErrOverload = errors.New("node overloaded")

// Gateway retry limits.
const (
	// defaultRetryAfter is the pause after an overload refusal whose
	// answer names none.
	defaultRetryAfter = time.Second
	// maxBatchReadings is the most readings one request carries: what a
	// node decodes from one body (ingest.DefaultMaxReadings).
	maxBatchReadings = 10_000
)

// gateway sends one validator's readings in order, as an industry's
// gateway does: what came due each tick in one request, one request at a
// time. Readings refused as overload (ErrOverload) are kept, in order,
// and sent again with those that came due meanwhile after the answer's
// wait (retry_after_ms, or Retry-After); any other refusal is final. A
// reading's latency is taken both from its first request and from the
// request that got it accepted.
type gateway struct {
	node  int
	cl    cluster
	st    *stepState
	retry bool // false: overload refusals are final too

	// Results, read after run returns.
	refusedAnswers int       // whole batches refused with 429/503
	retried        int       // readings sent again after an overload refusal
	firstErr       error     // the first refusal
	firstErrAt     time.Time // when it came
	// refusedAt and resentAt are when each overload refusal came back
	// and each reading was sent again, ns since the step's t0 (the
	// timeline, Options.TimelineFile).
	refusedAt, resentAt []int64
}

// run sends the step's readings whose indices arrive on jobs until jobs is
// closed and every reading is accepted or refused for good. When giveUp
// is closed, the readings still waiting for a retry are refused.
func (g *gateway) run(ctx context.Context, jobs <-chan []int, giveUp <-chan struct{}) {
	st := g.st
	var backlog []int
	var pauseUntil time.Time
	pause := time.NewTimer(0)
	defer pause.Stop()
	refuse := func(k int, err error) {
		st.rejected[k] = true
		if g.firstErr == nil {
			g.firstErr, g.firstErrAt = err, time.Now()
		}
	}
	for jobs != nil || len(backlog) > 0 {
		if wait := time.Until(pauseUntil); len(backlog) == 0 || wait > 0 {
			var resume <-chan time.Time
			if len(backlog) > 0 {
				pause.Reset(wait)
				resume = pause.C
			}
			select {
			case idx, ok := <-jobs:
				if !ok {
					jobs = nil
				}
				backlog = append(backlog, idx...)
			case <-resume:
			case <-giveUp:
				for _, k := range backlog {
					refuse(k, errGaveUp)
				}
				return
			case <-ctx.Done():
				return
			}
			continue
		}
		// Take along what else came due.
	more:
		for jobs != nil {
			select {
			case idx, ok := <-jobs:
				if !ok {
					jobs = nil
				}
				backlog = append(backlog, idx...)
			default:
				break more
			}
		}
		batch := backlog[:min(len(backlog), maxBatchReadings)]
		at := max(int64(time.Since(st.t0)), 1)
		rs := make([]*chain.Reading, len(batch))
		var enc [][]byte
		if st.encoded != nil {
			enc = make([][]byte, len(batch))
		}
		for j, k := range batch {
			if st.submitAt[k] == 0 {
				st.submitAt[k] = at
			} else {
				g.resentAt = append(g.resentAt, at)
			}
			rs[j] = st.readings[k]
			if enc != nil {
				enc[j] = st.encoded[k]
			}
		}
		errs, busy, retryAfter := g.cl.submit(ctx, g.node, rs, enc)
		if ctx.Err() != nil {
			return
		}
		answered := max(int64(time.Since(st.t0)), 1)
		if busy {
			g.refusedAnswers++
		}
		var keep []int
		for j, k := range batch {
			switch err := errs[j]; {
			case err == nil:
				st.acceptAt[k] = at
				if st.answerAt != nil {
					st.answerAt[k] = answered
				}
			case g.retry && errors.Is(err, ErrOverload):
				keep = append(keep, k)
				g.refusedAt = append(g.refusedAt, answered)
			default:
				refuse(k, err)
			}
		}
		g.retried += len(keep)
		backlog = append(keep, backlog[len(batch):]...)
		if len(keep) > 0 {
			if retryAfter <= 0 {
				retryAfter = defaultRetryAfter
			}
			pauseUntil = time.Now().Add(retryAfter)
		}
	}
}

// errGaveUp refuses the readings still waiting for a retry when the step's
// drain ends.
var errGaveUp = errors.New("bench: still refused as overload when the step's drain ended")
