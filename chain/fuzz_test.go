package chain

import (
	"testing"
)

// Every decoder of the package is fuzzed: no input may panic, and whatever
// decodes must re-encode to the same bytes (one value, one encoding).

func FuzzDecodeReading(f *testing.F) {
	f.Add(validReading(f, 1).Encode())
	f.Add([]byte{0xa0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeReading(data)
		if err != nil {
			return
		}
		if string(r.Encode()) != string(data) {
			t.Fatalf("decoded value re-encodes differently")
		}
		_ = r.VerifySignature(testChainID)
	})
}

func FuzzDecodeTx(f *testing.F) {
	f.Add(validTx(f, 1).Encode())
	ev := &Tx{From: testKey(f, "a").Public(), Nonce: 1, Evidence: &Evidence{
		VoteA: validVote(f, Prevote, "v", HashBytes([]byte("a"))),
		VoteB: validVote(f, Prevote, "v", HashBytes([]byte("b"))),
	}}
	ev.Sign(testChainID, testKey(f, "a"))
	f.Add(ev.Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		tx, err := DecodeTx(data)
		if err != nil {
			return
		}
		if string(tx.Encode()) != string(data) {
			t.Fatalf("decoded value re-encodes differently")
		}
		_ = tx.Kind()
	})
}

func FuzzDecodeBlock(f *testing.F) {
	b, _, _ := validBlock(f, 3)
	f.Add(MustEncode(b))
	f.Fuzz(func(t *testing.T, data []byte) {
		blk, err := DecodeBlock(data)
		if err != nil {
			return
		}
		if string(MustEncode(blk)) != string(data) {
			t.Fatalf("decoded value re-encodes differently")
		}
		_ = blk.Hash()
	})
}

func FuzzDecodeVote(f *testing.F) {
	f.Add(MustEncode(validVote(f, Precommit, "v", HashBytes([]byte("a")))))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v Vote
		if Decode(data, &v) != nil || v.ValidateBasic() != nil {
			return
		}
		_ = v.VerifySignature(testChainID)
	})
}

func FuzzDecodeProposal(f *testing.F) {
	b, _, _ := validBlock(f, 2)
	p := &Proposal{Lane: LaneData, Height: 1, POLRound: -1, Block: b.WithCert(nil)}
	p.Sign(testChainID, testKey(f, "validator-b"))
	f.Add(MustEncode(p))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Proposal
		if Decode(data, &p) != nil || p.ValidateBasic() != nil {
			return
		}
		_ = p.VerifySignature(testChainID)
	})
}

func FuzzDecodeCertificate(f *testing.F) {
	b, vs, _ := validBlock(f, 1)
	f.Add(MustEncode(b.Cert))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Certificate
		if Decode(data, &c) != nil {
			return
		}
		_ = c.Verify(testChainID, vs, LaneData, 1, b.Hash())
	})
}
