package mempool

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// ErrOverWindow is returned for readings the door refuses because what
// already waits is as much as the network finalizes in the admission wait.
var ErrOverWindow = errors.New("readings waiting exceed what the network finalizes in the admission wait")

// Admission is the rule by which the door admits readings from clients.
// What waits in the pool may be at most Wait of the readings the network
// finalized per second recently (an exponentially weighted rate over
// RateWindow), and never more than the pool's max. Past it the door
// refuses, so that an accepted reading waits about Wait for its block
// instead of queueing behind seconds of backlog.
//
// Where the network's latency without queueing (how long the youngest
// reading of a finalized block waited, but no longer than from the
// block's building to its finality: the pipeline) is above Wait, no wait
// of Wait can be kept, and a window of Wait of the rate would starve it:
// each block would finalize less than the last. The window then spans
// latencyHeadroom times that latency instead. (The youngest reading's
// whole wait, its queueing included, was used before: over the peak the
// queue the window let in made the wait, the wait widened the window, and
// at twice the peak the slowest 1% of the accepted readings waited 2.4 s
// for a block.)
//
// Over the peak — the door refused readings for the window within
// overloadMemory, after the youngest readings of the finalized blocks had
// waited longer than OverloadWait — the window spans OverloadWait instead
// of Wait (or twice the pipeline when that is longer, never more than
// otherwise): what waits beyond what fills the next blocks adds to every
// accepted reading's wait and nothing to the throughput. Below the peak
// the window keeps Wait, whose room lets the rate grow with what is
// offered (a window spanning less at all times refused readings below
// the peak and lowered it).
//
// Floor is a burst an idle network takes whatever its recent rate (after
// a quiet spell the rate says nothing of what the network can do); over
// the peak it gives way to the rate (to a network finalizing 800/s, the
// default 2,000 readings are 2.5 s of work, whatever the span). It is
// the network's, shared among the doors like the window (below): each
// door applying all of it let Doors times the floor in, 8,000 readings
// with 4 validators, 20 s of work at the 400/s a loaded machine
// finalizes. (Dropping the floor while readings wait longer than Wait
// was tried: a network that had not finalized a block yet, its rate
// zero, then refused everything for 30 s.)
//
// The window is the network's, and Doors nodes admit into it: each sees
// what the others admitted only once gossip brings it, so each door
// filling the window it sees let in up to Doors times the window (pools
// of 4,680 readings against a window of 2,000 were measured with 4
// validators). A door therefore keeps what it admitted itself, still
// waiting, within its share of the window: the part of the finalized
// readings that came through it (recently, over RateWindow), at least
// 1/Doors; the floor is shared likewise. With every door busy the shares
// sum to the window; a door that takes most of the readings gets most of
// it.
type Admission struct {
	// Wait is how long, at the recent finalized rate, the readings
	// waiting may take to be finalized.
	Wait time.Duration
	// Floor is the window whatever the rate, but over the peak.
	Floor int
	// RateWindow is the time constant of the finalized-rate estimate: a
	// block's readings weigh e^(-age/RateWindow).
	RateWindow time.Duration
	// Doors is the number of nodes admitting client readings into the
	// network (the validators); 0 or 1: this door alone.
	Doors int
	// OverloadWait is how long the readings waiting may take while the
	// network is over its peak; 0, or not below Wait: Wait.
	OverloadWait time.Duration
}

// overloadMemory is how long after the door's last refusal for the window
// the network counts as over its peak: a gateway refused comes back after
// its Retry-After (at least a second) and is refused again while the
// offered rate stays over the peak.
const overloadMemory = 2 * time.Second

// maxRetryAfter bounds the Retry-After the door answers: a stalled network
// (rate near zero) would otherwise ask clients to come back in hours.
const maxRetryAfter = 30 * time.Second

// rateEstimate is an exponentially decaying count of finalized readings:
// rate is Σ n_i·e^(-(at-t_i)/tau) / tau, which for a steady r per second
// converges to r, whatever the spacing of the blocks. Guarded by the
// pool's mutex.
//
// Young, the sum is short of r: t after the first reading it is
// r·(1-e^(-t/tau)), a tenth of r after a second, two fifths after five.
// estimate divides that out (as Adam's optimizer corrects its moment
// estimates at start). Without it a fresh network offered 4,000
// readings/s finalized about 2,200/s for ten seconds and refused the
// rest: its window stayed at the floor (2,000 readings) while the
// estimate rose, and readings refused come back only after their
// Retry-After (a whole second), so each second let in about a window
// (`waterchain bench --processes --rates 4000,8000 --no-half-peak
// --timeline FILE`, the first step's seconds; docs/performance-log.md, "A fresh
// network's first seconds").
type rateEstimate struct {
	rate  float64
	at    time.Time
	since time.Time // of the first reading counted
}

