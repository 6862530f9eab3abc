package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// scriptedCluster answers each submit with the next of its answers and
// records the batches (by reading Seq) and when they came.
type scriptedCluster struct {
	answers []func(rs []*chain.Reading) ([]error, bool, time.Duration)
	batches [][]uint64
	at      []time.Time
}

func (c *scriptedCluster) submit(_ context.Context, _ int, rs []*chain.Reading, _ [][]byte) ([]error, bool, time.Duration) {
	var seqs []uint64
	for _, r := range rs {
		seqs = append(seqs, r.Seq)
	}
	c.batches, c.at = append(c.batches, seqs), append(c.at, time.Now())
	answer := c.answers[min(len(c.batches), len(c.answers))-1]
	return answer(rs)
}

func (c *scriptedCluster) feed(context.Context) (chainFeed, uint64, error) { return nil, 0, nil }
func (c *scriptedCluster) missing(context.Context, []chain.PubKey) []int64 { return nil }
func (c *scriptedCluster) stopped() error                                  { return nil }
func (c *scriptedCluster) nodeCPU() []float64                              { return nil }
func (c *scriptedCluster) close()                                          {}

var errBadReading = errors.New("bad reading")

// busyAnswer refuses a whole batch as overload, retry after d.
func busyAnswer(d time.Duration) func([]*chain.Reading) ([]error, bool, time.Duration) {
	return func(rs []*chain.Reading) ([]error, bool, time.Duration) {
		errs := make([]error, len(rs))
		for i := range errs {
			errs[i] = fmt.Errorf("%w: 429", ErrOverload)
		}
		return errs, true, d
	}
}

// refuseSeq accepts every reading but the one with seq, refused for good.
func refuseSeq(seq uint64) func([]*chain.Reading) ([]error, bool, time.Duration) {
	return func(rs []*chain.Reading) ([]error, bool, time.Duration) {
		errs := make([]error, len(rs))
		for i, r := range rs {
			if r.Seq == seq {
				errs[i] = errBadReading
			}
		}
		return errs, false, 0
	}
}

func gatewayStep(n int) *stepState {
	st := &stepState{readings: make([]*chain.Reading, n), submitAt: make([]int64, n), acceptAt: make([]int64, n), rejected: make([]bool, n), t0: time.Now()}
	for k := range n {
		st.readings[k] = &chain.Reading{Seq: uint64(k)}
	}
	return st
}

// TestGatewayRetriesOverload: readings refused as overload are sent again,
// in order and ahead of those that came due meanwhile, after the answer's
// Retry-After; their latency from the first attempt starts at the first
// request, that from acceptance at the request that got them accepted; a
// reading refused for another reason is not sent again.
func TestGatewayRetriesOverload(t *testing.T) {
	const pause = 30 * time.Millisecond
	st := gatewayStep(5)
	jobs := make(chan []int, 4)
	cl := &scriptedCluster{}
	cl.answers = []func([]*chain.Reading) ([]error, bool, time.Duration){
		func(rs []*chain.Reading) ([]error, bool, time.Duration) {
			jobs <- []int{3, 4} // come due while the first batch is refused
			close(jobs)
			return busyAnswer(pause)(rs)
		},
		refuseSeq(3),
	}
	g := &gateway{node: 0, cl: cl, st: st, retry: true}
	jobs <- []int{0, 1, 2}
	g.run(context.Background(), jobs, make(chan struct{}))

	if want := [][]uint64{{0, 1, 2}, {0, 1, 2, 3, 4}}; !slices.EqualFunc(cl.batches, want, slices.Equal) {
		t.Fatalf("batches %v, want %v", cl.batches, want)
	}
	if gap := cl.at[1].Sub(cl.at[0]); gap < pause {
		t.Errorf("sent again after %s, before the Retry-After of %s", gap, pause)
	}
	if g.refusedAnswers != 1 || g.retried != 3 {
		t.Errorf("%d refused answers, %d retried; want 1 and 3", g.refusedAnswers, g.retried)
	}
	if want := []bool{false, false, false, true, false}; !slices.Equal(st.rejected, want) {
		t.Errorf("rejected %v, want %v", st.rejected, want)
	}
	if !errors.Is(g.firstErr, errBadReading) {
		t.Errorf("first error %v, want the final refusal", g.firstErr)
	}
	second := cl.at[1].Sub(st.t0).Nanoseconds()
	for k := range 3 {
		if st.submitAt[k] <= 0 || st.submitAt[k] >= second {
			t.Errorf("reading %d submitted at %d ns, want its first request (before %d)", k, st.submitAt[k], second)
		}
	}
	// Readings 0-2 were accepted by the second request, at least the
	// Retry-After after their first; 4 by its first; 3 never.
	for k := range 3 {
		if got := st.acceptAt[k]; got < st.submitAt[k]+pause.Nanoseconds() {
			t.Errorf("reading %d accepted at %d ns, want the second request's time (at least %s after %d)", k, got, pause, st.submitAt[k])
		}
	}
	if st.acceptAt[3] != 0 {
		t.Errorf("reading 3, refused for good, accepted at %d ns", st.acceptAt[3])
	}
	if st.acceptAt[4] != st.submitAt[4] || st.acceptAt[4] != st.acceptAt[0] {
		t.Errorf("reading 4 first sent at %d ns, accepted at %d ns; want both the second request's time %d", st.submitAt[4], st.acceptAt[4], st.acceptAt[0])
	}
}

