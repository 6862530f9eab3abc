package consensus

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// FuzzStep feeds an engine arbitrary bytes decoded as a vote or a
// proposal, as a peer could send them: it must never panic, and whatever
// it emits must be well formed.
func FuzzStep(f *testing.F) {
	keys, vs := testValidators(f, 4, "fuzz")
	a := makeBlock(vs, 1, vs.Proposer(1, 0), genesisHash, genesisTime+1, "A")
	f.Add(byte(0), chain.MustEncode(signedVote(keys[1], chain.Prevote, 1, 0, a.Hash())))
	f.Add(byte(0), chain.MustEncode(signedVote(keys[2], chain.Precommit, 1, 3, chain.Hash{})))
	f.Add(byte(0), chain.MustEncode(signedVote(keys[2], chain.Precommit, 2, 0, chain.Hash{})))
	f.Add(byte(1), chain.MustEncode(signProposal(testChainID, keys[1], a, 0, -1)))
	f.Add(byte(1), chain.MustEncode(signProposal(testChainID, keys[2], a, 1, 0)))
	f.Add(byte(1), []byte{0xa0})
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		e, err := NewEngine(Config{ChainID: testChainID, Lane: chain.LaneTx, Key: keys[0], ValidatorSetFor: fixedSets(vs), Timeouts: testTimeouts, WAL: NewMemWAL()})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(1); err != nil {
			t.Fatal(err)
		}
		// A legitimate round first, so the fuzzed message meets state.
		e.Step(Message{Proposal: signProposal(testChainID, keys[1], a, 0, -1)})
		e.BlockValidated(a.Hash(), true)
		var m Message
		if kind%2 == 0 {
			var v chain.Vote
			if chain.Decode(data, &v) != nil {
				return
			}
			m.Vote = &v
		} else {
			var p chain.Proposal
			if chain.Decode(data, &p) != nil {
				return
			}
			m.Proposal = &p
		}
		e.Step(m)
		e.Step(m)
		e.Timeout(Timer{Kind: TimeoutPropose, Height: 1, Round: m.Round()})
		e.Timeout(Timer{Kind: TimeoutPrecommit, Height: 1, Round: m.Round()})
		e.Start(2)
		e.Step(m)
		rd := e.Ready()
		for _, ev := range rd.Evidence {
			if err := ev.ValidateBasic(); err != nil {
				t.Fatalf("evidence: %v", err)
			}
		}
		for _, out := range rd.Messages {
			if out.Vote != nil {
				if err := out.Vote.ValidateBasic(); err != nil {
					t.Fatalf("sent %v: %v", out, err)
				}
			}
		}
	})
}

// FuzzParseWAL parses arbitrary bytes as a log file, as OpenWAL does:
// never a panic; what parses re-encodes to exactly the intact prefix, and
// the cut tail is all that differs.
func FuzzParseWAL(f *testing.F) {
	recs, _, _ := walRecords(f, 2)
	var good []byte
	for _, r := range recs {
		good = append(good, frame(chain.MustEncode(r))...)
	}
	f.Add(good)
	f.Add(good[:len(good)-5])
	f.Add(append(append([]byte{}, good...), 0, 0, 0))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0xa0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, end, err := parseFrames("wal", data)
		if err != nil {
			return
		}
		var again []byte
		for _, r := range got {
			again = append(again, frame(chain.MustEncode(r))...)
		}
		if !bytes.Equal(again, data[:end]) {
			t.Fatalf("records re-encode to %d bytes, intact prefix is %d", len(again), end)
		}
	})
}

// TestOpenWALGarbage opens a few damaged files for real.
func TestOpenWALGarbage(t *testing.T) {
	for _, data := range [][]byte{{}, {1}, {0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte("not a log at all, really not")} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, walFileName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if w, err := OpenWAL(dir); err == nil {
			w.Close()
		}
	}
}