// rateWarmup is the least age estimate corrects for: the first block's
// readings count as a second's, not as those of the instant since it.
const rateWarmup = time.Second

// estimate is the rate as of now, corrected for the estimator's youth.
func (e *rateEstimate) estimate(now time.Time, tau time.Duration) float64 {
	r := e.decayed(now, tau)
	if e.since.IsZero() || tau <= 0 {
		return r
	}
	age := max(now.Sub(e.since), rateWarmup)
	return r / -math.Expm1(-age.Seconds()/tau.Seconds())
}

// decayed is the estimate as of now.
func (e *rateEstimate) decayed(now time.Time, tau time.Duration) float64 {
	if e.at.IsZero() || tau <= 0 {
		return e.rate
	}
	dt := now.Sub(e.at)
	if dt <= 0 {
		return e.rate
	}
	return e.rate * math.Exp(-dt.Seconds()/tau.Seconds())
}

// observe counts n readings finalized at now.
func (e *rateEstimate) observe(n int, now time.Time, tau time.Duration) {
	if tau <= 0 {
		return
	}
	if !e.at.IsZero() && now.Before(e.at) {
		now = e.at // a clock step back: count them as of the last
	}
	e.rate = e.decayed(now, tau) + float64(n)/tau.Seconds()
	e.at = now
	if e.since.IsZero() && n > 0 {
		e.since = now
	}
}

// window is the part share (0 to 1) of the most readings the doors let
// wait at rate per second for span, at least the same share of the
// floor (but over the peak), capped by max.
func (a Admission) window(rate, share float64, span time.Duration, overloaded bool, max int) int {
	w := int(share * rate * span.Seconds())
	if !overloaded {
		w = int(math.Max(float64(w), math.Ceil(share*float64(a.Floor))))
	}
	return min(w, max)
}

// doorShare is the part of the window this door may fill with readings
// it admitted itself: the part of the finalized rate that came through
// it (ownRate of rate), at least 1/Doors, at most all.
func (a Admission) doorShare(ownRate, rate float64) float64 {
	share := 1.0
	if a.Doors > 1 {
		share = 1 / float64(a.Doors)
	}
	if rate > 0 {
		share = math.Max(share, ownRate/rate)
	}
	return math.Min(share, 1)
}

// retryAfter is how long until the readings waiting over the window
// (over) are finalized at rate, and then room freed for a while
// (roomAfter): when a client coming back finds room. At least
// minRetryHint, at most maxRetryAfter (a stalled network would
// otherwise ask clients to come back in hours).
//
// It is not the time until all the refused readings would fit: a
// gateway refused its whole backlog was asked to wait backlog ÷ rate
// (20 s for 1,000 readings at 50/s), and meanwhile the pool emptied, the
// finalized rate fell and the window with it, so the next answer asked
// for a longer wait still. Coming back once room has been freed, it gets
// that room and keeps the network busy.
func retryAfter(over int, rate float64, roomAfter time.Duration) time.Duration {
	secs := float64(max(over, 0))/rate + roomAfter.Seconds() // +Inf at rate 0
	if !(secs < maxRetryAfter.Seconds()) {
		return maxRetryAfter
	}
	return max(time.Duration(secs*float64(time.Second)), minRetryHint)
}

// minRetryHint is the least retry the door answers: room comes with a
// block, and each request sent again costs the door its decoding.
const minRetryHint = 100 * time.Millisecond

