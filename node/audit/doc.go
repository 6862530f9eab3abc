// Package audit owns the regulator's offline check of a node's store:
// Verify re-verifies the whole chain from genesis. It reads a store.Store
// (open it read-only, store.BadgerOptions.ReadOnly, with the node stopped)
// and the genesis file, and writes nothing. The compliance reports are
// package node/report's, which the node serves too.
//
// # Verify
//
// Verify replays both lanes from genesis in an order where each block's
// anchor is verified before the block (a data block anchored at tx height
// A after tx block A; a tx block anchored at data height D after data
// block D), into a fresh in-memory state seeded with the genesis state.
// Each block goes through the checks cheap to expensive, and the first
// failure is returned as a *Failure (wrapping ErrAudit) naming the lane,
// height, entry index or state key, and the Check that failed:
//
//  1. stored block: every record decodes strictly, the entries hash to the
//     header's entries root, the certificate names the header's hash
//     (store.Block does this; its ErrCorrupt names the damaged key);
//  2. hash link: chain id, height, previous hash, time, anchor
//     monotonicity (chain.VerifyLink);
//  3. anchor: it names a block of the other lane already verified, or
//     genesis at height 0;
//  4. validator set: the header names the set in force (verify.SignerHeight:
//     for tx block h the set at tx height h, for data block h the set at
//     the anchor of data block h−1, genesis for h = 1) and its proposer is
//     a member;
//  5. commit certificate against that set (chain.Certificate.Verify);
//  6. every entry signature, by chain.BatchVerifier (ZIP-215, the one rule
//     of single and batch checks);
//  7. execution: re-executing the block, settlement included, must apply
//     every entry and reproduce the header's state root;
//  8. index: the store's index entries for the block (its hash; each
//     reading by device and seq and by device and time; each tx by hash)
//     exist and point at it (store.CheckBlockIndexes). The API, proofs and
//     reports find entries through them.
//
// Checks 2 to 5 are the rules every node applies to a block, by the one
// verifier that validators checking a proposal and block sync call too
// (chain/verify.Verifier.Block), here over the chain verified so far.
//
// At the end the store's state must equal the re-executed state key by
// key, so a damaged state entry is found and named (CheckState), and each
// index table must hold exactly one entry per block, reading or tx
// (store.CountIndexes), so an entry pointing at nothing is found too
// (CheckIndex, outside any block).
//
// Throughput: a planner orders the blocks and groups them into chunks of
// about VerifyOptions.BatchSize entries; GOMAXPROCS workers read the
// chunks from the store and verify their entry signatures in batches that
// span blocks, while one goroutine runs the in-order checks and execution
// of earlier chunks. Settlement reads the readings of data blocks Verify
// has already checked, kept in memory (96 bytes each), never the store's
// reading indexes; the workers check each block's index entries beside its
// signatures.
//
// Measured on this project's 2-core machine over a million readings
// (TestVerifyThroughput): see the README's performance section.
//
// The package's tests build real chains with package audittest.
package audit
