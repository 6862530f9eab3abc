// Package chain owns Waterchain's data model: readings, transactions, block
// headers and blocks of both lanes, votes, proposals, commit certificates and
// equivocation evidence, together with their one canonical encoding, their
// hashes, their domain-separated signatures and the stateless checks that run
// on them.
//
// Everything that is hashed, signed, stored or gossiped is encoded with
// deterministic CBOR (RFC 8949 core deterministic encoding). Decode is strict:
// it rejects trailing bytes, unknown fields, duplicate map keys, oversize
// lists, indefinite lengths, tags and any encoding that is not the canonical
// one, so one value has exactly one byte string and one hash.
//
// Signatures are ed25519 over
//
//	SHA-256("waterchain/" + kind + "/v1" || len(chain_id) || chain_id || canonical bytes)
//
// (see SignDigest), so a vote can never be replayed as a transaction, nor a
// reading onto another network. Validity follows ZIP-215 (cofactored
// verification, as CometBFT's ed25519consensus), for single and batch checks
// alike (BatchVerifier), so nodes that batch and nodes that do not always
// agree. ZIP-215 lets anyone sign for a small-order key, so CheckPublicKey
// refuses those keys and non-canonical encodings; every caller that lets a
// key into the chain (Tx.ValidateBasic for a new device, an added validator
// and the sender; genesis; key files) runs it.
//
// All measurements and amounts are integers with the scales documented on
// Reading and in Measures: nothing that is hashed or executed uses floating
// point.
//
// This package imports no other package of the project. Checks are split by
// cost, as callers need them: ValidateBasic methods are stateless and cheap
// (no signatures); VerifySignature methods do one ed25519 verification;
// VerifyLink and Certificate.Verify check a header against its parent and its
// validator set.
package chain
