package mempool

import (
	"encoding/binary"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// longRunning makes p's rate estimates those of a node that has finalized
// readings since long before t0, so that a test sets a rate with one
// Finalized and reads it without the correction for a young estimate
// (rateEstimate.estimate; TestRateEstimateYoung tests that).
func longRunning(p *Readings) {
	p.rate.since = t0.Add(-time.Hour)
	p.ownRate.since = t0.Add(-time.Hour)
}

// unsigned makes n readings of n devices (first, first+1, ...), seq 1:
// Admit reads only device and seq.
func unsigned(first, n int) []*chain.Reading {
	out := make([]*chain.Reading, n)
	for i := range out {
		var dev chain.PubKey
		binary.BigEndian.PutUint64(dev[:], uint64(first+i))
		out[i] = &chain.Reading{Device: dev, Seq: 1, Time: 1}
	}
	return out
}

// TestRateEstimate: blocks of 1,000 readings every 100 ms are 10,000/s,
// however the estimate is sampled; it halves in RateWindow·ln 2 of
// silence.
func TestRateEstimate(t *testing.T) {
	p := NewReadings(1_000_000)
	p.SetAdmission(Admission{Wait: time.Second, Floor: 100, RateWindow: 10 * time.Second})
	longRunning(p)
	if got := p.Stats(t0).RatePerS; got != 0 {
		t.Fatalf("rate before any block: got %v, want 0", got)
	}
	now := t0
	for range 600 { // 60 s, six time constants
		now = now.Add(100 * time.Millisecond)
		p.Finalized(1000, now)
	}
	// Just after a block the estimate is r·(Δ/τ)/(1-e^(-Δ/τ)) ≈ 1.005 r;
	// half a block later ≈ r.
	if got := p.Stats(now.Add(50 * time.Millisecond)).RatePerS; math.Abs(got-10_000) > 100 {
		t.Fatalf("steady 10,000/s: estimate %.0f, want within 1%%", got)
	}
	ln2 := math.Ln2
	half := now.Add(time.Duration(ln2 * float64(10*time.Second)))
	if got, want := p.Stats(half).RatePerS, p.Stats(now).RatePerS/2; math.Abs(got-want) > 1 {
		t.Fatalf("after τ·ln2 idle: %.1f, want %.1f", got, want)
	}
	// A clock that steps back counts the block as of the last one.
	p.Finalized(0, now.Add(-time.Hour))
	if got := p.Stats(now).RatePerS; got < 9_000 {
		t.Fatalf("a step back of the clock lost the estimate: %.0f", got)
	}
}

// TestRateEstimateYoung: a node that has just begun to finalize readings,
// 2,000/s in blocks of 200 every 100 ms, estimates about 2,000/s after a
// second, not the tenth of it the decaying sum alone holds then, and its
// window is Wait of that rather than the floor. (The estimate counts the
// first block's readings within the age, one block more than came in it:
// 2,200/s at one second, 2,040/s at five.)
func TestRateEstimateYoung(t *testing.T) {
	p := NewReadings(1_000_000)
	p.SetAdmission(Admission{Wait: 2 * time.Second, Floor: 2_000, RateWindow: 10 * time.Second})
	if got := p.Stats(t0).RatePerS; got != 0 {
		t.Fatalf("rate before any block: got %v, want 0", got)
	}
	p.Finalized(0, t0) // empty blocks start nothing
	now := t0
	block := func() {
		now = now.Add(100 * time.Millisecond)
		p.Finalized(200, now)
	}
	block()
	if got := p.Stats(now).RatePerS; got < 190 || got > 230 {
		t.Fatalf("at the first block: %.0f/s, want its 200 readings as a second's", got)
	}
	for range 10 {
		block()
	}
	st := p.Stats(now)
	if st.RatePerS < 1_900 || st.RatePerS > 2_300 {
		t.Fatalf("a second into 2,000/s: estimate %.0f/s, want 1,900 to 2,300", st.RatePerS)
	}
	if want := int(2 * st.RatePerS); st.Window != want {
		t.Fatalf("a second into 2,000/s: window %d, want 2 s of the estimate, %d", st.Window, want)
	}
	for range 40 {
		block()
	}
	if got := p.Stats(now).RatePerS; math.Abs(got-2_000) > 60 {
		t.Fatalf("five seconds into 2,000/s: estimate %.0f/s, want within 3%%", got)
	}
}

// TestAdmissionWindow: the window is Wait of the rate, never below the
// floor nor above the pool's max.
func TestAdmissionWindow(t *testing.T) {
	for _, tc := range []struct {
		name                string
		finalized           int // in one block, RateWindow 10 s: rate = n/10
		max, floor, wantWin int
		wait                time.Duration
	}{
		{"idle network: the floor", 0, 100_000, 5_000, 5_000, time.Second},
		{"rate below the floor", 20_000, 100_000, 5_000, 5_000, time.Second},            // 2,000/s
		{"rate times wait", 100_000, 100_000, 5_000, 10_000, time.Second},               // 10,000/s
		{"two seconds of it", 100_000, 100_000, 5_000, 20_000, 2 * time.Second},         // 10,000/s
		{"capped by the pool's max", 1_000_000, 30_000, 5_000, 30_000, 2 * time.Second}, // 100,000/s
		{"floor above the max", 0, 1_000, 5_000, 1_000, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewReadings(tc.max)
			p.SetAdmission(Admission{Wait: tc.wait, Floor: tc.floor, RateWindow: 10 * time.Second})
			longRunning(p)
			p.Finalized(tc.finalized, t0)
			if got := p.Stats(t0).Window; got != tc.wantWin {
				t.Fatalf("window: got %d, want %d", got, tc.wantWin)
			}
		})
	}
}