// TestGatewayNoRetry: without retries an overload refusal is final.
func TestGatewayNoRetry(t *testing.T) {
	st := gatewayStep(3)
	jobs := make(chan []int, 1)
	jobs <- []int{0, 1, 2}
	close(jobs)
	cl := &scriptedCluster{answers: []func([]*chain.Reading) ([]error, bool, time.Duration){busyAnswer(time.Hour)}}
	g := &gateway{node: 0, cl: cl, st: st, retry: false}
	g.run(context.Background(), jobs, make(chan struct{}))
	if len(cl.batches) != 1 || g.retried != 0 || g.refusedAnswers != 1 || !slices.Equal(st.rejected, []bool{true, true, true}) {
		t.Errorf("%d batches, %d retried, %d refused answers, rejected %v", len(cl.batches), g.retried, g.refusedAnswers, st.rejected)
	}
}

// TestGatewayGivesUp: readings still refused as overload when the drain
// ends are refused for good, and run returns.
func TestGatewayGivesUp(t *testing.T) {
	st := gatewayStep(2)
	jobs := make(chan []int, 1)
	jobs <- []int{0, 1}
	close(jobs)
	cl := &scriptedCluster{answers: []func([]*chain.Reading) ([]error, bool, time.Duration){busyAnswer(5 * time.Millisecond)}}
	giveUp := make(chan struct{})
	time.AfterFunc(100*time.Millisecond, func() { close(giveUp) })
	g := &gateway{node: 0, cl: cl, st: st, retry: true}
	done := make(chan struct{})
	go func() {
		g.run(context.Background(), jobs, giveUp)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("gateway still retrying 10 s after giving up")
	}
	if len(cl.batches) < 2 || !slices.Equal(st.rejected, []bool{true, true}) || !errors.Is(g.firstErr, errGaveUp) {
		t.Errorf("%d batches, rejected %v, first error %v", len(cl.batches), st.rejected, g.firstErr)
	}
}

// TestLatencySplit: each accepted reading's latency from acceptance is
// divided into its request, its wait for a block and the block's way to
// final; the tail's parts are means over the slowest 1% of the readings,
// worked here by hand.
func TestLatencySplit(t *testing.T) {
	ms := int64(time.Millisecond)
	st := &stepState{answerAt: make([]int64, 100), acceptAt: make([]int64, 100), builtAt: make([]int64, 100), finalAt: make([]int64, 100)}
	var s latencySplit
	for k := range 100 {
		// 99 readings: 10 ms request, 20 ms wait, 30 ms to final; the
		// last: 100, 2,000 and 400 ms.
		req, queue, block := int64(10), int64(20), int64(30)
		if k == 99 {
			req, queue, block = 100, 2_000, 400
		}
		st.acceptAt[k] = 1 * ms
		st.answerAt[k] = st.acceptAt[k] + req*ms
		st.builtAt[k] = st.answerAt[k] + queue*ms
		st.finalAt[k] = st.builtAt[k] + block*ms
		s.add(st, k)
	}
	got := s.figures()
	want := LatencySplit{RequestP50Ms: 10, QueueP50Ms: 20, BlockP50Ms: 30, TailRequestMs: 100, TailQueueMs: 2_000, TailBlockMs: 400}
	if *got != want {
		t.Fatalf("split %+v, want %+v", *got, want)
	}
	if (&latencySplit{}).figures() != nil {
		t.Fatal("no readings: want no split")
	}
}

// TestGatewayOf: each validator's meters are dealt in turn among its
// gateways, every meter's gateway sends to the meter's validator, and the
// gateways of a validator get as many meters as each other, give or take
// one; with one gateway per validator the gateway is the validator.
func TestGatewayOf(t *testing.T) {
	// 4 validators, their 22 meters interleaved unevenly.
	var meterNode []int
	for m := range 22 {
		meterNode = append(meterNode, []int{0, 1, 2, 3, 0, 0, 2}[m%7])
	}
	for _, g := range []int{1, 3} {
		gw := gatewayOf(meterNode, 4, g)
		counts := make([]int, 4*g)
		for m, j := range gw {
			if j/g != meterNode[m] {
				t.Fatalf("g=%d: meter %d of validator %d through gateway %d, which sends to validator %d", g, m, meterNode[m], j, j/g)
			}
			counts[j]++
		}
		for i := range 4 {
			lo, hi := slices.Min(counts[i*g:(i+1)*g]), slices.Max(counts[i*g:(i+1)*g])
			if hi-lo > 1 || lo == 0 {
				t.Errorf("g=%d: validator %d's gateways carry %v meters", g, i, counts[i*g:(i+1)*g])
			}
		}
		if g == 1 && !slices.Equal(gw, meterNode) {
			t.Errorf("one gateway per validator: %v, want the validators %v", gw, meterNode)
		}
	}
}
