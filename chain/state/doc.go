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
// The package reads committed state through Reader (Get, Iterate in key
// order) and returns each block's writes as []Change, which the node stores
// atomically with the block. MemStore is an in-memory Reader for tests and
// tools. Values are records encoded with chain.Encode (deterministic CBOR)
// and decoded strictly; a record that does not decode or breaks an
// invariant is ErrCorruptState. Two namespaces: TxPrefix ("t/") for the tx
// lane, DataPrefix ("d/") for the data lane. Each lane's state root
// (TxRoot, DataRoot, Root) is the RFC 6962 Merkle root (chain.MerkleRoot)
// of all entries of its namespace in key order, each leaf being
// uvarint(len(key)) || key || value. A Reader that keeps the lanes' trees
// (RootReader; the node's in-memory committed state does, see RootTree)
// gives the root of a block's overlay by patching its tree copy-on-write:
// O(k log n) for k changed keys instead of rehashing the namespace, with
// bit-for-bit the same roots. Other Readers (MemStore, the auditor's
// re-execution) walk the namespace.
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
// checks that h follows the state (height, time, anchor, chain id) and, if
// h.Time is past the end of the open settlement period, settles every
// closed period (see below). TxBuilder.Add(tx) applies one transaction with
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
//     cancel-offer: the seller takes the remainder back. Offers expire at
//     the end of their period; their remainder returns to the seller.
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
// Periods are chain.Period (calendar months, or fixed lengths on devnets).
// The first tx block whose time is in a later period than the open one
// settles each closed period p in order, before its transactions: open
// offers of p expire; every industry is measured from the readings of its
// devices with time in p, in data blocks up to h.Anchor.Height only (via
// ReadingSource, so every node and auditor gets the same figures whatever
// its data chain height); drops are minted to its account; a Settlement
// record (queryable with Settlements and Leaderboard) stores the figures
// and the reasons in words; then period p+1 opens: pending permits take
// effect and each industry's allowance is its permit's. Readings of p that
// reach the data chain after the anchor are not counted.
//
// All amounts are integers: allowance in litres, used volume in millilitres
// (sum of Reading.Volume), drops in smallest units, shares in permille
// (‰, floor division). With the rules R = chain.RewardRules of genesis:
//
//	A  = allowance after trades (L) = permit allowance + bought − sold
//	U  = volume used (mL)
//	E  = expected readings: for each device, ⌊active time in p / ReadingInterval⌋,
//	     active time running from registration (or period start) to
//	     revocation (or period end)
//	D  = delivered readings: Σ over devices of min(readings in p, expected)
//	d  = ⌊1000·D/E⌋ (0 when E = 0)                                  delivery ‰
//	c  = min over limited measures m of ⌊1000·within_m/readings⌋     compliance ‰
//	     (1000 when no measure is limited; 0 when there are no readings);
//	     a reading is within the limit of m when its value ≤ the limit
//	if U ≤ 1000·A:  saved = min(⌊(1000·A − U)/1000⌋, ⌊A·R.MaxSavedPermille/1000⌋)
//	                gross = R.Base + saved·R.PerLitreSaved
//	else:           over  = ⌈(U − 1000·A)/1000⌉
//	                gross = max(0, R.Base − over·R.PenaltyPerLitreOver)
//	reward = 0                        if d < R.MinDeliveryPermille
//	       = 0                        if c < R.MinCompliancePermille
//	       = ⌊gross · c · d / 10⁶⌋    otherwise
//
// Worked example, with R = {Base 100 drops, PerLitreSaved 1 drop,
// MaxSavedPermille 500, PenaltyPerLitreOver 2 drops, MinCompliance 900‰,
// MinDelivery 800‰}, 10-minute periods and a reading expected every minute
// (this is period 1 of TestScenarioThreePeriods): an industry with a
// 1000 L permit sells 200 L, so A = 800 L; its one meter delivers 9 of the
// 10 expected readings (d = 900‰), 60 L each, all within limits (c = 1000‰).
// U = 540 000 mL ≤ 800 000 mL, so saved = min(260, ⌊800·500/1000⌋ = 400) =
// 260 L and gross = 100 + 260·1 = 360 drops; reward = ⌊360 drops · 1000 ·
// 900 / 10⁶⌋ = 324 drops. An industry that uses 1020 L of a 1000 L
// allowance, delivering everything within limits, is 20 L over: gross =
// 100 − 20·2 = 60 drops, reward 60 drops. One that is 300 L over earns
// nothing (penalty 600 ≥ base), and one whose conductivity is within its
// limit in only 8 of 10 readings (800‰ < 900‰) earns nothing whatever its
// volume; its record says so.
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
// Leaderboard, EvidenceList, LastSettledPeriod, GetTxMeta, GetDataMeta,
// Periods (period numbers and labels), Regulators, Supply,
// ValidatorSetAt, ValidatorSetHistory, PendingValidatorVotes.
//
// # Concurrency
//
// Builders and views are used by one goroutine. Functions taking a Reader
// read it only; the Reader must not change while they run.
package state
