// Package consensus finalizes the blocks of one lane: Tendermint consensus
// ("The latest gossip on BFT consensus", Buchman, Kwon, Milosevic 2018,
// Algorithm 1) over a round-robin proposer, with a write-ahead log that
// keeps a validator from ever signing two different things for one height,
// round and step, across crashes.
//
// # What it owns
//
//   - Engine: one per lane, a pure state machine in the shape of
//     etcd-io/raft. It starts no goroutines, reads no clock, draws no
//     random numbers and does no I/O except through the WAL it is given.
//   - The rules: proposer(height, round) = validators[(height+round) mod n];
//     propose, prevote, precommit with the locked and valid value and round
//     (lines 22, 28, 36, 44), the timeouts (lines 34, 47, 57, 61, 65), the
//     decision on a quorum ⌊2n/3⌋+1 of precommits (line 49) and the skip to
//     a higher round on f+1 validators seen in it (line 55). Timeouts grow
//     linearly: base + round·delta (Timeouts, TimeoutsFromParams). The
//     paper's valid(v) is instant; here the driver validates a block
//     while the round runs, so a propose timeout that expires while the
//     round's proposal has arrived and waits only for that verdict is set
//     once more (line 57) instead of prevoting nil at once.
//   - WAL, FileWAL (OpenWAL) and MemWAL: the durable record of the
//     engine's own signatures and the last-signed guard.
//   - Equivocation detection: two conflicting votes or proposals from one
//     validator become a chain.Evidence.
//   - Who signs a proposal: the round's proposer, also when it re-proposes
//     another validator's block (see ProposalRef and VerifyProposal; this
//     differs from chain.Proposal.Ref for that one case).
//
// # Driving an engine
//
// The driver owns one goroutine per engine (or one for both) and does all
// I/O. It builds the engine with NewEngine(Config) and then:
//
//  1. Start(h) with the height after its last stored block. If the WAL
//     holds signatures for h the engine resumes there.
//  2. Feeds inputs: Step(Message) for each proposal and vote gossiped to
//     it, Timeout(t) when a timer from Ready expires, BlockValidated(hash,
//     ok) once it has checked a block from Ready.Validate, Propose(block)
//     to answer Ready.Propose, and Rebroadcast() every few seconds.
//  3. After every input, drains Ready() and acts on each field (see
//     Ready): broadcast Messages, set Timers, validate blocks, build a
//     block, store a Commit and call Start(h+1), gossip Evidence.
//
// Persist before you speak is the engine's job, not the driver's: each of
// its own messages is appended to the WAL, which must make it durable
// (FileWAL fsyncs) before Append returns, and only then is it put in
// Ready.Messages. Whatever the driver does with Ready, it cannot send an
// unrecorded signature. If the WAL fails, the engine halts and every input
// returns ErrHalted: the node must stop.
//
// Ready.Messages also carries other validators' prevotes: the proof of
// lock that justifies a re-proposal (line 28), sent with it because peers
// that lost those votes, or restarted, could not prevote for it otherwise.
//
// # Checks on input
//
// Vote signatures are the driver's to verify, once, at the gossip door
// (chain.Vote.VerifySignature; set Config.VerifyVoteSignatures to have the
// engine do it instead); Holds tells the driver which messages the engine
// already took, so that it can drop their later copies (rebroadcasts)
// unverified. The engine checks everything else, cheap first:
// ValidateBasic, lane, height, membership of the height's validator set.
// Proposals are verified whole by the engine (VerifyProposal): their
// block's chain id and validator-set hash, the header's proposer, and the
// signature of the round's proposer, which only a party that knows the
// height's set can check; a driver that knows it may call VerifyProposal
// at the door too. Step's error tells the driver what to do with the
// sender: ErrInvalidMessage is provably bad (penalise), ErrStale is
// harmless (ignore).
//
// Messages for heights up to Config.HeightWindow ahead are buffered
// (bounded in total and per sender) and replayed by Start; messages for
// rounds up to Config.RoundWindow ahead are stored, and further ones only
// count towards the round skip. Messages for past heights are ignored.
//
// # Validator sets
//
// The engine asks Config.ValidatorSetFor(h) once per height, at Start. The
// driver owns validator-set changes: a change approved in tx block H signs
// tx blocks from H+2 on (DESIGN.md), so the tx lane's function answers
// from the tx chain's state. The set must be known when the height starts,
// before any block of it is seen, so the data lane needs a rule that does
// not depend on the block being decided (for example: the set in force at
// the anchor of the previous data block). It must give the same answer on
// every node. A
// proposed block must name that set's hash (Header.ValidatorsHash), and a
// committed block's certificate verifies against it (Certificate.Verify).
// A validator key outside the height's set follows the height without
// signing; a nil Config.Key makes an observer (auditor) that never signs.
//
// # Blocks and certificates
//
// A block is final when a quorum of precommits of one round names it; the
// engine then outputs it in Ready.Commit with Cert set (chain.NewCertificate
// from those precommits), to be stored and served with the block. It
// prevotes a block only after the driver said it is valid. Empty blocks are
// the driver's policy: the driver may wait (for entries, a settlement
// boundary or the genesis idle interval) before calling Start(h+1), not
// before answering Propose, since the other validators' propose timeout is
// already running then.
//
// A validator that falls behind (all others finalized its height) learns
// the block from the driver's block sync: the driver verifies the block's
// certificate against the height's set, stores it and calls Start(h+1).
//
// # The write-ahead log
//
// A Record holds one own proposal or vote; a precommit for a block carries
// the block and its proof of lock, so a restarted validator can re-propose
// its locked block with proof. FileWAL frames each record as length,
// CRC-32C and chain.Encode payload (written by hand, wal_cbor.go, to the
// same bytes), fsynced per record; in memory it keeps only each record's
// height and offset, and reads records back from the file. OpenWAL cuts off a
// torn last record (a crash mid-write) and fails with ErrWALCorrupt, naming
// the file, the offset and what to do, for any other damage. Every WAL
// refuses (ErrDoubleSign) a record that goes back from or conflicts with
// its last-signed record; the engine also abstains rather than sign at or
// before its last signature, which protects a node whose block store lost
// blocks it had voted past.
//
// # Tests
//
// sim_test.go is a deterministic network simulator (virtual clock, seeded
// math/rand/v2): 4, 7, 10, 16 and 31 validators (the last two with few
// seeds by default, since a run costs n²), loss, duplication, delay and
// reordering, validations that outlast the propose timeout (one in 8), partitions that heal, crashes (some between the WAL write and
// the send) and restarts from the WAL. It checks agreement, validity,
// liveness after the heal, that no honest validator signs conflicting
// messages, and that equivocation is caught as evidence. Most Byzantine
// seeds have one validator that double-proposes and double-votes at
// random; a third of them (the lock adversary, adversary_test.go) have
// f = ⌊(n−1)/3⌋ Byzantine validators that coordinate with a scheduler
// that may hold honest messages until the heal, and aim at the locks. At
// one height they split the honest validators: f+1 of them see the
// proposal and a polka for block A and lock on it, the Byzantine
// precommit A to one of these alone, which decides, and the scheduler
// keeps that decider and its block sync away from the others; the f
// others see another block and no polka. In the rounds that follow the
// Byzantine propose and vote for another block (fresh, or, in half of the
// runs, one that f+1 honest validators prevoted in an earlier round
// without a polka, re-proposed with the Byzantine prevotes as a late
// proof of lock) and back any honest proposal that is not A. Correct
// locks leave that block at 2f prevotes; a broken lock rule lets it be
// decided beside A. In half of its runs the adversary also crashes 1 to f
// of the f+1 validators locked on A (never the decider) right after they
// precommit A, and restarts them from their WAL before the push: one
// that came back unlocked would bring the pushed block to 2f+1 prevotes,
// so the simulator also checks that each comes back locked on A and
// prevotes no other block without a newer polka for it.
// TestSimulatorCatchesBrokenLocks
// (mutation_test.go) proves the attack works: with a test-only switch in
// the engine breaking line 22 (prevote whatever the lock), line 28 (take a
// proof of lock older than the lock) or line 36 (precommit without
// locking), the adversary in every run breaks agreement in 14–50% of
// seeds 0–999 per rule and size (rates in the test's comment), and the
// same seeds pass with the engine intact. TestSimulatorCatchesLockLostOnRestart
// does the same for a lock lost across a crash: with the crashes in every
// run and each restart on a WAL whose precommit records lost the block
// they lock on (the votes and the last-signed record stay), agreement
// breaks in 30–59% of the seeds; they pass with the WAL intact.
// At the attacked height the Byzantine validators never speak for
// themselves, so after the heal it must finish with f of them silent: that
// found a liveness gap, closed in Rebroadcast (it resends the previous
// round's own votes and relays the current round's votes of others, since
// gossip sends each message once). More seeds:
//
//	go test ./consensus -run TestSimulator -seeds=100000
//	go test ./consensus -run TestSimulatorCatchesBrokenLocks -mutationseeds=1000 -timeout=30m -v
//	go test ./consensus -run TestSimulatorCatchesLockLostOnRestart -mutationseeds=1000 -timeout=30m -v
//
// A failing seed prints its reproduction, for example
// go test ./consensus -run '^TestSimulator/n=7$' -seed=1234 (add -simtrace
// to print every event).
package consensus
