package consensus

import (
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// walBenchRecords are one height's records of a validator of 16 on the
// data lane at about 500 readings/s (some 25 readings a block): a
// proposal, a prevote and a precommit carrying the block and its proof of
// lock (a quorum of 11 prevotes), as the engine appends them.
func walBenchRecords(tb testing.TB) (proposal, prevote, precommit *Record) {
	tb.Helper()
	keys, vs := testValidators(tb, 16, "walbench")
	device := testKey(tb, "walbench-device")
	const height = 123_456
	readings := make([]*chain.Reading, 25)
	for i := range readings {
		r := &chain.Reading{
			Device: device.Public(), Seq: uint64(1000 + i), Time: genesisTime + chain.Time(i),
			FlowRate: 1_250_000, Volume: 347, VolumeTotal: 98_765_432,
			Conductivity: 5120, SuspendedSolids: 230, Absorbance: 41, Turbidity: 187,
		}
		r.Sig = device.Sign(chain.DomainReading, testChainID, r.SigningBytes())
		readings[i] = r
	}
	block := &chain.Block{
		Header: chain.Header{
			ChainID: testChainID, Lane: chain.LaneData, Height: height, Time: genesisTime + height,
			PrevHash: chain.HashBytes([]byte("parent")), NumEntries: uint32(len(readings)),
			StateRoot: chain.HashBytes([]byte("state")), Anchor: chain.Anchor{Height: 77, Hash: genesisHash},
			ValidatorsHash: vs.Hash(), Proposer: vs.Proposer(height, 0),
		},
		Readings: readings,
	}
	block.Header.EntriesRoot = block.ComputeEntriesRoot()
	vote := func(k *chain.PrivateKey, typ chain.VoteType) *chain.Vote {
		v := &chain.Vote{Type: typ, Lane: chain.LaneData, Height: height, Round: 0, BlockHash: block.Hash(), Validator: k.Public()}
		v.Sign(testChainID, k)
		return v
	}
	var pol []*chain.Vote
	for _, k := range keys[:vs.Quorum()] {
		pol = append(pol, vote(k, chain.Prevote))
	}
	var proposer *chain.PrivateKey
	for _, k := range keys {
		if k.Public() == block.Header.Proposer {
			proposer = k
		}
	}
	self := keys[0]
	for _, r := range []*Record{
		{Proposal: signProposal(testChainID, proposer, block, 0, -1)},
		{Vote: vote(self, chain.Prevote)},
		{Vote: vote(self, chain.Precommit), Block: block, POL: pol},
	} {
		if err := r.Validate(); err != nil {
			tb.Fatal(err)
		}
	}
	return &Record{Proposal: signProposal(testChainID, proposer, block, 0, -1)},
		&Record{Vote: vote(self, chain.Prevote)},
		&Record{Vote: vote(self, chain.Precommit), Block: block, POL: pol}
}

// BenchmarkWALEncode: a record's frame as FileWAL.Append builds it, by
// hand into a buffer kept from one record to the next, and by the generic
// encoder (what Append did before).
//
//	go test ./consensus -run '^$' -bench 'WALEncode|FileWALAppend' -benchmem
func BenchmarkWALEncode(b *testing.B) {
	proposal, prevote, precommit := walBenchRecords(b)
	for _, c := range []struct {
		name string
		rec  *Record
	}{{"proposal", proposal}, {"prevote", prevote}, {"precommit", precommit}} {
		b.Run(c.name+"/hand", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				fr, err := appendRecord(append(buf[:0], make([]byte, frameHeader)...), c.rec)
				if err != nil {
					b.Fatal(err)
				}
				sealFrame(fr)
				buf = fr
			}
		})
		b.Run(c.name+"/generic", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				payload, err := chain.Encode(c.rec)
				if err != nil {
					b.Fatal(err)
				}
				_ = frame(payload)
			}
		})
	}
}

// BenchmarkFileWALAppend: FileWAL.Append of a prevote and of a precommit
// with its block and proof of lock, one height after another, fsync
// included. Run it with TMPDIR on a tmpfs (TMPDIR=/dev/shm) to keep the
// disk's fsync out of ns/op.
func BenchmarkFileWALAppend(b *testing.B) {
	_, prevote, precommit := walBenchRecords(b)
	for _, c := range []struct {
		name string
		rec  *Record
	}{{"prevote", prevote}, {"precommit", precommit}} {
		b.Run(c.name, func(b *testing.B) {
			w, err := OpenWAL(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			b.ReportAllocs()
			h := uint64(1)
			for b.Loop() {
				// A height after the last: the WAL checks no signatures.
				c.rec.Vote.Height = h
				for _, v := range c.rec.POL {
					v.Height = h
				}
				h++
				if err := w.Append(c.rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
