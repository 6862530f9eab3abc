package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

func sampleHeader() chain.Header {
	g := chain.HashBytes([]byte("genesis"))
	return chain.Header{
		ChainID: "waterchain-fuzz", Lane: chain.LaneData, Height: 7, Time: 1_764_000_000_000,
		PrevHash: chain.HashBytes([]byte("parent")), NumEntries: 2, EntriesRoot: chain.HashBytes([]byte("root")),
		StateRoot: chain.HashBytes([]byte("state")), Anchor: chain.Anchor{Height: 3, Hash: g},
		ValidatorsHash: chain.HashBytes([]byte("validators")), Proposer: chain.PubKey{1, 2, 3},
	}
}

func sampleCert() chain.Certificate {
	return chain.Certificate{
		Lane: chain.LaneData, Height: 7, Round: 1, BlockHash: chain.HashBytes([]byte("block")),
		Sigs: []chain.CommitSig{{Validator: chain.PubKey{9}, Sig: bytes.Repeat([]byte{7}, 64)}},
	}
}

// FuzzDecodeStoredHeader: no bytes make the header decoder panic, and what
// it accepts is a valid header of the lane and height of its key, stored in
// its canonical form.
func FuzzDecodeStoredHeader(f *testing.F) {
	h := sampleHeader()
	valid := chain.MustEncode(&h)
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(append(bytes.Clone(valid), 0))
	other := h
	other.Height = 8
	f.Add(chain.MustEncode(&other))
	bad := h
	bad.ChainID = ""
	f.Add(chain.MustEncode(&bad))
	huge := h
	huge.NumEntries = 1<<32 - 1
	f.Add(chain.MustEncode(&huge))
	f.Add([]byte{})
	f.Add([]byte{0xa0})
	key := headerKey(chain.LaneData, 7)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeHeader(key, chain.LaneData, 7, data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if got.Lane != chain.LaneData || got.Height != 7 || got.NumEntries > chain.MaxBlockEntries || got.ValidateBasic() != nil {
			t.Fatalf("accepted %+v", got)
		}
		if !bytes.Equal(chain.MustEncode(&got), data) {
			t.Fatal("accepted a non-canonical encoding")
		}
	})
}

// FuzzDecodeStoredRecords runs every other decoder of stored values on the
// same bytes: none panics, every failure is ErrCorrupt, and what is
// accepted is consistent with the key.
func FuzzDecodeStoredRecords(f *testing.F) {
	c := sampleCert()
	f.Add(chain.MustEncode(&c))
	f.Add(appendLocation(nil, 7, 2))
	f.Add(appendLocation(nil, 0, 2))
	f.Add(binary.BigEndian.AppendUint64(nil, 7))
	f.Add(binary.BigEndian.AppendUint64(nil, 0))
	h := sampleHeader()
	f.Add(encodeHead(&h))
	rec := &record{flags: flagPrevHash | flagEntriesRoot, numEntries: 3, round: 1, sigs: []recordSig{{signer: 2, sig: c.Sigs[0].Sig}}}
	f.Add(appendRecord(nil, rec))
	rec.flags = 0
	f.Add(appendRecord(nil, rec))
	f.Add(encodeBlockRef(chain.LaneTx, 7))
	f.Add(encodeBlockRef(9, 7))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Add(appendChunk(nil, [][]byte{{1, 2}, {}, {3}}))
	f.Add(appendChunk(nil, [][]byte{chain.MustEncode(&c)}))
	f.Add([]byte{chunkV1, 17})
	isCorrupt := func(t *testing.T, what string, err error) bool {
		t.Helper()
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: error %v is not ErrCorrupt", what, err)
		}
		return err != nil
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if cert, err := decodeCert(certKey(chain.LaneData, 7), chain.LaneData, 7, data); !isCorrupt(t, "cert", err) {
			if cert.Lane != chain.LaneData || cert.Height != 7 || cert.ValidateBasic() != nil {
				t.Fatalf("accepted certificate %+v", cert)
			}
		}
		if rec, err := decodeRecord(headerKey(chain.LaneData, 7), data); !isCorrupt(t, "record", err) {
			if rec.numEntries > chain.MaxBlockEntries || len(rec.sigs) > chain.MaxValidators || rec.flags&^flagsKnown != 0 {
				t.Fatalf("accepted record %+v", rec)
			}
			if again, err := decodeRecord(headerKey(chain.LaneData, 7), appendRecord(nil, rec)); err != nil || again.hash != rec.hash {
				t.Fatalf("a re-encoded record does not decode: %v", err)
			}
			if n, enc := recordLen(rec), appendRecord(nil, rec); n != len(enc) {
				t.Fatalf("recordLen %d of a record encoded in %d bytes", n, len(enc))
			}
		}
		if h, err := decodeHead(headKey(chain.LaneData), chain.LaneData, data); !isCorrupt(t, "head", err) && (h.Lane != chain.LaneData || h.Height == 0) {
			t.Fatalf("accepted head %+v", h)
		}
		if loc, err := decodeLocation([]byte("n"), chain.LaneData, data); !isCorrupt(t, "location", err) {
			if loc.Height == 0 || !bytes.Equal(appendLocation(nil, loc.Height, loc.Index), data) {
				t.Fatalf("accepted location %v", loc)
			}
		}
		if h, err := decodeHeight([]byte("l\x01"), data); !isCorrupt(t, "height", err) && h == 0 {
			t.Fatal("accepted height 0")
		}
		if lane, h, err := decodeBlockRef([]byte("b"), data); !isCorrupt(t, "block ref", err) && (!lane.Valid() || h == 0) {
			t.Fatalf("accepted block ref %s/%d", lane, h)
		}
		if r, err := decodeReadingEntry(entryKey(chain.LaneData, 7, 0), data); !isCorrupt(t, "reading", err) && r.ValidateBasic() != nil {
			t.Fatal("accepted an invalid reading")
		}
		if tx, err := decodeTxEntry(entryKey(chain.LaneTx, 7, 0), data); !isCorrupt(t, "tx", err) && tx.ValidateBasic() != nil {
			t.Fatal("accepted an invalid transaction")
		}
		ckey := chunkKey(chain.LaneData, 7, 0)
		for want := 0; want <= EntriesPerChunk+1; want++ {
			es, err := chunkEntries(ckey, data, want)
			if isCorrupt(t, "chunk", err) {
				continue
			}
			if len(es) != want || want == 0 {
				t.Fatalf("accepted a chunk of %d entries as %d", len(es), want)
			}
			for at, e := range es {
				if one, err := chunkEntry(ckey, data, at); err != nil || !bytes.Equal(one, e) {
					t.Fatalf("entry %d alone: %x, %v; of the chunk: %x", at, one, err, e)
				}
			}
		}
		for at := 0; at <= EntriesPerChunk; at++ {
			if e, err := chunkEntry(ckey, data, at); !isCorrupt(t, "chunk entry", err) && len(e) > len(data) {
				t.Fatalf("entry %d of %d bytes from %d", at, len(e), len(data))
			}
		}
		_ = keyName(data) // renders any key
	})
}