// TestAdmitRefusesPastTheWindow: a request is admitted up to the window;
// the rest is refused with a Retry-After of the time, at the rate, until
// what waits over the window and a second's worth more are finalized —
// not until the whole request fits.
func TestAdmitRefusesPastTheWindow(t *testing.T) {
	p := NewReadings(100_000)
	p.SetAdmission(Admission{Wait: time.Second, Floor: 500, RateWindow: 10 * time.Second})
	longRunning(p)
	p.Finalized(10_000, t0) // 1,000/s: window 1,000

	rs := unsigned(0, 1_200)
	tk := p.Admit(rs, t0)
	if tk.Granted() != 1_000 {
		t.Fatalf("granted %d of 1,200, want 1,000", tk.Granted())
	}
	for k := range rs {
		if tk.Admitted(k) != (k < 1_000) || (tk.Refusal(k) == nil) != (k < 1_000) {
			t.Fatalf("reading %d: admitted %v, refusal %v; want the first 1,000 admitted", k, tk.Admitted(k), tk.Refusal(k))
		}
	}
	if !errors.Is(tk.Refusal(1_100), ErrOverWindow) {
		t.Fatalf("refusal: %v, want ErrOverWindow", tk.Refusal(1_100))
	}
	if tk.RetryAfter() != 500*time.Millisecond { // none over the window: half the span
		t.Fatalf("retry after %v, want 500ms", tk.RetryAfter())
	}
	// While the ticket is held, its room counts as waiting.
	if other := p.Admit(unsigned(5_000, 1), t0); other.Granted() != 0 {
		t.Fatalf("a second request got %d while the window is reserved", other.Granted())
	}
	for k, r := range rs[:1_000] {
		if err := tk.Add(k, chain.Hash{byte(k >> 8), byte(k)}, r); err != nil {
			t.Fatal(err)
		}
	}
	if !errors.Is(tk.Add(1_000, chain.Hash{0xff}, rs[1_000]), ErrOverWindow) {
		t.Fatal("a ticket added past its room")
	}
	tk.Close()
	if st := p.Stats(t0); st.Waiting != 1_000 || p.Len() != 1_000 {
		t.Fatalf("waiting %d, len %d; want 1,000", st.Waiting, p.Len())
	}
	// 1,000 waiting, 3,000 asked: half the span's worth (500) has room
	// in half a second, so the client comes back then rather than in the
	// 3 s the whole request would take.
	full := p.Admit(unsigned(10_000, 3_000), t0)
	if full.Granted() != 0 || full.RetryAfter() != 500*time.Millisecond {
		t.Fatalf("full window: granted %d, retry %v; want 0, 500ms", full.Granted(), full.RetryAfter())
	}
	full.Close()
	// A stalled network asks for the longest wait, not hours.
	later := t0.Add(time.Hour)
	if st := p.Admit(unsigned(20_000, 1_000), later); st.Granted() != 0 || st.RetryAfter() != maxRetryAfter {
		t.Fatalf("stalled: granted %d, retry %v; want 0, %v", st.Granted(), st.RetryAfter(), maxRetryAfter)
	}
	// A block finalizes 600 of them: room for 100 at the floor (the rate
	// has decayed to nothing over the hour).
	var hashes []chain.Hash
	for k := range 600 {
		hashes = append(hashes, chain.Hash{byte(k >> 8), byte(k)})
	}
	p.Remove(hashes)
	if tk := p.Admit(unsigned(30_000, 1_000), later); tk.Granted() != 100 {
		t.Fatalf("after a block: granted %d, want 100 (floor 500 - 400 waiting)", tk.Granted())
	}
}