// roomShare is the part of the window's span after which a refused
// client is asked back: by then, at the recent rate, that part of what
// waited has been finalized and has freed room.
//
// Refused clients were asked back after whole seconds (Retry-After
// counts in them). Under held overload the four gateways of the process
// bench each came back a second after their refusal, so the window had
// to hold what the network finalizes in a second and a request, or it ran
// dry between their waves; and each reading admitted at the top of a wave
// waited for all of it: at twice the peak offered for 30 s, the slowest
// 1% waited 2.0–2.8 s from their acceptance. Asked back after half the
// span, a client's round (its wait and its request) fits in the window,
// so it can span 1.2 s (mempool.admit_wait): 1.4–1.7 s for the slowest
// 1% in the same runs. Asked back when the next block was due (at least
// 100 ms), the gateways sent their backlogs again 5.5 times as often as
// before, and decoding them cost the network a fifth of its throughput
// (docs/performance-log.md, "Clients asked back within the window").
const roomShare = 0.5

// minRetryAfter is the retry the door answers while it has seen no
// reading finalized.
const minRetryAfter = time.Second

// retryAfterLocked is retryAfter at rate as of now, but minRetryAfter
// while this door has seen no reading finalized (since its node
// started): it knows no rate to tell when room comes, and a network's
// first blocks come within seconds. With retryAfter's answer for a rate
// of zero, a gateway with a backlog for a network just started, or idle
// since its start, was asked to wait maxRetryAfter, 30 s, while the
// network sat idle. Callers hold mu.
func (p *Readings) retryAfterLocked(over int, rate float64, now time.Time) time.Duration {
	if p.rate.since.IsZero() {
		return minRetryAfter
	}
	return retryAfter(over, rate, time.Duration(roomShare*float64(p.spanLocked(now))))
}

// SetAdmission sets the door's rule. Until it is set, the door admits up
// to the pool's max.
func (p *Readings) SetAdmission(a Admission) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.admission = a
	p.admits = true
}

// Finalized counts n readings finalized at now (those of a data block,
// whether or not they waited here), for the rate the door admits by.
func (p *Readings) Finalized(n int, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate.observe(n, now, p.admission.RateWindow)
}

// FinalizedBlock removes the readings of a finalized data block (their
// hashes) and counts them as Finalized does, and those this node's door
// admitted for the door's share of the window.
//
// built is when the block was built (its header's time, by its proposer's
// clock): the youngest reading's wait up to then was queueing, and the
// rest the network's pipeline (the window's floor, spanLocked).
func (p *Readings) FinalizedBlock(hashes []chain.Hash, built, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	youngest := time.Time{}
	for _, h := range hashes {
		if at, ok := p.added[h]; ok && at.After(youngest) {
			youngest = at
		}
	}
	if !youngest.IsZero() && !now.Before(youngest) {
		wait := now.Sub(youngest)
		p.blockLatency = ewmaSeconds(p.blockLatency, wait.Seconds())
		// A proposer's clock ahead of this node's makes the pipeline
		// shorter, never negative; one behind, no longer than the wait.
		pipeline := min(wait, max(now.Sub(built), 0))
		p.pipeline = ewmaSeconds(p.pipeline, pipeline.Seconds())
	}
	if now.After(p.lastBlockAt) {
		p.lastBlockAt = now
	}
	own := p.removeLocked(hashes)
	p.rate.observe(len(hashes), now, p.admission.RateWindow)
	p.ownRate.observe(own, now, p.admission.RateWindow)
}

// latencyHeadroom is how many times the network's pipeline (its latency
// without queueing) the window spans at least: what waits must be more
// than the network finalizes in its pipeline, or the finalized rate,
// and the window with it, fall block after block. Over the peak
// overloadHeadroom times it: one block being finalized and the next one
// filling.
const (
	latencyHeadroom  = 1.5
	overloadHeadroom = 2
)

// ewmaSeconds is the exponentially weighted mean of blockLatency, the
// latest block weighing 0.3.
func ewmaSeconds(avg, sample float64) float64 {
	if avg == 0 {
		return sample
	}
	return avg + 0.3*(sample-avg)
}

// spanLocked is how long, at the finalized rate, the readings waiting may
// take as of now: Wait, or latencyHeadroom times the network's pipeline
// when that is longer; over the peak (overloadedLocked) OverloadWait, or
// overloadHeadroom times the pipeline when that is longer, but never more
// than below the peak. Callers hold mu.
func (p *Readings) spanLocked(now time.Time) time.Duration {
	seconds := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	span := max(p.admission.Wait, seconds(latencyHeadroom*p.pipeline))
	if p.overloadedLocked(now) {
		span = min(span, max(p.admission.OverloadWait, seconds(overloadHeadroom*p.pipeline)))
	}
	return span
}

