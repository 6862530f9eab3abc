package consensus

import (
	"fmt"
	"slices"

	"github.com/waterchain/waterchain/chain"
)

// lockAdversary is the simulator's lock-targeting attacker: f = ⌊(n−1)/3⌋
// Byzantine validators that act as one, together with the scheduler of a
// network that is asynchronous until the heal. It attacks one height
// during the chaos, the first from a random one of 1–3 at which a
// Byzantine validator proposes the split round r: round 0, or round 1
// when it also plants a proof of lock in round 0. The Byzantine validators
// run engines like the others, which keep up with the chain and speak at
// every other height; at the attacked height they keep silent until the
// heal and the adversary speaks for them. (After the heal they speak there
// too, which is what lets the height finish: see the report on liveness
// with f silent validators in sim_test.go's history.)
//
//  1. Plant (half of the runs, round vr = r−1): f+1 honest validators
//     prevote a block P in vr and nobody sees a polka for it. A Byzantine
//     proposer sends P to f+1 of the honest only; an honest proposer's P is
//     held back by the scheduler from f of the honest. The Byzantine do
//     not vote in vr: their prevotes for P come later, as a proof of lock
//     (POL) for round vr that nobody could have locked on.
//  2. Split (round r): the honest are split into S_A, f+1 of them with one
//     chosen decider D, and S_B, the f others (first the honest proposers
//     of the rounds after r, so that they propose fresh blocks, not A).
//     The Byzantine proposer sends block A to S_A and another valid block
//     to S_B; the Byzantine prevote A to S_A only, so S_A alone sees the
//     polka, locks on A and precommits it, and they precommit A to D only,
//     so D alone decides A. S_B sees no polka and locks on nothing.
//  3. Isolation: from the split on, the scheduler holds every message
//     from or to D that is not of the attacked height and a round up to r
//     until the heal. D has decided A; the others do not learn it (no
//     block sync reaches them) and go on to later rounds of the height.
//  4. Push (rounds after r, to everybody but D): a Byzantine proposer
//     proposes P with POL vr when the plant worked, else a fresh block,
//     and the Byzantine prevote and precommit it; an honest proposer's
//     block that is not A gets their prevotes and precommits too; A gets
//     nil votes, which keep the rounds moving without D.
//
// With correct locks the push cannot succeed: the f validators of S_A
// other than D are locked on A since round r, so a block other than A gets
// at most f (S_B) + f (Byzantine) = 2f < 2f+1 prevotes; the honest wait
// for the heal, when D's block sync gives them A. An engine that prevotes
// a fresh proposal whatever its lock (line 22), takes a POL older than its
// lock (line 28) or does not lock when it precommits (line 36) lets S_A
// prevote the pushed block, which is then decided beside D's A.
type lockAdversary struct {
	s      *sim
	byz    []int        // the Byzantine validators, in set order
	honest []int        // the others, in set order
	plant  bool         // plant a hidden POL before the split

	// The attacked height, fixed from the start; the attack, once planned.
	h        uint64
	planned  bool
	vr       int64 // plant round; -1 without
	r        uint32
	d        int
	inA      map[int]bool
	victims  map[int]bool // held from an honest plant proposal
	a        *chain.Block
	aHash    chain.Hash
	planted  *chain.Block // proposed in round vr
	pHash    chain.Hash
	pVotes   map[int]*chain.Vote // honest prevotes for planted in round vr
	entered  map[uint32]bool     // rounds whose Byzantine part was played
	answered map[uint32]bool     // push rounds with an honest proposer answered

	// What the attack achieved, for the test's log.
	split     bool // D decided A while no other honest validator had
	pushed    bool // a pushed block (not A) got a proposal in a push round
	replanted bool // the push re-proposed the planted block with its POL
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
	for a.h = 1 + uint64(s.rng.IntN(3)); !a.isByz(a.proposerIdx(a.h, a.r)); a.h++ {
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
// itself: before the heal the adversary speaks for it at the attacked
// height.
func (a *lockAdversary) silences(m Message) bool { return !a.s.healed && m.Height() == a.h }

// poll runs after every input of honest node nd: the adversary plans its
// attack when a suitable height starts and plays its part of every round
// an honest validator enters.
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

// plan picks the sides of the attack when the first honest validator
// starts the attacked height.
func (a *lockAdversary) plan() {
	h, r := a.h, a.r
	a.planned = true
	a.entered, a.answered = map[uint32]bool{}, map[uint32]bool{}
	a.pVotes, a.victims = map[int]*chain.Vote{}, map[int]bool{}
	rng := a.s.rng
	// S_B: the first f distinct honest proposers after r, so that the
	// rounds after the split are proposed by validators that are not
	// locked on A. S_A: the other f+1, one of them the decider D.
	f := len(a.byz)
	inB := map[int]bool{}
	for t := r + 1; len(inB) < f; t++ {
		if p := a.proposerIdx(h, t); !a.isByz(p) {
			inB[p] = true
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
	a.d = sA[rng.IntN(len(sA))]
	if a.vr >= 0 {
		if p := a.proposerIdx(h, 0); !a.isByz(p) {
			// An honest plant proposal: hold it from f honest others.
			others := slices.DeleteFunc(slices.Clone(a.honest), func(i int) bool { return i == p })
			rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
			for _, i := range others[:f] {
				a.victims[i] = true
			}
		}
	}
	a.s.tracef("adversary: attacks height %d: byzantine %v, plant round %d, split round %d, S_A %v, decider %d", h, a.byz, a.vr, r, sA, a.d)
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

// notD is every honest validator but the decider.
func (a *lockAdversary) notD() []int {
	return slices.DeleteFunc(slices.Clone(a.honest), func(i int) bool { return i == a.d })
}

// enter plays the Byzantine part of round t, which an honest validator
// has just entered.
func (a *lockAdversary) enter(t uint32) {
	s := a.s
	p := a.proposerIdx(a.h, t)
	switch {
	case int64(t) < a.vr:
	case int64(t) == a.vr:
		if !a.isByz(p) {
			return // the honest proposal is observed; victims are held from it
		}
		a.planted = a.block(p, "plant")
		a.pHash = a.planted.Hash()
		to := slices.Clone(a.honest)
		s.rng.Shuffle(len(to), func(i, j int) { to[i], to[j] = to[j], to[i] })
		a.send(p, Message{Proposal: signProposal(testChainID, s.keys[p], a.planted, t, -1)}, to[:len(a.byz)+1]...)
	case t == a.r:
		a.a = a.block(p, "A")
		a.aHash = a.a.Hash()
		other := a.block(p, "A'")
		var sA, sB []int
		for _, i := range a.honest {
			if a.inA[i] {
				sA = append(sA, i)
			} else {
				sB = append(sB, i)
			}
		}
		a.send(p, Message{Proposal: signProposal(testChainID, s.keys[p], a.a, t, -1)}, sA...)
		a.send(p, Message{Proposal: signProposal(testChainID, s.keys[p], other, t, -1)}, sB...)
		for _, b := range a.byz {
			a.send(b, a.vote(b, chain.Prevote, t, a.aHash), sA...)
			a.send(b, a.vote(b, chain.Precommit, t, a.aHash), a.d)
		}
	case a.isByz(p):
		a.answered[t] = true
		b, pol := a.planted, int32(a.vr)
		if b == nil || len(a.pVotes) < len(a.byz)+1 {
			b, pol = a.block(p, fmt.Sprintf("push %d", t)), -1
		}
		hash := b.Hash()
		to := a.notD()
		a.send(p, Message{Proposal: signProposal(testChainID, s.keys[p], b, t, pol)}, to...)
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
		// An honest proposer: answered when its proposal is observed, or
		// with nil votes if none came by the propose timeout.
		s.schedule(&simEvent{at: s.now + testTimeouts.Duration(TimeoutPropose, t), kind: evAdversary,
			timer: Timer{Kind: TimeoutPropose, Height: a.h, Round: t}})
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

// observe sees every honest message as it is sent: the plant round's
// proposal and prevotes, and the proposals of push rounds.
func (a *lockAdversary) observe(nd *simNode, m Message) {
	if !a.active() || m.Height() != a.h {
		return
	}
	t := m.Round()
	switch {
	case m.Proposal != nil && int64(t) == a.vr && a.planted == nil:
		a.planted, a.pHash = m.Proposal.Block, m.Proposal.Block.Hash()
	case m.Vote != nil && m.Vote.Type == chain.Prevote && int64(t) == a.vr && a.planted != nil &&
		m.Vote.BlockHash == a.pHash && m.Vote.Validator == nd.key.Public():
		a.pVotes[nd.id] = m.Vote
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

// holds is the adversary's scheduler: it holds, until the heal, the plant
// proposal from its victims and every message from or to D that is not of
// the attacked height and a round up to the split.
func (a *lockAdversary) holds(from, to int, e *simEvent) bool {
	if !a.active() {
		return false
	}
	if from == a.d || to == a.d {
		return e.kind != evDeliver || e.msg.Height() != a.h || e.msg.Round() > a.r
	}
	m := e.msg
	return e.kind == evDeliver && a.victims[to] && m.Proposal != nil && m.Height() == a.h && int64(m.Round()) == a.vr
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
	return fmt.Sprintf("attacked height %d (plant %v): lone decision %v, pushed %v, re-proposed POL %v", a.h, a.vr >= 0, a.split, a.pushed, a.replanted)
}