// TestAdmitKeepsEachDeviceInOrder: once a device's reading is refused for
// the window, its later readings are refused too (in the request and in
// later ones) until the refused one is sent again, or its Retry-After
// and refusalSlack pass; other devices are not held.
func TestAdmitKeepsEachDeviceInOrder(t *testing.T) {
	p := NewReadings(100)
	p.SetAdmission(Admission{Wait: time.Second, Floor: 2, RateWindow: 10 * time.Second})
	longRunning(p)
	a, b := unsigned(1, 1)[0].Device, unsigned(2, 1)[0].Device
	rd := func(dev chain.PubKey, seq uint64) *chain.Reading {
		return &chain.Reading{Device: dev, Seq: seq, Time: chain.Time(seq)}
	}
	tk := p.Admit([]*chain.Reading{rd(a, 1), rd(a, 2), rd(a, 3), rd(b, 1)}, t0)
	if !tk.Admitted(0) || !tk.Admitted(1) || tk.Admitted(2) || tk.Admitted(3) {
		t.Fatalf("room for 2: admitted %v %v %v %v, want a1 a2", tk.Admitted(0), tk.Admitted(1), tk.Admitted(2), tk.Admitted(3))
	}
	tk.Close() // nothing added: the room is free again
	// a3 was refused: a4 is refused although there is room; b2 is not
	// (b1 was refused, b2 is after it: refused too); c is free.
	c := unsigned(3, 1)[0].Device
	tk = p.Admit([]*chain.Reading{rd(a, 4), rd(b, 2), rd(c, 1)}, t0.Add(time.Second))
	if tk.Admitted(0) || tk.Admitted(1) || !tk.Admitted(2) {
		t.Fatalf("after refusals: admitted %v %v %v, want only c1", tk.Admitted(0), tk.Admitted(1), tk.Admitted(2))
	}
	if !errors.Is(tk.Refusal(0), ErrOverWindow) || tk.RetryAfter() < minRetryHint {
		t.Fatalf("a4: %v, retry %v", tk.Refusal(0), tk.RetryAfter())
	}
	tk.Close()
	// a3 sent again with a4: both taken.
	tk = p.Admit([]*chain.Reading{rd(a, 3), rd(a, 4)}, t0.Add(2*time.Second))
	if !tk.Admitted(0) || !tk.Admitted(1) {
		t.Fatalf("a3 again with a4: admitted %v %v", tk.Admitted(0), tk.Admitted(1))
	}
	tk.Close()
	// b never sends b1 again: once its Retry-After (at most
	// maxRetryAfter) and refusalSlack have passed, b2 is let in.
	tk = p.Admit([]*chain.Reading{rd(b, 2)}, t0.Add(maxRetryAfter+refusalSlack))
	if !tk.Admitted(0) {
		t.Fatalf("b2 after %v: %v", maxRetryAfter+refusalSlack, tk.Refusal(0))
	}
	// The block builder need not wait for b1: it is not on its way.
	if err := tk.Add(0, chain.Hash{0xb2}, rd(b, 2)); err != nil {
		t.Fatal(err)
	}
	tk.Close()
	for _, e := range p.PeekEntries(10) {
		if want := e.Reading.Device == b; e.PastRefused != want {
			t.Errorf("device %s seq %d: PastRefused %v, want %v", e.Reading.Device.Short(), e.Reading.Seq, e.PastRefused, want)
		}
	}
}

// TestTicketGivesBackUnusedRoom: readings that fail (duplicates, bad
// signatures the caller found) do not keep room; Close returns it once.
func TestTicketGivesBackUnusedRoom(t *testing.T) {
	p := NewReadings(100)
	p.SetAdmission(Admission{Wait: time.Second, Floor: 10, RateWindow: 10 * time.Second})
	longRunning(p)
	tk := p.Admit(unsigned(0, 10), t0)
	r := reading(t, "a", 1)
	if err := tk.Add(0, r.Hash(), r); err != nil {
		t.Fatal(err)
	}
	if err := tk.Add(1, r.Hash(), r); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	tk.Close()
	tk.Close()
	if st := p.Stats(t0); st.Waiting != 1 {
		t.Fatalf("waiting %d after close, want 1", st.Waiting)
	}
	if tk := p.Admit(unsigned(100, 20), t0); tk.Granted() != 9 {
		t.Fatalf("granted %d, want 9", tk.Granted())
	}
}

// TestAdmitConcurrentNeverPassesTheWindow: many doors at once never hold
// more than the window between them.
func TestAdmitConcurrentNeverPassesTheWindow(t *testing.T) {
	p := NewReadings(100_000)
	p.SetAdmission(Admission{Wait: time.Second, Floor: 300, RateWindow: 10 * time.Second})
	longRunning(p)
	var wg sync.WaitGroup
	var mu sync.Mutex
	added := 0
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				rs := unsigned(1000*g+10*i, 7)
				tk := p.Admit(rs, t0)
				for k, r := range rs {
					if !tk.Admitted(k) {
						continue
					}
					if tk.Add(k, chain.Hash{byte(g), byte(i), byte(k)}, r) == nil {
						mu.Lock()
						added++
						mu.Unlock()
					}
				}
				tk.Close()
				if st := p.Stats(t0); st.Waiting > st.Window {
					t.Errorf("waiting %d > window %d", st.Waiting, st.Window)
				}
			}
		}()
	}
	wg.Wait()
	if added != 300 || p.Len() != 300 {
		t.Fatalf("added %d, pool %d; want the window, 300", added, p.Len())
	}
}

// TestAdmissionUnsetAdmitsToMax: a pool without a rule is bounded by its
// max only.
func TestAdmissionUnsetAdmitsToMax(t *testing.T) {
	p := NewReadings(50)
	if tk := p.Admit(unsigned(0, 80), t0); tk.Granted() != 50 {
		t.Fatalf("granted %d, want the max 50", tk.Granted())
	}
}