// overloadedLocked reports whether the network is over its peak as this
// door sees it at now: it refused readings for the window within
// overloadMemory, a block was finalized within it, and when the door began
// to refuse, readings were waiting longer than OverloadWait (below the
// peak a refusal means only that the offered rate grew faster than the
// window). Callers hold mu.
func (p *Readings) overloadedLocked(now time.Time) bool {
	a := p.admission
	if a.OverloadWait <= 0 || a.OverloadWait >= a.Wait || !p.overloaded {
		return false
	}
	if now.Sub(p.refusedAt) >= overloadMemory || now.Sub(p.lastBlockAt) >= overloadMemory {
		// A network that finalizes no block is stalled, not over its
		// peak: the floor, not a rate decaying to nothing, bounds what
		// waits, so that it has work when it comes back.
		p.overloaded = false
		return false
	}
	if p.blockLatency < overloadEnd*a.OverloadWait.Seconds() {
		// The blocks show no queue any more: what the door lets in is
		// finalized well within OverloadWait, so the network is under
		// its peak, whatever the door still refuses. Held over the peak
		// here, a window of a second of the rate admitted one second's
		// readings a second (refused clients come back after their
		// Retry-After, a whole second), the pool ran dry between the
		// waves, and whatever a wave fell short of the window became
		// the next rate: four times the peak offered finalized 18% of
		// it, falling (docs/performance-log.md, "Four times the peak").
		p.overloaded = false
		return false
	}
	return true
}

// overloadEnd is the part of OverloadWait below which the youngest
// readings' wait (blockLatency) ends the state over the peak that a wait
// above OverloadWait began: apart, so that the door does not flip
// between the two spans block by block.
const overloadEnd = 0.5

// noteRefusalLocked records that the door refused readings for the window
// at now (overloadedLocked). Callers hold mu.
func (p *Readings) noteRefusalLocked(now time.Time) {
	if !p.overloadedLocked(now) {
		p.overloaded = p.blockLatency > p.admission.OverloadWait.Seconds()
	}
	if now.After(p.refusedAt) {
		p.refusedAt = now
	}
}

// AdmissionStats is the state of the door's rule at one moment.
type AdmissionStats struct {
	// RatePerS is the recent finalized rate, readings per second.
	RatePerS float64
	// Window is the most readings the door lets wait now.
	Window int
	// Waiting counts the readings in the pool (but those held for their
	// predecessors, MarkHeld) and those the door has admitted and not yet
	// added (a Ticket's).
	Waiting int
	// DoorWindow is the most of them this door may have admitted itself
	// (Admission.Doors), DoorWaiting how many it has.
	DoorWindow, DoorWaiting int
	// Span is how long, at RatePerS, the window takes to be finalized:
	// Admission.Wait, OverloadWait over the peak (Overloaded), or more
	// for a slow network.
	Span       time.Duration
	Overloaded bool
}

// Stats returns the door's rule as of now.
func (p *Readings) Stats(now time.Time) AdmissionStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	rate := p.rate.estimate(now, p.admission.RateWindow)
	return AdmissionStats{
		RatePerS: rate, Window: p.windowLocked(rate, now), Waiting: len(p.byKey) - len(p.held) + p.reserved,
		DoorWindow: p.doorWindowLocked(rate, now), DoorWaiting: len(p.own) - p.ownHeld + p.reserved,
		Span: p.spanLocked(now), Overloaded: p.overloadedLocked(now),
	}
}

// doorWindowLocked is this door's part of the window at rate (its share,
// doorShare, of Wait of the rate and of the floor). Callers hold mu.
func (p *Readings) doorWindowLocked(rate float64, now time.Time) int {
	if !p.admits {
		return p.max
	}
	share := p.admission.doorShare(p.ownRate.estimate(now, p.admission.RateWindow), rate)
	return p.admission.window(rate, share, p.spanLocked(now), p.overloadedLocked(now), p.max)
}

// windowLocked is the network's window at rate as of now. Callers hold mu.
func (p *Readings) windowLocked(rate float64, now time.Time) int {
	if !p.admits {
		return p.max
	}
	return p.admission.window(rate, 1, p.spanLocked(now), p.overloadedLocked(now), p.max)
}

