package node

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// syncAnswerSamples are sync answers as nodes send them: data blocks with
// and without readings (image hashes and extreme measures among them), a
// tx block with a transaction, blocks with and without certificates.
func syncAnswerSamples(t testing.TB) [][]byte {
	t.Helper()
	const chainID = "sync-decode-test"
	dev, err := chain.NewPrivateKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	val, err := chain.NewPrivateKey(append(make([]byte, 31), 1))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	img := chain.HashBytes([]byte("image"))
	certify := func(b *chain.Block) *chain.Block {
		b.Header.NumEntries = uint32(b.NumEntries())
		b.Header.EntriesRoot = b.ComputeEntriesRoot()
		v := &chain.Vote{Type: chain.Precommit, Lane: b.Header.Lane, Height: b.Header.Height, Round: 2, BlockHash: b.Hash(), Validator: val.Public()}
		v.Sig = val.Sign(chain.DomainVote, chainID, v.SigningBytes())
		b.Cert = &chain.Certificate{Lane: b.Header.Lane, Height: b.Header.Height, Round: 2, BlockHash: b.Hash(), Sigs: []chain.CommitSig{{Validator: val.Public(), Sig: v.Sig}}}
		return b
	}
	data := func(h uint64, readings int) *chain.Block {
		b := &chain.Block{Header: chain.Header{ChainID: chainID, Lane: chain.LaneData, Height: h, Time: chain.TimeOf(at.Add(time.Duration(h) * time.Second)), Anchor: chain.Anchor{Height: h / 2}}}
		for k := range readings {
			r := signedReading(chainID, dev, h*100+uint64(k), at.Add(time.Duration(h)*time.Second))
			if k == 1 {
				r.ImageHash = &img
				r.FlowRate, r.Volume, r.VolumeTotal, r.Turbidity = -1, math.MinInt64, math.MaxInt64, -24
				r.Sign(chainID, dev)
			}
			b.Readings = append(b.Readings, r)
		}
		return certify(b)
	}
	tx := &chain.Tx{From: dev.Public(), Nonce: 3, RegisterDevice: &chain.RegisterDevice{Device: val.Public(), Label: "meter"}}
	tx.Sign(chainID, dev)
	txBlock := certify(&chain.Block{Header: chain.Header{ChainID: chainID, Lane: chain.LaneTx, Height: 4, Time: chain.TimeOf(at)}, Txs: []*chain.Tx{tx}})
	uncertified := data(9, 2)
	uncertified.Cert = nil
	answer := func(bs ...*chain.Block) []byte { return chain.MustEncode(&syncBlocksResp{Blocks: bs}) }
	return [][]byte{
		answer(data(1, 1)),
		answer(data(2, 3)),
		answer(data(4, 1), data(3, 0), data(5, 30)),
		answer(data(6, 2), txBlock, uncertified),
	}
}

// checkDecodeSyncBlocks: what decodeSyncBlocks accepts, chain.Decode
// accepts with the same value.
func checkDecodeSyncBlocks(t *testing.T, data []byte) bool {
	t.Helper()
	got, ok := decodeSyncBlocks(data)
	if !ok {
		return false
	}
	var want syncBlocksResp
	if err := chain.Decode(data, &want); err != nil {
		t.Fatalf("fast path took what chain.Decode refuses (%v): %x", err, data)
	}
	if !reflect.DeepEqual(got, want.Blocks) {
		t.Fatalf("fast path and chain.Decode differ on %x:\nfast %+v\nslow %+v", data, got, want.Blocks)
	}
	return true
}

func TestDecodeSyncBlocks(t *testing.T) {
	for i, data := range syncAnswerSamples(t) {
		if !checkDecodeSyncBlocks(t, data) {
			t.Fatalf("sample %d: the common form fell back to chain.Decode", i)
		}
	}
}