// TestHeldReadingsDoNotFillTheWindow: readings the block builder holds
// for their predecessors leave their room to others.
func TestHeldReadingsDoNotFillTheWindow(t *testing.T) {
	p := NewReadings(100)
	p.SetAdmission(Admission{Wait: time.Second, Floor: 10, RateWindow: 10 * time.Second})
	longRunning(p)
	rs := unsigned(0, 10)
	tk := p.Admit(rs, t0)
	var hashes []chain.Hash
	for k, r := range rs {
		h := chain.Hash{byte(k + 1)}
		hashes = append(hashes, h)
		if err := tk.Add(k, h, r); err != nil {
			t.Fatal(err)
		}
	}
	tk.Close()
	if tk := p.Admit(unsigned(100, 1), t0); tk.Granted() != 0 {
		t.Fatal("a full window admitted")
	}
	p.MarkHeld(append(hashes[:4:4], chain.Hash{0xee})) // one not in the pool: ignored
	if st := p.Stats(t0); st.Waiting != 6 {
		t.Fatalf("waiting %d with 4 of 10 held, want 6", st.Waiting)
	}
	p.Remove(hashes[:2]) // held ones leave with their marks
	if st := p.Stats(t0); st.Waiting != 6 || p.Len() != 8 {
		t.Fatalf("waiting %d, len %d after 2 held left; want 6, 8", st.Waiting, p.Len())
	}
	if tk := p.Admit(unsigned(200, 10), t0); tk.Granted() != 4 {
		t.Fatalf("granted %d, want 4", tk.Granted())
	}
}

