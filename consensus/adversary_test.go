package consensus

import (
	"fmt"
	"slices"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// lockAdversary is the simulator's lock-targeting attacker: f = ⌊(n−1)/3⌋
// Byzantine validators that act as one, together with the scheduler of a
// network that is asynchronous until the heal (it may hold any honest
// message until then, and delivers its own first). It attacks one height
// during the chaos: the first, from a random one of 1–3, at which a
// Byzantine validator proposes the round right after the split round r
// (r = 0, or r = 1 when it also plants a proof of lock in round 0). The
// Byzantine validators run engines like the others, which keep up with the
// chain and speak at every other height; at the attacked height they keep
// silent for good and the adversary speaks for them until the heal. So
// after the heal the height must finish with f validators silent, which
// needs the engine's Rebroadcast to relay its round's votes and resend its
// previous round's (a validator behind could wait for good otherwise).
//
//  1. Plant (half of the runs, round vr = r−1): f+1 honest validators
//     prevote a block P in vr and nobody sees a polka for it. A Byzantine
//     proposer sends P to f+1 of the honest only; an honest proposer's P is
//     held from f of the others. The Byzantine do not vote in vr: their
//     prevotes for P come later, in a proof of lock (POL) for round vr
//     that no honest validator could have locked on.
//  2. Split (round r): the honest are split into S_A, f+1 of them with one
//     chosen decider D, and S_B, the f others (first the honest proposers
//     of the rounds after r+1, so that those propose fresh blocks, not A).
//     Only S_A gets block A: a Byzantine proposer sends S_B another valid
//     block, an honest proposer's A is held from S_B. The Byzantine
//     prevote A to S_A only (nil to S_B), so S_A alone sees the polka,
//     locks on A and precommits it, and they precommit A to D only (nil to
//     the others), so D alone decides A. S_B sees no polka and locks on
//     nothing.
//  3. Isolation: from the start of the height, the scheduler holds every
//     message from or to D that is not of the attacked height and a round
//     up to r until the heal. D decides A; the others do not learn it (no
//     block sync reaches them) and go on to later rounds of the height.
//  4. Push (rounds after r, to everybody but D): the Byzantine proposer of
//     round r+1 (and of any later round it proposes) proposes P with POL
//     vr when the plant worked, else a fresh block, and the Byzantine
//     prevote and precommit it; an honest proposer's block that is not A
//     gets their prevotes and precommits too; A gets nil votes, which
//     keep the rounds moving without D.
//  5. Crash (in half of the runs, sim.p.lockCrashes of the f validators
//     of S_A other than D): each crashes right after it has sent its
//     round-r precommit for A, so after it locked on A and wrote the lock
//     to its WAL, and restarts from that WAL before the round-r precommit
//     timeout ends, before the push reaches it (a later push round still
//     finds it when it comes back late). A restart that forgot the lock
//     would prevote the pushed block like S_B: the WAL must give it back.
//
// With correct locks the push cannot succeed: the f validators of S_A
// other than D are locked on A since round r, so a block other than A gets
// at most f (S_B) + f (Byzantine) = 2f < 2f+1 prevotes; the honest wait
// for the heal, when D's block sync gives them A. An engine that prevotes
// a fresh proposal whatever its lock (line 22), takes a POL older than its
// lock (line 28) or does not lock when it precommits (line 36) lets S_A
// prevote the pushed block, which is then decided beside D's A; so does
// an engine whose WAL loses the lock across a crash (step 5), since one
// of the f validators of S_A that forgets it brings the push to 2f+1.
// TestSimulatorCatchesBrokenLocks and TestSimulatorCatchesLockLostOnRestart
// (mutation_test.go) check that the adversary catches each of these.
type lockAdversary struct {
	s      *sim
	byz    []int // the Byzantine validators, in set order
	honest []int // the others, in set order
	plant  bool  // plant a hidden POL before the split

	// The attacked height and rounds, fixed from the start.
	h  uint64
	vr int64 // plant round; -1 without
	r  uint32

	// The attack, planned when the first honest validator starts h.
	planned  bool
	d        int
	inA      map[int]bool
	heldFrom map[uint32]map[int]bool // honest proposals of a round held from these nodes
	a        *chain.Block
	aHash    chain.Hash
	planted  *chain.Block // proposed in round vr
	pHash    chain.Hash
	pVotes   map[int]*chain.Vote // honest prevotes for planted in round vr
	entered  map[uint32]bool     // rounds whose Byzantine part was played
	answered map[uint32]bool     // push rounds answered
	victims  map[int]bool        // S_A validators to crash after they lock (step 5)
	crashed  map[int]bool        // victims crashed after their precommit for A
	rebooted map[int]bool        // crashed victims restarted since

	// What the attack achieved, for the tests' logs.
	split     bool // D decided A while no other validator had
	pushed    bool // another block was pushed in a round after the split
	replanted bool // the push re-proposed the planted block with its POL
	restarts  int  // victims restarted at the attacked height after their crash
	relocked  int  // of those, restarted locked on A in round r
	defected  int  // crashed victims' prevotes for another block than A after round r, without a polka for it since r
}

func newLockAdversary(s *sim) *lockAdversary {
	n := s.p.n
	f := (n - 1) / 3
	a := &lockAdversary{s: s, byz: s.rng.Perm(n)[:f], plant: s.rng.IntN(2) == 0}
	slices.Sort(a.byz)
	for i := range n {
		if !slices.Contains(a.byz, i) {
			a.honest = append(a.honest, i)
		}
	}
	if a.plant {
		a.r = 1
	}
	a.vr = int64(a.r) - 1
	for a.h = 1 + uint64(s.rng.IntN(3)); !a.isByz(a.proposerIdx(a.h, a.r+1)); a.h++ {
	}
	return a
}

func (a *lockAdversary) isByz(i int) bool { return slices.Contains(a.byz, i) }

func (a *lockAdversary) proposerIdx(h uint64, r uint32) int {
	return a.s.vs.Index(a.s.vs.Proposer(h, r))
}

// active reports whether the attack is on: planned and before the heal.
func (a *lockAdversary) active() bool { return a.planned && !a.s.healed }

// silences reports whether a Byzantine validator's engine must keep m to
// itself: at the attacked height it never speaks (the adversary speaks for
// it until the heal).
func (a *lockAdversary) silences(m Message) bool { return m.Height() == a.h }

// poll runs after every input of honest node nd: the adversary plans its
// attack when the attacked height starts and plays its part of every
// round an honest validator enters.
func (a *lockAdversary) poll(nd *simNode) {
	if a.s.healed {
		return
	}
	st := nd.eng.Status()
	if st.Height != a.h || st.Decided {
		return
	}
	if !a.planned {
		a.plan()
	}
	for t := uint32(0); t <= st.Round; t++ {
		if !a.entered[t] {
			a.entered[t] = true
			a.enter(t)
		}
	}
}

// shuffled returns a shuffled copy of xs without the value skip.
func (a *lockAdversary) shuffled(xs []int, skip int) []int {
	out := slices.DeleteFunc(slices.Clone(xs), func(i int) bool { return i == skip })
	a.s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// plan picks the sides of the attack.
func (a *lockAdversary) plan() {
	h, r, f := a.h, a.r, len(a.byz)
	a.planned = true
	a.entered, a.answered = map[uint32]bool{}, map[uint32]bool{}
	a.pVotes, a.heldFrom = map[int]*chain.Vote{}, map[uint32]map[int]bool{}
	// S_B: f honest validators, not the split round's proposer, first
	// those that propose soonest after r+1, so that the honest rounds of
	// the push are proposed by validators not locked on A. S_A: the other
	// f+1, one of them the decider D.
	split := a.proposerIdx(h, r)
	inB := map[int]bool{}
	for t := r + 2; len(inB) < f && t < r+2+uint32(a.s.p.n); t++ {
		if p := a.proposerIdx(h, t); !a.isByz(p) && p != split {
			inB[p] = true
		}
	}
	for _, i := range a.shuffled(a.honest, split) {
		if len(inB) < f {
			inB[i] = true
		}
	}
	a.inA = map[int]bool{}
	var sA []int
	for _, i := range a.honest {
		if !inB[i] {
			a.inA[i] = true
			sA = append(sA, i)
		}
	}
	a.d = sA[a.s.rng.IntN(len(sA))]
	a.victims, a.crashed, a.rebooted = map[int]bool{}, map[int]bool{}, map[int]bool{}
	if k := a.s.p.lockCrashes; k > 0 {
		// Drawn only here, so that the runs without these crashes draw
		// what they drew before they existed.
		for _, i := range a.shuffled(sA, a.d)[:min(k, len(sA)-1)] {
			a.victims[i] = true
		}
	}
	if !a.isByz(split) {
		a.heldFrom[r] = inB
	}
	if a.vr >= 0 {
		if p := a.proposerIdx(h, uint32(a.vr)); !a.isByz(p) {
			victims := map[int]bool{}
			for _, i := range a.shuffled(a.honest, p)[:f] {
				victims[i] = true
			}
			a.heldFrom[uint32(a.vr)] = victims
		}
	}
	a.s.tracef("adversary: attacks height %d: byzantine %v, plant round %d, split round %d, S_A %v, decider %d, held %v, crashes %v",
		h, a.byz, a.vr, r, sA, a.d, a.heldFrom, a.victims)
}

// block builds a valid block of the attacked height proposed by the
// Byzantine validator byz; salt tells the adversary's blocks apart.
func (a *lockAdversary) block(byz int, salt string) *chain.Block {
	s := a.s
	prevHash, prevTime := genesisHash, genesisTime
	if a.h > 1 {
		parent := s.final[a.h-1]
		prevHash, prevTime = parent.Hash(), parent.Header.Time
	}
	tm := max(prevTime+1, genesisTime+chain.Time(s.now.Milliseconds()))
	b := makeBlock(s.vs, a.h, s.keys[byz].Public(), prevHash, tm, fmt.Sprintf("adversary %s at %d", salt, a.h))
	s.proposed[b.Hash()] = true
	return b
}

// send delivers m from Byzantine validator byz to the nodes in to: the
// scheduler favours the adversary, so its messages are neither lost nor
// cut by partitions and arrive after the shortest delay.
func (a *lockAdversary) send(byz int, m Message, to ...int) {
	s := a.s
	for _, i := range to {
		s.messages++
		s.schedule(&simEvent{at: s.now + s.p.minDelay, kind: evDeliver, node: i, from: byz, msg: m})
	}
	s.tracef("adversary: %d sends %s to %v", byz, m, to)
}

func (a *lockAdversary) vote(byz int, typ chain.VoteType, round uint32, hash chain.Hash) Message {
	return Message{Vote: signedVote(a.s.keys[byz], typ, a.h, round, hash)}
}

func (a *lockAdversary) propose(byz int, b *chain.Block, round uint32, pol int32, to ...int) {
	a.send(byz, Message{Proposal: signProposal(testChainID, a.s.keys[byz], b, round, pol)}, to...)
}

// notD is every honest validator but the decider.
func (a *lockAdversary) notD() []int {
	return slices.DeleteFunc(slices.Clone(a.honest), func(i int) bool { return i == a.d })
}

// enter plays the Byzantine part of round t, which an honest validator
// has just entered. Rounds with an honest proposer are played when its
// proposal is observed.
func (a *lockAdversary) enter(t uint32) {
	s := a.s
	p := a.proposerIdx(a.h, t)
	switch {
	case int64(t) < a.vr || !a.isByz(p) && t <= a.r:
	case int64(t) == a.vr:
		a.planted = a.block(p, "plant")
		a.pHash = a.planted.Hash()
		a.propose(p, a.planted, t, -1, a.shuffled(a.honest, -1)[:len(a.byz)+1]...)
	case t == a.r:
		var sA, sB []int
		for _, i := range a.honest {
			if a.inA[i] {
				sA = append(sA, i)
			} else {
				sB = append(sB, i)
			}
		}
		a.splitVotes(a.block(p, "A"))
		a.propose(p, a.a, t, -1, sA...)
		a.propose(p, a.block(p, "A'"), t, -1, sB...)
	case a.isByz(p):
		a.answered[t] = true
		b, pol := a.planted, int32(a.vr)
		if b == nil || len(a.pVotes) < len(a.byz)+1 {
			b, pol = a.block(p, fmt.Sprintf("push %d", t)), -1
		}
		hash := b.Hash()
		to := a.notD()
		a.propose(p, b, t, pol, to...)
		a.pushed = true
		if pol >= 0 {
			a.replanted = true
			for _, i := range a.honest {
				if v := a.pVotes[i]; v != nil {
					a.send(p, Message{Vote: v}, to...)
				}
			}
			for _, z := range a.byz {
				a.send(z, a.vote(z, chain.Prevote, uint32(pol), hash), to...)
			}
		}
		a.back(t, hash)
	default:
		// An honest push round: answered when its proposal is observed,
		// or with nil votes if none came by the propose timeout.
		s.schedule(&simEvent{at: s.now + testTimeouts.Duration(TimeoutPropose, t), kind: evAdversary,
			timer: Timer{Kind: TimeoutPropose, Height: a.h, Round: t}})
	}
}

// splitVotes makes b the split round's A: the Byzantine prevote it to S_A
// and precommit it to D, and vote nil to the others (f nil prevotes and f
// nil precommits are no quorum, but they keep the round moving when an
// honest vote is lost).
func (a *lockAdversary) splitVotes(b *chain.Block) {
	a.a, a.aHash = b, b.Hash()
	var sA []int
	for _, i := range a.honest {
		if a.inA[i] {
			sA = append(sA, i)
		}
	}
	var sB []int
	for _, i := range a.honest {
		if !a.inA[i] {
			sB = append(sB, i)
		}
	}
	for _, z := range a.byz {
		a.send(z, a.vote(z, chain.Prevote, a.r, a.aHash), sA...)
		a.send(z, a.vote(z, chain.Prevote, a.r, chain.Hash{}), sB...)
		a.send(z, a.vote(z, chain.Precommit, a.r, a.aHash), a.d)
		a.send(z, a.vote(z, chain.Precommit, a.r, chain.Hash{}), a.notD()...)
	}
}

// back has every Byzantine validator prevote and precommit hash (nil for
// the zero hash) in push round t, to everybody but D.
func (a *lockAdversary) back(t uint32, hash chain.Hash) {
	to := a.notD()
	for _, b := range a.byz {
		a.send(b, a.vote(b, chain.Prevote, t, hash), to...)
		a.send(b, a.vote(b, chain.Precommit, t, hash), to...)
	}
}

// timer is the adversary's propose timeout of an honest push round.
func (a *lockAdversary) timer(t Timer) {
	if !a.active() || t.Height != a.h || a.answered[t.Round] {
		return
	}
	a.answered[t.Round] = true
	a.back(t.Round, chain.Hash{})
}

// observe sees every honest message as it is sent: the proposals of the
// plant, split and push rounds and the plant round's prevotes.
func (a *lockAdversary) observe(nd *simNode, m Message) {
	if !a.active() || m.Height() != a.h {
		return
	}
	t := m.Round()
	own := m.Vote != nil && m.Vote.Validator == nd.key.Public()
	switch {
	case own && m.Vote.Type == chain.Precommit && t == a.r && m.Vote.BlockHash == a.aHash && a.victims[nd.id] && !a.crashed[nd.id]:
		a.crashAfterLock(nd)
	case own && m.Vote.Type == chain.Prevote && t > a.r && a.crashed[nd.id] && !m.Vote.BlockHash.IsZero() && m.Vote.BlockHash != a.aHash:
		if a.polkaSince(nd, m.Vote.BlockHash, t) {
			// Line 28 with a proof of lock newer than the lock: the
			// attack failed (an honest validator of S_A did not lock
			// on A and joined the push), and a locked validator may
			// follow.
			a.s.tracef("adversary: node %d, locked on A in round %d, prevotes %s in round %d after a polka for it", nd.id, a.r, m.Vote.BlockHash.Short(), t)
			break
		}
		a.defected++
		a.s.tracef("adversary: node %d, locked on A in round %d, prevotes %s in round %d without a polka for it since", nd.id, a.r, m.Vote.BlockHash.Short(), t)
	case m.Proposal != nil && int64(t) == a.vr && a.planted == nil:
		a.planted, a.pHash = m.Proposal.Block, m.Proposal.Block.Hash()
	case m.Vote != nil && m.Vote.Type == chain.Prevote && int64(t) == a.vr && a.planted != nil &&
		m.Vote.BlockHash == a.pHash && m.Vote.Validator == nd.key.Public():
		a.pVotes[nd.id] = m.Vote
	case m.Proposal != nil && t == a.r && a.a == nil:
		a.splitVotes(m.Proposal.Block)
	case m.Proposal != nil && t > a.r && !a.answered[t] && nd.id != a.d:
		a.answered[t] = true
		hash := m.Proposal.Block.Hash()
		if hash == a.aHash {
			hash = chain.Hash{}
		} else {
			a.pushed = true
		}
		a.back(t, hash)
	}
}

// crashAfterLock crashes victim nd, which has just locked on A and sent
// its precommit for it, with the simulator's crash (once the current
// input is done), and restarts it from its WAL within the least delay
// plus the round-r precommit timeout. The honest validators that saw
// round r's precommits move on to the push only once that timeout has
// run out, so the victim is usually back before the push reaches it; if
// not, a later push round finds it.
func (a *lockAdversary) crashAfterLock(nd *simNode) {
	s := a.s
	a.crashed[nd.id] = true
	down := s.p.minDelay + time.Duration(s.rng.Int64N(int64(testTimeouts.Duration(TimeoutPrecommit, a.r))))
	s.schedule(&simEvent{at: s.now, kind: evCrash, node: nd.id})
	s.schedule(&simEvent{at: min(s.now+down, s.p.chaosEnd), kind: evRestart, node: nd.id})
	s.tracef("adversary: node %d locked on A in round %d: crashes, restarts in %s", nd.id, a.r, down)
}

// polkaSince reports whether nd's engine holds a quorum of prevotes for
// hash in a round from r to before t: the only thing that lets a
// validator locked on A in round r prevote hash in round t.
func (a *lockAdversary) polkaSince(nd *simNode, hash chain.Hash, t uint32) bool {
	for x := a.r; x < t; x++ {
		if rs := nd.eng.rounds[x]; rs != nil && rs.prevotes.count(hash) >= nd.eng.quorum {
			return true
		}
	}
	return false
}

// restarted notes the first restart of a crashed victim at the attacked
// height and whether its WAL gave it back its lock on A.
func (a *lockAdversary) restarted(nd *simNode) {
	if !a.planned || !a.crashed[nd.id] || a.rebooted[nd.id] {
		return
	}
	a.rebooted[nd.id] = true
	st := nd.eng.Status()
	if st.Height != a.h || st.Decided {
		return
	}
	a.restarts++
	if st.LockedRound == int64(a.r) && nd.eng.lockedHash == a.aHash {
		a.relocked++
	}
	a.s.tracef("adversary: node %d restarted at %d/%d locked in round %d", nd.id, st.Height, st.Round, st.LockedRound)
}

// locksKept checks step 5 directly, on an engine whose locks are intact:
// every crashed victim restarted at the attacked height came back locked
// on A, and none prevoted another block after the split round without a
// polka for that block since.
func (a *lockAdversary) locksKept() error {
	if a.relocked != a.restarts || a.defected > 0 {
		return fmt.Errorf("lock lost across a crash: %d of S_A crashed after locking on A in round %d, %d restarted at height %d, %d of them locked on A; %d prevotes of theirs for another block without a newer polka",
			len(a.crashed), a.r, a.restarts, a.h, a.relocked, a.defected)
	}
	return nil
}

// holds is the adversary's scheduler: until the heal it holds the honest
// plant and split proposals from the nodes chosen for that, every message
// from or to D that is not of the attacked height and a round up to the
// split, and the Byzantine engines' block sync from the attacked height
// on.
func (a *lockAdversary) holds(from, to int, e *simEvent) bool {
	if !a.active() {
		return false
	}
	if (from == a.d || to == a.d) && (e.kind != evDeliver || e.msg.Height() != a.h || e.msg.Round() > a.r) {
		return true
	}
	if e.kind == evSync {
		// A Byzantine engine that learnt the height's block keeps it
		// to itself.
		return a.isByz(from) && e.block.Header.Height >= a.h
	}
	m := e.msg
	return m.Proposal != nil && m.Height() == a.h && a.heldFrom[m.Round()][to]
}

// committed notes a decision of the attacked height.
func (a *lockAdversary) committed(nd *simNode, b *chain.Block) {
	if !a.planned || b.Header.Height != a.h {
		return
	}
	if nd.id == a.d && b.Hash() == a.aHash && a.s.final[a.h] == nil {
		a.split = true
		a.s.tracef("adversary: decider %d alone decided A %s at %d", nd.id, a.aHash.Short(), a.h)
	}
}

// summary is one line on what the attack achieved.
func (a *lockAdversary) summary() string {
	if !a.planned {
		return "no attack"
	}
	return fmt.Sprintf("attacked height %d (plant %v): lone decision %v, pushed %v, re-proposed POL %v, %d of S_A crashed after locking, %d restarted (%d locked on A), %d prevotes of theirs for another block without a newer polka",
		a.h, a.vr >= 0, a.split, a.pushed, a.replanted, len(a.crashed), a.restarts, a.relocked, a.defected)
}