// Ticket is room the door reserved in the pool for the readings of one
// request: those Admitted may be added with Add; the others are refused
// with Refusal. Close gives back the room not used. A Ticket belongs to
// one goroutine.
type Ticket struct {
	p        *Readings
	at       time.Time // of Admit: the readings' arrival
	granted  int
	left     int
	admitted []bool
	refusal  []error
	retry    time.Duration
	// pastRefused marks the admitted readings whose device's earlier seq
	// this door refused and was not sent again (see Entry.PastRefused).
	pastRefused []bool
}

// refusedSeq is the first seq of a device the door refused for the
// window, and until when its later readings are refused too.
type refusedSeq struct {
	seq   uint64
	until time.Time
}

// refusalSlack is how long past its Retry-After the door keeps a device's
// refused seq: until then the device's later readings are refused too, so
// that a meter sending again what was refused finds its place free. A
// reading let in past a refused one would be included after seqGapWait
// and make the refused one a missed reading, refused for good as a
// replay. After it, a meter that gave up on the refused reading is let
// in again (the gap is then taken as missed readings).
const refusalSlack = 2 * time.Second

// Admit reserves room for the readings rs as of now, by the door's rule:
// what waits, with what other tickets hold, may not pass the window. They
// are taken in order while there is room; a device's reading after one of
// its own refused (in this request or an earlier one, until its Retry-After and refusalSlack have passed) is refused as
// well, keeping each device's readings in order. The
// caller adds those t.Admitted(k) with t.Add, answers the others
// t.Refusal(k) and calls t.Close. Admit reads only the device and seq of
// each reading, so the door calls it before checking signatures: a
// reading past the window costs no signature check.
func (p *Readings) Admit(rs []*chain.Reading, now time.Time) *Ticket {
	p.mu.Lock()
	defer p.mu.Unlock()
	rate, w, waiting, dw, doorWaiting, room := p.roomLocked(now)
	t := &Ticket{p: p, at: now, admitted: make([]bool, len(rs)), refusal: make([]error, len(rs)), pastRefused: make([]bool, len(rs))}
	p.sweepRefusedLocked(now)
	// The first reading refused for the window gets the rule's figures;
	// the others a short refusal naming it, so that a large request
	// refused costs little to answer.
	var overWindow, overWindowAgain error
	var refusedNow []chain.PubKey
	excess := 0
	for k, r := range rs {
		ref, behind := p.refused[r.Device]
		if behind && (r.Seq <= ref.seq || p.seqs[seqKey{r.Device, ref.seq}] != chain.Hash{}) {
			// The refused one is back (or came in by gossip).
			delete(p.refused, r.Device)
			behind = false
		}
		if behind && !now.Before(ref.until) {
			// Not sent again in time: its gap is missed readings.
			delete(p.refused, r.Device)
			behind = false
			t.pastRefused[k] = true
		}
		switch {
		case behind:
			t.refusal[k] = fmt.Errorf("%w: device %s seq %d comes after its seq %d, refused first; send that one again first", ErrOverWindow, r.Device.Short(), r.Seq, ref.seq)
			excess++
		case room > 0:
			t.admitted[k] = true
			t.granted++
			room--
		default:
			switch {
			case overWindow == nil:
				overWindow = fmt.Errorf("%w (%s of %.0f readings/s finalized recently (mempool.admit_wait, admit_wait_over_peak), at least mempool.admit_floor; window %d readings, %d of them this node's): %d waiting, %d of them admitted here, %d more asked",
					ErrOverWindow, p.spanLocked(now), rate, w, dw, waiting, doorWaiting, len(rs))
				t.refusal[k] = overWindow
			default:
				if overWindowAgain == nil {
					overWindowAgain = fmt.Errorf("%w, as reading %d of the request", ErrOverWindow, k)
				}
				t.refusal[k] = overWindowAgain
			}
			p.refused[r.Device] = refusedSeq{seq: r.Seq}
			refusedNow = append(refusedNow, r.Device)
			excess++
		}
	}
	p.reserved += t.granted
	t.left = t.granted
	if overWindow != nil {
		p.noteRefusalLocked(now)
	}
	if excess > 0 {
		t.retry = p.retryAfterLocked(max(waiting+t.granted-w, doorWaiting+t.granted-dw), rate, now)
	}
	for _, dev := range refusedNow {
		ref := p.refused[dev]
		ref.until = now.Add(t.retry + refusalSlack)
		p.refused[dev] = ref
	}
	return t
}