// admitAll admits rs at now and adds the admitted ones, hashed by their
// index from base; it returns the hashes added.
func admitAll(t *testing.T, p *Readings, rs []*chain.Reading, base int, now time.Time) []chain.Hash {
	t.Helper()
	tk := p.Admit(rs, now)
	defer tk.Close()
	var hashes []chain.Hash
	for k, r := range rs {
		if !tk.Admitted(k) {
			continue
		}
		h := chain.Hash{0xaa, byte((base + k) >> 16), byte((base + k) >> 8), byte(base + k)}
		if err := tk.Add(k, h, r); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	return hashes
}

// TestMarkHeldReplacesEarlierMarks: each build's held readings replace the
// last build's, so a reading whose predecessor came counts again.
func TestMarkHeldReplacesEarlierMarks(t *testing.T) {
	p := NewReadings(100)
	p.SetAdmission(Admission{Wait: time.Second, Floor: 10, RateWindow: 10 * time.Second})
	longRunning(p)
	hashes := admitAll(t, p, unsigned(0, 10), 0, t0)
	p.MarkHeld(hashes[:6])
	if st := p.Stats(t0); st.Waiting != 4 || st.DoorWaiting != 4 {
		t.Fatalf("6 of 10 held: waiting %d, door %d; want 4, 4", st.Waiting, st.DoorWaiting)
	}
	p.MarkHeld(hashes[5:7])
	if st := p.Stats(t0); st.Waiting != 8 || st.DoorWaiting != 8 {
		t.Fatalf("2 held now: waiting %d, door %d; want 8, 8", st.Waiting, st.DoorWaiting)
	}
	p.Remove(hashes[6:8]) // one held, one not
	p.MarkHeld(nil)
	if st := p.Stats(t0); st.Waiting != 8 || st.DoorWaiting != 8 {
		t.Fatalf("none held: waiting %d, door %d; want 8, 8", st.Waiting, st.DoorWaiting)
	}
}

// TestDoorShareOfTheWindow: with 4 doors, one fills at most a quarter of
// the window with readings it admitted, though its pool shows room (the
// others' admissions are still on their way by gossip); readings that
// came by gossip count in the window, not in the door's part. A door
// whose readings make up more of the finalized rate gets that part.
func TestDoorShareOfTheWindow(t *testing.T) {
	p := NewReadings(1_000_000)
	p.SetAdmission(Admission{Wait: time.Second, Floor: 100, RateWindow: 10 * time.Second, Doors: 4})
	longRunning(p)
	if st := p.Stats(t0); st.Window != 100 || st.DoorWindow != 25 {
		t.Fatalf("idle: window %d, door's %d; want the floor 100, a quarter of it", st.Window, st.DoorWindow)
	}
	p.Finalized(80_000, t0) // 8,000/s: window 8,000, a door's quarter 2,000
	mine := admitAll(t, p, unsigned(0, 3_000), 0, t0)
	if st := p.Stats(t0); len(mine) != 2_000 || st.Window != 8_000 || st.DoorWindow != 2_000 || st.DoorWaiting != 2_000 {
		t.Fatalf("admitted %d, window %d, door's %d with %d waiting; want 2,000, 8,000, 2,000, 2,000",
			len(mine), st.Window, st.DoorWindow, st.DoorWaiting)
	}
	// 5,000 come by gossip from the other doors: 7,000 waiting, room 1,000
	// in the window, none in the door's part.
	for k, r := range unsigned(10_000, 5_000) {
		if err := p.Add(chain.Hash{0xbb, byte(k >> 8), byte(k)}, r); err != nil {
			t.Fatal(err)
		}
	}
	if got := admitAll(t, p, unsigned(20_000, 10), 20_000, t0); len(got) != 0 {
		t.Fatalf("door's part full: %d admitted, want none", len(got))
	}
	// A block of 4,000 finalizes the door's 2,000 and 2,000 gossiped ones:
	// the rate is 8,400/s, the door's part of it 200/s, less than its
	// quarter, which it keeps: 2,100.
	gossiped := make([]chain.Hash, 2_000)
	for k := range gossiped {
		gossiped[k] = chain.Hash{0xbb, byte(k >> 8), byte(k)}
	}
	p.FinalizedBlock(append(mine, gossiped...), t0, t0)
	st := p.Stats(t0)
	if st.Window != 8_400 || st.DoorWindow != 2_100 || st.DoorWaiting != 0 || st.Waiting != 3_000 {
		t.Fatalf("after a block: window %d, door's %d (%d waiting), %d waiting; want 8,400, 2,100 (0), 3,000",
			st.Window, st.DoorWindow, st.DoorWaiting, st.Waiting)
	}
	// The other doors' last 3,000 are finalized by another block; from
	// then on only this door takes readings, each second as many as
	// it may, and each block finalizes them. As the others' part of the
	// rate decays, this door's grows to the whole window.
	var others []chain.Hash
	for k := 2_000; k < 5_000; k++ {
		others = append(others, chain.Hash{0xbb, byte(k >> 8), byte(k)})
	}
	p.FinalizedBlock(others, t0, t0)
	now := t0
	for i := range 60 { // six time constants
		now = now.Add(time.Second)
		ask := max(p.Stats(now).DoorWindow, 1) // what fits: no refusals to remember
		got := admitAll(t, p, unsigned(100_000*(i+1), ask), 100_000*(i+1), now)
		if len(got) != ask {
			t.Fatalf("at %v: %d of %d admitted", now.Sub(t0), len(got), ask)
		}
		p.FinalizedBlock(got, now, now)
	}
	if st := p.Stats(now); st.DoorWindow < st.Window*95/100 || st.Waiting != 0 {
		t.Fatalf("the only busy door: its part %d of window %d (%d waiting), want at least 95%%", st.DoorWindow, st.Window, st.Waiting)
	}
}

// TestWindowSpansTheNetworksLatency: when the youngest readings of the
// finalized blocks waited longer than Wait after their blocks were built
// (the network's pipeline), the window spans 1.5 times that latency of
// the rate, so that the network is not starved.
func TestWindowSpansTheNetworksLatency(t *testing.T) {
	p := NewReadings(1_000_000)
	p.SetAdmission(Admission{Wait: time.Second, Floor: 10, RateWindow: 10 * time.Second})
	longRunning(p)
	p.Finalized(10_000, t0) // 1,000/s
	if st := p.Stats(t0); st.Window != 1_000 {
		t.Fatalf("window %d, want 1,000 (1 s of 1,000/s)", st.Window)
	}
	block := admitAll(t, p, unsigned(0, 500), 0, t0)
	later := admitAll(t, p, unsigned(1_000, 100), 1_000, t0.Add(time.Second))
	// A block of all 600, built when the youngest came, is final 3 s
	// after the first came, 2 s after the youngest: the window spans 3 s. The rate: 1,000/s decayed 0.3 s and
	// the block's 60/s.
	end := t0.Add(3 * time.Second)
	p.FinalizedBlock(append(block, later...), t0.Add(time.Second), end)
	rate := 1_000*math.Exp(-0.3) + 60
	if st := p.Stats(end); st.Window != int(rate*3) {
		t.Fatalf("after a 2 s latency: window %d, want %d (3 s of %.0f/s)", st.Window, int(rate*3), rate)
	}
	// A quick block weighs 0.3: 2 + 0.3·(0.2-2) = 1.46 s, spanning 2.19 s.
	quick := admitAll(t, p, unsigned(2_000, 10), 2_000, end)
	p.FinalizedBlock(quick, end, end.Add(200*time.Millisecond))
	st := p.Stats(end.Add(200 * time.Millisecond))
	if want := int(st.RatePerS * 2.19); st.Window != want {
		t.Fatalf("after a quick block: window %d, want %d", st.Window, want)
	}
}

// TestNoRoomRefusesWholeRequests: NoRoom lets requests through while the
// door has room, reserving nothing, and once what waits fills the window
// refuses with Admit's Retry-After; the readings Admit refuses past the
// first share one short refusal.
func TestNoRoomRefusesWholeRequests(t *testing.T) {
	p := NewReadings(100_000)
	p.SetAdmission(Admission{Wait: time.Second, Floor: 500, RateWindow: 10 * time.Second})
	longRunning(p)
	p.Finalized(10_000, t0) // 1,000/s: window 1,000
	if _, err := p.NoRoom(t0); err != nil {
		t.Fatalf("empty pool: %v, want room", err)
	}
	if _, err := p.NoRoom(t0); err != nil || p.Stats(t0).Waiting != 0 {
		t.Fatalf("NoRoom reserved room: %d waiting (%v)", p.Stats(t0).Waiting, err)
	}
	rs := unsigned(0, 1_500)
	tk := p.Admit(rs, t0)
	if _, err := p.NoRoom(t0); !errors.Is(err, ErrOverWindow) {
		t.Fatalf("window reserved by a ticket: %v, want ErrOverWindow", err)
	}
	first, again := tk.Refusal(1_000), tk.Refusal(1_001)
	if first == again || again != tk.Refusal(1_499) || !errors.Is(again, ErrOverWindow) {
		t.Fatalf("refusals: first %v, then %v and %v; want the later ones one shared error", first, again, tk.Refusal(1_499))
	}
	if len(again.Error()) >= len(first.Error()) {
		t.Fatalf("the shared refusal %q is not shorter than the first %q", again, first)
	}
	for k, r := range rs[:1_000] {
		if err := tk.Add(k, chain.Hash{byte(k >> 8), byte(k)}, r); err != nil {
			t.Fatal(err)
		}
	}
	tk.Close()
	retry, err := p.NoRoom(t0)
	if !errors.Is(err, ErrOverWindow) || retry != 500*time.Millisecond {
		t.Fatalf("window full: retry %v, %v; want 500ms and ErrOverWindow", retry, err)
	}
	want := p.Admit(unsigned(5_000, 1), t0).RetryAfter()
	if retry != want {
		t.Fatalf("NoRoom's Retry-After %v, Admit's %v", retry, want)
	}
	// A block final frees room.
	hs := make([]chain.Hash, 100)
	for k := range hs {
		hs[k] = chain.Hash{byte(k >> 8), byte(k)}
	}
	p.FinalizedBlock(hs, t0.Add(time.Second), t0.Add(time.Second))
	if _, err := p.NoRoom(t0.Add(time.Second)); err != nil {
		t.Fatalf("after 100 final: %v, want room", err)
	}
}

// TestWindowLeavesOutTheQueue: the pipeline the window spans at least is
// the youngest reading's wait from its block's building on; its wait
// before (queueing behind what the window let in) widened the window
// that made it, 1.5 times per block.
func TestWindowLeavesOutTheQueue(t *testing.T) {
	p := NewReadings(1_000_000)
	p.SetAdmission(Admission{Wait: 2 * time.Second, Floor: 10, RateWindow: 10 * time.Second})
	longRunning(p)
	p.Finalized(10_000, t0) // 1,000/s
	queued := admitAll(t, p, unsigned(0, 500), 0, t0)
	// The youngest waited 3 s, the last 0.4 s of them in its block.
	end := t0.Add(3 * time.Second)
	p.FinalizedBlock(queued, end.Add(-400*time.Millisecond), end)
	st := p.Stats(end)
	if st.Span != 2*time.Second || st.Window != int(st.RatePerS*2) {
		t.Fatalf("after 2.6 s of queueing and 0.4 s of pipeline: span %v, window %d; want 2s, %d", st.Span, st.Window, int(st.RatePerS*2))
	}
	// A proposer's clock ahead of this node's: the pipeline is not
	// negative. One behind: no longer than the wait.
	for _, built := range []time.Time{end.Add(5 * time.Second), end.Add(-time.Hour)} {
		q := NewReadings(1_000)
		q.SetAdmission(Admission{Wait: time.Second, Floor: 10, RateWindow: 10 * time.Second})
		longRunning(q)
		hs := admitAll(t, q, unsigned(0, 10), 0, t0)
		q.FinalizedBlock(hs, built, end)
		if got, want := q.Stats(end).Span, map[bool]time.Duration{true: time.Second, false: 4500 * time.Millisecond}[built.After(end)]; got != want {
			t.Fatalf("built %v from its finality, after a 3 s wait: span %v, want %v", built.Sub(end), got, want)
		}
	}
}

// TestOverloadShortensTheWindow: once the door refuses for the window
// after readings waited longer than OverloadWait, the window spans
// OverloadWait (or twice the pipeline, when longer, never more than
// without overload) until the door has not refused for overloadMemory.
// A refusal while readings wait briefly (the offered rate grew faster
// than the window) leaves the window as it is.
func TestOverloadShortensTheWindow(t *testing.T) {
	admission := Admission{Wait: 2 * time.Second, OverloadWait: time.Second, Floor: 10, RateWindow: 10 * time.Second}
	for _, tc := range []struct {
		name           string
		wait, pipeline time.Duration // of the block's youngest reading
		overloaded     bool
		span           time.Duration // after the refusal
	}{
		{"queue over the peak", 3 * time.Second, 400 * time.Millisecond, true, time.Second},
		{"twice a longer pipeline", 3 * time.Second, 700 * time.Millisecond, true, 1400 * time.Millisecond},
		{"a slow network: never more than without overload", 3 * time.Second, 1500 * time.Millisecond, true, 2250 * time.Millisecond},
		{"short waits: the rate grew", 300 * time.Millisecond, 200 * time.Millisecond, false, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewReadings(1_000_000)
			p.SetAdmission(admission)
			longRunning(p)
			p.Finalized(10_000, t0) // 1,000/s
			first := admitAll(t, p, unsigned(0, 100), 0, t0)
			end := t0.Add(tc.wait)
			p.FinalizedBlock(first, end.Add(-tc.pipeline), end)
			before := p.Stats(end)
			if before.Overloaded || before.Span != max(2*time.Second, tc.pipeline*3/2) {
				t.Fatalf("before any refusal: overloaded %v, span %v", before.Overloaded, before.Span)
			}
			// A request of more than the window: the door refuses.
			got := admitAll(t, p, unsigned(1_000, before.Window+100), 1_000, end)
			if len(got) != before.Window {
				t.Fatalf("admitted %d, want the window's %d", len(got), before.Window)
			}
			st := p.Stats(end)
			if st.Overloaded != tc.overloaded || st.Span != tc.span || st.Window != int(st.RatePerS*tc.span.Seconds()) {
				t.Fatalf("after the refusal: overloaded %v, span %v, window %d; want %v, %v, %d",
					st.Overloaded, st.Span, st.Window, tc.overloaded, tc.span, int(st.RatePerS*tc.span.Seconds()))
			}
			// Refused again 1.9 s later (whole, before decoding), as a
			// block of none of them is finalized: still over the peak
			// 1.9 s after that, not 2 s after.
			again := end.Add(1900 * time.Millisecond)
			if _, err := p.NoRoom(again); !errors.Is(err, ErrOverWindow) {
				t.Fatalf("NoRoom with the window full: %v, want ErrOverWindow", err)
			}
			p.FinalizedBlock(nil, again, again)
			if st := p.Stats(again.Add(1900 * time.Millisecond)); st.Overloaded != tc.overloaded || st.Span != tc.span {
				t.Fatalf("1.9 s after the last refusal: overloaded %v, span %v; want %v, %v", st.Overloaded, st.Span, tc.overloaded, tc.span)
			}
			if st := p.Stats(again.Add(overloadMemory)); st.Overloaded || st.Span != before.Span {
				t.Fatalf("%v after the last refusal: overloaded %v, span %v; want the span without overload, %v", overloadMemory, st.Overloaded, st.Span, before.Span)
			}
		})
	}
	// OverloadWait 0 or Wait: the window never changes.
	for _, ow := range []time.Duration{0, 2 * time.Second} {
		p := NewReadings(1_000_000)
		a := admission
		a.OverloadWait = ow
		p.SetAdmission(a)
		longRunning(p)
		p.Finalized(10_000, t0)
		first := admitAll(t, p, unsigned(0, 100), 0, t0)
		end := t0.Add(3 * time.Second)
		p.FinalizedBlock(first, end.Add(-400*time.Millisecond), end)
		admitAll(t, p, unsigned(1_000, 10_000), 1_000, end)
		if st := p.Stats(end); st.Overloaded || st.Span != 2*time.Second {
			t.Fatalf("OverloadWait %v: overloaded %v, span %v; want no change", ow, st.Overloaded, st.Span)
		}
	}
}