// TestDecodeSyncBlocksFallsBack: answers the fast path leaves to
// chain.Decode, which still decodes or refuses them.
func TestDecodeSyncBlocksFallsBack(t *testing.T) {
	empty := chain.MustEncode(&syncBlocksResp{})
	if _, ok := decodeSyncBlocks(empty); ok {
		t.Fatal("the empty answer decoded on the fast path")
	}
	var resp syncBlocksResp
	if err := chain.Decode(empty, &resp); err != nil || len(resp.Blocks) != 0 {
		t.Fatalf("chain.Decode of the empty answer: %v, %d blocks", err, len(resp.Blocks))
	}
	// An answer whose first block carries no readings (empty blocks,
	// the tx lane) is chain.Decode's whole.
	var two syncBlocksResp
	if err := chain.Decode(syncAnswerSamples(t)[2], &two); err != nil {
		t.Fatal(err)
	}
	two.Blocks[0], two.Blocks[1] = two.Blocks[1], two.Blocks[0]
	if _, ok := decodeSyncBlocks(chain.MustEncode(&two)); ok {
		t.Fatal("an answer starting with an empty block decoded on the fast path")
	}
	// An empty readings array is not canonical (omitempty leaves it
	// out): a block of header, readings [] and certificate.
	var blk chain.Block
	if err := chain.Decode(chain.MustEncode(&chain.Block{Header: chain.Header{ChainID: "x", Lane: chain.LaneData, Height: 1}}), &blk); err != nil {
		t.Fatal(err)
	}
	raw := []byte{0xa1, 0x01, 0x81, 0xa3, 0x01}
	raw = append(raw, chain.MustEncode(&blk.Header)...)
	raw = append(raw, 0x02, 0x80, 0x04)
	raw = append(raw, chain.MustEncode(&chain.Certificate{Lane: chain.LaneData, Height: 1, BlockHash: blk.Hash()})...)
	if _, ok := decodeSyncBlocks(raw); ok {
		t.Fatal("a block with an empty readings array decoded on the fast path")
	}
	if err := chain.Decode(raw, &resp); err == nil {
		t.Fatal("chain.Decode took a block with an empty readings array")
	}
	// Without the empty array, chain.Decode takes the same block.
	raw = append(append([]byte{0xa1, 0x01, 0x81, 0xa2, 0x01}, chain.MustEncode(&blk.Header)...), 0x04)
	raw = append(raw, chain.MustEncode(&chain.Certificate{Lane: chain.LaneData, Height: 1, BlockHash: blk.Hash()})...)
	if err := chain.Decode(raw, &resp); err != nil {
		t.Fatalf("a block of header and certificate: %v", err)
	}
}

// TestDecodeSyncBlocksMutations changes every byte of each sample to
// several values, and cuts each sample at every length: the fast path
// either falls back or agrees with chain.Decode.
func TestDecodeSyncBlocksMutations(t *testing.T) {
	fast := 0
	for k, data := range syncAnswerSamples(t) {
		for i := range data {
			if k == 2 {
				break // thirty readings: as the others, byte for byte, ten times longer
			}
			for _, v := range []byte{data[i] ^ 1, data[i] ^ 0x20, data[i] + 1, 0x00, 0x18, 0x1f, 0x40, 0xf6, 0xff} {
				if v == data[i] {
					continue
				}
				m := append([]byte(nil), data...)
				m[i] = v
				if checkDecodeSyncBlocks(t, m) {
					fast++
				}
			}
		}
		for l := range len(data) {
			if checkDecodeSyncBlocks(t, data[:l]) {
				t.Fatalf("an answer cut at %d of %d bytes decoded", l, len(data))
			}
		}
		if checkDecodeSyncBlocks(t, append(append([]byte(nil), data...), 0)) {
			t.Fatal("an answer with a byte after its end decoded")
		}
	}
	if fast == 0 {
		t.Fatal("no mutation decoded on the fast path")
	}
}

// TestDecodeSyncBlocksOwnsValues: the blocks do not alias the answer.
func TestDecodeSyncBlocksOwnsValues(t *testing.T) {
	data := syncAnswerSamples(t)[2]
	got, ok := decodeSyncBlocks(data)
	if !ok {
		t.Fatal("fell back")
	}
	var want syncBlocksResp
	if err := chain.Decode(data, &want); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 0
	}
	_ = append(got[2].Readings[0].Sig, 1, 2, 3)
	if !reflect.DeepEqual(got, want.Blocks) {
		t.Fatal("blocks changed after the answer or a signature was written to")
	}
}

func FuzzDecodeSyncBlocks(f *testing.F) {
	for _, data := range syncAnswerSamples(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecodeSyncBlocks(t, data) })
}

// BenchmarkDecodeSyncBlocks: a sync answer of 20 blocks of 100 readings,
// decoded by the fast path and by chain.Decode.
//
//	go test ./node -run '^$' -bench DecodeSyncBlocks
func BenchmarkDecodeSyncBlocks(b *testing.B) {
	dev, err := chain.NewPrivateKey(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	var resp syncBlocksResp
	for h := uint64(1); h <= 20; h++ {
		blk := &chain.Block{Header: chain.Header{ChainID: "decode-bench", Lane: chain.LaneData, Height: h, Time: chain.TimeOf(at)}}
		for k := range 100 {
			blk.Readings = append(blk.Readings, signedReading("decode-bench", dev, h*1000+uint64(k), at))
		}
		blk.Header.NumEntries = uint32(len(blk.Readings))
		blk.Header.EntriesRoot = blk.ComputeEntriesRoot()
		blk.Cert = &chain.Certificate{Lane: chain.LaneData, Height: h, BlockHash: blk.Hash()}
		resp.Blocks = append(resp.Blocks, blk)
	}
	data := chain.MustEncode(&resp)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, ok := decodeSyncBlocks(data); !ok {
				b.Fatal("fell back")
			}
		}
	})
	b.Run("chain.Decode", func(b *testing.B) {
		for b.Loop() {
			var r syncBlocksResp
			if err := chain.Decode(data, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