// roomLocked is the door's rule as of now: the finalized rate, the
// network's window and what waits in it, this door's window and what it
// admitted that waits, and the room left (never negative). Callers hold
// mu.
func (p *Readings) roomLocked(now time.Time) (rate float64, w, waiting, dw, doorWaiting, room int) {
	rate = p.rate.estimate(now, p.admission.RateWindow)
	w = p.windowLocked(rate, now)
	waiting = len(p.byKey) - len(p.held) + p.reserved
	dw = p.doorWindowLocked(rate, now)
	doorWaiting = len(p.own) - p.ownHeld + p.reserved
	room = max(min(w-waiting, dw-doorWaiting), 0)
	return rate, w, waiting, dw, doorWaiting, room
}

// NoRoom returns nil while the door may admit a client reading as of now,
// and otherwise the refusal (wrapping ErrOverWindow) with how long until
// room comes, as Admit gives it (Ticket.RetryAfter). It
// reserves nothing and reads no reading, so that the door can refuse a
// request whole at no cost per reading, before decoding it: a request it
// lets through may still find the window full when it is admitted.
func (p *Readings) NoRoom(now time.Time) (time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rate, w, waiting, dw, doorWaiting, room := p.roomLocked(now)
	if room > 0 {
		return 0, nil
	}
	p.noteRefusalLocked(now)
	retry := p.retryAfterLocked(max(waiting-w, doorWaiting-dw), rate, now)
	return retry, fmt.Errorf("%w (%s of %.0f readings/s finalized recently (mempool.admit_wait, admit_wait_over_peak), at least mempool.admit_floor; window %d readings, %d of them this node's): %d waiting, %d of them admitted here",
		ErrOverWindow, p.spanLocked(now), rate, w, dw, waiting, doorWaiting)
}

// sweepRefusedLocked forgets the refusals maxRetryAfter past their time
// (until then, the device's next reading is marked PastRefused), at most
// once per refusalSlack. Callers hold mu.
func (p *Readings) sweepRefusedLocked(now time.Time) {
	if p.refused == nil {
		p.refused = make(map[chain.PubKey]refusedSeq)
	}
	if now.Sub(p.refusedSwept) < refusalSlack {
		return
	}
	p.refusedSwept = now
	for dev, ref := range p.refused {
		if !now.Before(ref.until.Add(maxRetryAfter)) {
			delete(p.refused, dev)
		}
	}
}

// Granted is how many readings the ticket admits.
func (t *Ticket) Granted() int { return t.granted }

// Admitted reports whether the ticket admits reading k of the request.
func (t *Ticket) Admitted(k int) bool { return t.admitted[k] }

// Refusal is the error for reading k (nil when admitted). It wraps
// ErrOverWindow.
func (t *Ticket) Refusal(k int) error { return t.refusal[k] }

// RetryAfter is how long until the refused readings may find room
// (retryAfter): what waits over the window finalized at the recent rate,
// and then half the window's span (roomShare). The API answers it rounded up to whole
// seconds as Retry-After and to the millisecond as retry_after_ms.
func (t *Ticket) RetryAfter() time.Duration { return t.retry }

// Add puts r, reading k of the request (h its hash), in the pool on the
// ticket's room. It fails as Readings.Add does (duplicate, the pool's
// max), and with ErrOverWindow for a reading not admitted or when the
// ticket's room is used up; a failed Add uses no room.
func (t *Ticket) Add(k int, h chain.Hash, r *chain.Reading) error {
	if t.left <= 0 || !t.admitted[k] {
		return fmt.Errorf("%w: reading %d is not among the ticket's %d", ErrOverWindow, k, t.granted)
	}
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.addLocked(h, r, t.at); err != nil {
		return err
	}
	if t.pastRefused[k] {
		p.pastRefused[h] = true
	}
	p.own[h] = true
	t.left--
	p.reserved--
	return nil
}

// Close gives back the room the ticket did not use. It is safe to call
// more than once.
func (t *Ticket) Close() {
	if t.left <= 0 {
		return
	}
	t.p.mu.Lock()
	t.p.reserved -= t.left
	t.p.mu.Unlock()
	t.left = 0
}