// TestOverloadEndsWithTheQueue: a door over the peak that keeps refusing
// (clients coming back each second) leaves that state once the blocks
// show no queue, their youngest readings waiting well under OverloadWait,
// and the window spans Wait again, so that it can grow with what the
// network finalizes; waits between half OverloadWait and OverloadWait do
// not end it.
func TestOverloadEndsWithTheQueue(t *testing.T) {
	for _, tc := range []struct {
		name       string
		wait       time.Duration // of each later block's youngest reading
		overloaded bool
	}{
		{"no queue", 200 * time.Millisecond, false},
		{"a queue under OverloadWait", 700 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewReadings(1_000_000)
			p.SetAdmission(Admission{Wait: 2 * time.Second, OverloadWait: time.Second, Floor: 10, RateWindow: 10 * time.Second})
			longRunning(p)
			p.Finalized(10_000, t0) // 1,000/s
			first := admitAll(t, p, unsigned(0, 100), 0, t0)
			at := t0.Add(3 * time.Second)
			p.FinalizedBlock(first, at.Add(-400*time.Millisecond), at)
			window := admitAll(t, p, unsigned(1_000, 10_000), 1_000, at)
			if st := p.Stats(at); !st.Overloaded || st.Span != time.Second {
				t.Fatalf("refused after blocks waited 3 s: overloaded %v, span %v; want over the peak, 1s", st.Overloaded, st.Span)
			}
			// Each second clients offer more than the window and are
			// refused in part, and what was admitted is finalized
			// tc.wait later (the first time with the window above).
			base := 100_000
			hs := window
			for range 10 {
				done := at.Add(tc.wait)
				p.FinalizedBlock(hs, done.Add(-tc.wait/2), done)
				at = at.Add(time.Second)
				hs = admitAll(t, p, unsigned(base, 20_000), base, at)
				base += 20_000
				if len(hs) == 20_000 {
					t.Fatal("the door admitted twenty seconds of the rate")
				}
			}
			st := p.Stats(at)
			want := time.Second
			if !tc.overloaded {
				want = 2 * time.Second
			}
			if st.Overloaded != tc.overloaded || st.Span != want {
				t.Fatalf("after 10 s of blocks whose youngest reading waited %v: overloaded %v, span %v; want %v, %v", tc.wait, st.Overloaded, st.Span, tc.overloaded, want)
			}
		})
	}
}

