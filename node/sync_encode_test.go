package node

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// A sync answer assembled from encoded blocks (encodeSyncBlocks, so that a
// serving node need not decode and re-encode what it stores) is the same
// bytes as the answer encoded from the blocks, and decodes to them.
func TestEncodeSyncBlocksIsTheAnswersEncoding(t *testing.T) {
	key, err := chain.NewPrivateKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	mk := func(i int) *chain.Block {
		b := &chain.Block{Header: chain.Header{ChainID: "test", Lane: chain.LaneData, Height: uint64(i + 1), Time: chain.Time(1_000 + i)}}
		for k := range i % 5 {
			r := &chain.Reading{Device: key.Public(), Seq: uint64(k + 1), Time: chain.Time(1_000 + i), Volume: int64(k)}
			r.Sign("test", key)
			b.Readings = append(b.Readings, r)
		}
		b.Header.NumEntries = uint32(len(b.Readings))
		b.Header.EntriesRoot = b.ComputeEntriesRoot()
		b.Cert = &chain.Certificate{Lane: chain.LaneData, Height: b.Header.Height, BlockHash: b.Hash()}
		return b
	}
	for _, count := range []int{0, 1, 23, 24, 255, 256, 300} {
		t.Run(fmt.Sprint(count), func(t *testing.T) {
			resp := syncBlocksResp{}
			var raws [][]byte
			for i := range count {
				b := mk(i)
				resp.Blocks = append(resp.Blocks, b)
				raws = append(raws, chain.MustEncode(b))
			}
			want := chain.MustEncode(&resp)
			got := encodeSyncBlocks(raws)
			if !bytes.Equal(got, want) {
				t.Fatalf("encodeSyncBlocks of %d blocks differs from the encoded answer (%d bytes, want %d)", count, len(got), len(want))
			}
			var back syncBlocksResp
			if err := chain.Decode(got, &back); err != nil {
				t.Fatal(err)
			}
			if len(back.Blocks) != count {
				t.Fatalf("decoded %d blocks, want %d", len(back.Blocks), count)
			}
			for i, b := range back.Blocks {
				if b.Hash() != resp.Blocks[i].Hash() || len(b.Readings) != len(resp.Blocks[i].Readings) {
					t.Fatalf("block %d decodes to %s, want %s", i, b.Hash().Short(), resp.Blocks[i].Hash().Short())
				}
			}
		})
	}
}
