// Package state owns Waterchain's deterministic state machines: the tx
// lane's (accounts, industries and permits, devices, the allowance market,
// validator-set governance, evidence, settlement and rewards) and the data
// lane's (per-device sequence and time bookkeeping of readings). It imports
// only package chain and the standard library, does no I/O and keeps no
// clock: the same committed state and block always give the same changes
// and the same state root.
//
// # Storage contract
//
// The package reads committed state through Reader (Get, which keeps no
// key it is given, and Iterate in key order) and returns each block's
// writes as []Change, which the node stores atomically with the block.
// MemStore is an in-memory Reader for tests and tools. Values are records
// encoded with chain.Encode (deterministic CBOR) and decoded strictly; a
// record that does not decode or breaks an invariant is ErrCorruptState. Two namespaces: TxPrefix ("t/") for the tx
// lane, DataPrefix ("d/") for the data lane. Each lane's state root
// (TxRoot, DataRoot, Root) is the RFC 6962 Merkle root (chain.MerkleRoot)
// of all entries of its namespace in key order, each leaf being
// uvarint(len(key)) || key || value. A Reader that keeps the lanes' trees
// (RootReader; the node's in-memory committed state does, see RootTree)
// gives the root of a block's overlay by patching its tree copy-on-write:
// O(k log n) for k changed keys instead of rehashing the namespace, with
// bit-for-bit the same roots (a block that adds a key moves the leaves
// after it, and costs O(n)). The Cache commits a block with the patch its
// root was worked out with (patchmemo.go) rather than making it again.
// The auditor re-executes the chain into a Cache too; other Readers
// (MemStore) walk the namespace.
//
// An industry's permit is kept in every version (PermitRecord, PermitAt,
// PermitHistory), so a reading can be judged by the permit in force at its
// block's anchor.
//
// # Genesis
//
// The node fills a Genesis from the genesis file; Genesis.Validate names the
// bad field; GenesisChanges returns the height-0 state of both lanes and
// GenesisRoots their roots (which go into the genesis block headers).
// Industries, their first permits and optionally their meters, regulators,
// funded accounts and validators come from genesis.
//
// # Tx lane
//
// NewTxBuilder(r, src, g, h) opens tx block h over committed state r: it
// checks that h follows the state (height, time, anchor, chain id), closes
// every period that ended at or before h.Time and settles every closed
// period whose reading window has passed at h's anchor (see below). TxBuilder.Add(tx) applies one transaction with
// ApplyTx or returns why not, leaving the block unchanged; a proposer adds
// mempool transactions one by one and keeps those that apply
// (TxBuilder.Txs), then calls Finish for the changes and the state root to
// put in the header. ExecuteTxBlock does the same for a received block,
// where every transaction must apply (else ErrBadBlock), and
// VerifyTxBlock also compares the root with h.StateRoot: on
// ErrStateRootMismatch the node must stop with that error and never vote
// for the block. CheckTx is an advisory check for the mempool and API.
// Callers verify signatures (chain.Tx.VerifySignature) before; this
// package checks everything else: ValidateBasic, nonce (the sender's last
// nonce + 1), permissions, balances, allowance, overflow.
//
// Transactions:
//   - transfer: drops (smallest units) from sender to any address.
//   - register-device (an industry, for itself; a key is registered once,
//     ever); revoke-device (its owner or a regulator). Device records keep
//     the tx height and time of registration and revocation and are never
//     deleted, so Device.ActiveAt(A) — "registered and not revoked in the
//     state after tx block A" — does not depend on later tx blocks.
//   - set-permit (regulators only): allowance per period and discharge
//     limits, in force from the next period.
//   - offer-allowance: an industry offers litres of this period's allowance
//     not yet sold or on offer, at a price in smallest drop units per
//     litre; the litres move into escrow. accept-offer: another industry
//     buys all or part of what remains; drops move buyer→seller and litres
//     escrow→buyer in the same transaction (no drops are ever escrowed).
//     cancel-offer: the seller takes the remainder back. Offers expire when
//     their period closes; their remainder returns to the seller.
//     Records stay, with status open, filled, cancelled or expired.
//     The tx lane does not know the seller's usage before settlement: an
//     industry that sells allowance it then uses pays the overuse penalty.
//   - validator-add / validator-remove: a vote by a validator of the set
//     signing this block. When the votes of the current set's validators
//     for the same change reach its quorum (⌊2n/3⌋+1) in tx block H, the
//     changed set signs tx heights ≥ H+2. ValidatorSetAt(r, h) answers for
//     any h up to the state's height + 2.
//   - evidence: two conflicting signed votes or proposals of one key that
//     is or was a validator (signatures checked here); recorded once.
//
// # Settlement and rewards
//
// Periods are chain.Period: calendar months in UTC in production (period 0
// from 00:00 UTC on the 1st of the genesis month), or a fixed length from
// the genesis time on devnets; period p is [Start(p), End(p)).
//
// Closing. The first tx block whose time is at or after End(p) closes
// period p (and every later period that has ended too, in order), before
// its transactions: open offers of p expire; each industry's allowance
// figures for p (permit allowance, bought, sold) and the limits of its
// permit for p are kept in a closed-period record (ClosedUnsettled); then
// period p+1 opens: pending permits take effect and each industry's
// allowance is its permit's. Transactions belong to the open period
// (TxMeta.Period).
//
// Settling. Closed period p is settled by the first tx block whose anchor
// data block (ReadingSource.DataBlockTime of h.Anchor.Height; genesis time
// for anchor 0) is timed at End(p) + Params.ReadingWindow or later
// (TxMeta.Unsettled counts the closed periods waiting). A data block holds
// only readings timed within ReadingWindow of its time, late readings that
// fill a gap included, and data block times increase, so no data block
// from the anchor on holds a reading timed before End(p): settlement counts
// every reading of the period there will ever be. Every industry is
// measured from the readings of its devices with time in p, in data blocks
// up to h.Anchor.Height (via ReadingSource, so every node and auditor gets
// the same figures whatever its data chain height); drops are minted to
// its account; its Settlement record (queryable with Settlements and
// Leaderboard) stores every input of the formula, the outcome and the
// reasons in words. Until then the period is closed, not settled
// (LastSettledPeriod is older); if the data chain stalls, settlement waits.
//
// All amounts are integers: allowance in litres, used volume in millilitres
// (sum of Reading.Volume), drops in smallest units, shares in permille
// (‰). ⌊x⌋ rounds down, ⌈x⌉ up. With the rules R = chain.RewardRules of
// genesis:
//
//	A  = allowance after trades (L) = permit allowance + bought − sold, at closing
//	U  = volume used (mL): Σ of the positive Volume of the industry's readings timed in p
//	for each device of the industry (MeterFigures):
//	     from = max(Start(p), registration time), to = min(End(p), revocation time)
//	     expected  = ⌊(to − from) / ReadingInterval⌋, 0 when to ≤ from
//	     delivered = min(readings timed in p, expected)
//	E  = Σ expected, D = Σ delivered
//	d  = ⌊1000·D/E⌋ (0 when E = 0)                                   delivery ‰
//	c  = 0 when the industry has no readings in p; else the minimum over
//	     the measures m its permit for p limits (limit > 0) of
//	     ⌊1000·within_m/readings⌋, 1000 when none is limited          compliance ‰
//	     (a reading is within the limit of m when its value ≤ the limit)
//	if U ≤ 1000·A:  saved = min(⌊(1000·A − U)/1000⌋, ⌊A·R.MaxSavedPermille/1000⌋)
//	                gross = R.Base + saved·R.PerLitreSaved
//	else:           over  = ⌈(U − 1000·A)/1000⌉
//	                gross = max(0, R.Base − over·R.PenaltyPerLitreOver)
//	reward = 0                        if d < R.MinDeliveryPermille
//	       = 0                        if c < R.MinCompliancePermille
//	       = ⌊gross · c · d / 10⁶⌋    otherwise
//
// So litres over round up; readings beyond a device's expected count (a
// meter registered 30 s before the end that sends 5) count for volume and
// limits but not delivery, and d ≤ 1000‰; a reading exactly at a limit is
// within it; a delivery or compliance exactly at its minimum passes.
//
// Worked example (TestWorkedExample), with R = {Base 100 drops,
// PerLitreSaved 1 drop, MaxSavedPermille 500, PenaltyPerLitreOver 2 drops,
// MinCompliance 900‰, MinDelivery 800‰}, 10-minute periods, a reading
// expected every minute, a 30 s window, 1000 L permits:
//   - saver sells 200 L (A = 800 L); its meter delivers 8 of 10 readings
//     (d = 800‰, exactly the minimum: passes), 60 L each, within limits
//     (c = 1000‰). U = 480 000 mL ≤ 800 000 mL: saved = min(320, 400) =
//     320 L, gross = 420 drops, reward = ⌊420 drops · 1000 · 800 / 10⁶⌋ =
//     336 drops.
//   - hog (A = 1000 L) uses 10 × 100.05 L = 1 000 500 mL: over = ⌈500/1000⌉
//     = 1 L, gross = 100 − 2 = 98 drops; conductivity exactly at its limit
//     in 9 readings and above it in 1: c = 900‰ (passes); reward = 88.2
//     drops. Its last reading, timed 1 ms before the end and finalized 29 s
//     after it (after the closing tx block), is counted.
//   - buyer (A = 1200 L): its meter delivers 10 of 10 readings of 50 L; a
//     meter registered 4 minutes in is expected 6 and delivers 4 of 50 L;
//     one registered 30 s before the end is expected 0 and sends 5 of 8 L,
//     delivered min(5, 0) = 0. E = 16, D = 14, d = 875‰ (1000‰ without the
//     cap); U = 740 L, saved 460 L, gross 560 drops, reward 490 drops.
//
// An industry 300 L over earns nothing (penalty 600 ≥ base), and one whose
// conductivity is within its limit in only 8 of 10 readings (800‰ < 900‰)
// earns nothing whatever its volume; its record says so.
// TestSettlementByTheRules recomputes every settlement of a four-period
// chain from these rules with code of its own.
//
// Overflow: every balance, nonce and market amount is checked (math/bits)
// and an overflow rejects the transaction with ErrOverflow; set-permit and
// genesis bound allowances so that 1000·A and A·PerLitreSaved + Base fit
// in 64 bits. Quantities measured by meters (U, over·penalty) saturate at
// 2⁶⁴−1 instead, so a hostile meter cannot make settlement fail and halt
// the chain; a saturated U means overuse and no reward. Minting never
// takes the supply past 2⁶⁴−1 (the record says when a reward is cut).
//
// # Data lane
//
// NewDataBuilder / DataBuilder.Add / Finish, ExecuteDataBlock and
// VerifyDataBlock mirror the tx lane for readings; CheckReading is the same
// check for the door (API, MQTT). A reading passes when it is well formed
// (chain.Reading.ValidateBasic), its device is registered and not revoked
// as of tx height h.Anchor.Height (Device.ActiveAt, from the tx-lane
// registry, whose answer for a height does not change as the tx chain
// advances; the state must have executed the tx chain at least up to the
// anchor, else ErrAnchorAhead), its time is within Params.ReadingWindow of
// the block time and after the device's last recorded reading, and its
// sequence number is above the last recorded one (ErrReplayedSeq); a jump
// in sequence numbers is counted in DeviceData.Missing and kept open
// (DeviceData.Gaps, the last MaxOpenGaps runs), and a late reading whose
// number is in an open gap is recorded too, whatever its time within the
// window: it fills its number and leaves the last seq and time as they
// are. Data blocks write only under DataPrefix.
//
// # Queries
//
// GetAccount, GetIndustry, Industries, VolumeUsed (open period's usage so
// far), GetDevice (registration plus data-lane record), Devices,
// DeviceActiveAt, GetOffer, Offers (open, cheapest first), Settlements,
// ClosedUnsettled, Leaderboard, EvidenceList, LastSettledPeriod,
// GetTxMeta, GetDataMeta, Periods (period numbers and labels), Regulators, Supply,
// ValidatorSetAt, ValidatorSetHistory, PendingValidatorVotes.
//
// # Concurrency
//
// Builders and views are used by one goroutine. Functions taking a Reader
// read it only; the Reader must not change while they run.
package state