// TestOverloadFloorGivesWay: over the peak the floor gives way to the
// rate: at 800/s a floor of 2,000 readings was 2.5 s of waiting.
func TestOverloadFloorGivesWay(t *testing.T) {
	p := NewReadings(1_000_000)
	p.SetAdmission(Admission{Wait: 2 * time.Second, OverloadWait: time.Second, Floor: 2_000, RateWindow: 10 * time.Second})
	longRunning(p)
	p.Finalized(8_000, t0) // 800/s: 1,600 in Wait, under the floor
	first := admitAll(t, p, unsigned(0, 100), 0, t0)
	end := t0.Add(3 * time.Second)
	p.FinalizedBlock(first, end.Add(-400*time.Millisecond), end)
	if st := p.Stats(end); st.Window != 2_000 {
		t.Fatalf("below the peak: window %d, want the floor, 2,000", st.Window)
	}
	admitAll(t, p, unsigned(1_000, 2_100), 1_000, end)
	st := p.Stats(end)
	if want := int(st.RatePerS); !st.Overloaded || st.Window != want {
		t.Fatalf("over the peak: overloaded %v, window %d; want a second of %.0f/s, %d", st.Overloaded, st.Window, st.RatePerS, want)
	}
	if st := p.Stats(end.Add(overloadMemory)); st.Overloaded || st.Window != 2_000 {
		t.Fatalf("%v after the refusal: overloaded %v, window %d; want the floor again", overloadMemory, st.Overloaded, st.Window)
	}
	// A network that stalls is not over its peak: refused again and
	// again, with no block finalized for overloadMemory, the door keeps
	// the floor, not a rate decaying to nothing.
	stall := end.Add(time.Second)
	if _, err := p.NoRoom(stall); !errors.Is(err, ErrOverWindow) {
		t.Fatalf("window full: %v, want ErrOverWindow", err)
	}
	if st := p.Stats(stall); !st.Overloaded {
		t.Fatal("refused again a second after the block: want over the peak")
	}
	for at := stall; at.Before(end.Add(10 * time.Second)); at = at.Add(500 * time.Millisecond) {
		p.NoRoom(at)
	}
	if st := p.Stats(end.Add(10 * time.Second)); st.Overloaded || st.Window != 2_000 {
		t.Fatalf("10 s without a block, refused every 0.5 s: overloaded %v, window %d; want the floor", st.Overloaded, st.Window)
	}
}

// TestFreshDoorAsksForASecond: a door that has seen no reading finalized
// knows no rate, and answers the readings past its floor Retry-After 1 s
// (the network's first blocks come within seconds), not the 30 s of a
// stalled network; once it has seen readings finalized, a rate decayed to
// nothing asks for the longest wait again.
func TestFreshDoorAsksForASecond(t *testing.T) {
	p := NewReadings(100_000)
	p.SetAdmission(Admission{Wait: 2 * time.Second, Floor: 100, RateWindow: 10 * time.Second})
	tk := p.Admit(unsigned(0, 300), t0)
	if tk.Granted() != 100 || tk.RetryAfter() != time.Second {
		t.Fatalf("fresh door: granted %d, retry %v; want the floor's 100, 1s", tk.Granted(), tk.RetryAfter())
	}
	tk.Close()
	if retry, err := p.NoRoom(t0); err != nil || retry != 0 {
		t.Fatalf("room left after the ticket closed: %v, %v", retry, err)
	}
	admitAll(t, p, unsigned(1_000, 100), 1_000, t0)
	if retry, err := p.NoRoom(t0); !errors.Is(err, ErrOverWindow) || retry != time.Second {
		t.Fatalf("fresh door, window full: retry %v, %v; want 1s, ErrOverWindow", retry, err)
	}
	// A block seen, and an hour later half of what waits is over a
	// floor lowered to 50: the stalled network's longest wait.
	p.Finalized(10, t0)
	p.SetAdmission(Admission{Wait: 2 * time.Second, Floor: 50, RateWindow: 10 * time.Second})
	if retry, err := p.NoRoom(t0.Add(time.Hour)); !errors.Is(err, ErrOverWindow) || retry != maxRetryAfter {
		t.Fatalf("an hour after its only block, 50 over the window: retry %v, %v; want %v", retry, err, maxRetryAfter)
	}
}

// TestRetryAfterWithinTheWindow: a client refused for the window is asked
// back once half the window's span has been finalized (roomShare), plus
// the time the readings waiting over the window take at the recent rate;
// never sooner than minRetryHint, never later than maxRetryAfter.
func TestRetryAfterWithinTheWindow(t *testing.T) {
	for _, c := range []struct {
		over      int
		rate      float64
		roomAfter time.Duration
		want      time.Duration
	}{
		{0, 1_000, time.Second, time.Second},
		{0, 1_000, 600 * time.Millisecond, 600 * time.Millisecond},
		{500, 1_000, 600 * time.Millisecond, 1100 * time.Millisecond},
		{0, 1_000, 10 * time.Millisecond, minRetryHint},
		{1_000_000, 1_000, time.Second, maxRetryAfter},
		{10, 0, time.Second, maxRetryAfter},
	} {
		if got := retryAfter(c.over, c.rate, c.roomAfter); got != c.want {
			t.Errorf("retryAfter(%d over, %.0f/s, room after %s) = %s, want %s", c.over, c.rate, c.roomAfter, got, c.want)
		}
	}

	// Through the door: 1,200 readings fill a window of 1.2 s at
	// 1,000/s; a request refused is asked back in 600 ms.
	p := NewReadings(100_000)
	p.SetAdmission(Admission{Wait: 1200 * time.Millisecond, Floor: 100, RateWindow: 10 * time.Second})
	longRunning(p)
	p.Finalized(10_000, t0)
	admitAll(t, p, unsigned(0, 1_200), 1_200, t0)
	if retry, err := p.NoRoom(t0); !errors.Is(err, ErrOverWindow) || retry != 600*time.Millisecond {
		t.Fatalf("window full: %v, %v; want 600ms and ErrOverWindow", retry, err)
	}
}
