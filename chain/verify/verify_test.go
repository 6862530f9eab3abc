package verify_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/verify"
)

const chainID = "verify-test"

var genesisHash = chain.HashBytes([]byte("genesis"))

// lanes is a chain held in memory: headers by lane, one validator set.
type lanes struct {
	headers map[chain.Lane][]*chain.Header
	vs      *chain.ValidatorSet
}

var _ verify.HeaderReader = (*lanes)(nil)

func (l *lanes) Height(lane chain.Lane) uint64 { return uint64(len(l.headers[lane])) }

func (l *lanes) Header(lane chain.Lane, height uint64) (*chain.Header, error) {
	if height == 0 || height > l.Height(lane) {
		return nil, fmt.Errorf("no header %s/%d", lane, height)
	}
	return l.headers[lane][height-1], nil
}

func (l *lanes) ValidatorSetAt(uint64) (*chain.ValidatorSet, error) { return l.vs, nil }

func key(t *testing.T, b byte) *chain.PrivateKey {
	k, err := chain.NewPrivateKey(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// next is the valid next header of lane on l.
func (l *lanes) next(lane chain.Lane) chain.Header {
	h := chain.Header{
		ChainID: chainID, Lane: lane, Height: l.Height(lane) + 1, Time: 1000 * chain.Time(l.Height(lane)+1),
		PrevHash: genesisHash, EntriesRoot: chain.MerkleRoot(nil), StateRoot: genesisHash,
		Anchor: chain.Anchor{Hash: genesisHash}, ValidatorsHash: l.vs.Hash(), Proposer: l.vs.Key(0),
	}
	if p := l.Height(lane); p > 0 {
		h.PrevHash = l.headers[lane][p-1].Hash()
	}
	return h
}

// TestVerifierRules starts from a valid next header and breaks one field
// at a time, including the cases block sync and the audit frame out
// before verification (a height beyond the next, an anchor beyond the
// other lane), which only a proposal can bring.
func TestVerifierRules(t *testing.T) {
	k := key(t, 1)
	vs, err := chain.NewValidatorSet([]chain.PubKey{k.Public()})
	if err != nil {
		t.Fatal(err)
	}
	l := &lanes{headers: map[chain.Lane][]*chain.Header{}, vs: vs}
	v := verify.New(chainID, genesisHash)
	for range 2 {
		h := l.next(chain.LaneTx)
		if _, err := v.Header(l, &h); err != nil {
			t.Fatalf("valid tx/%d: %v", h.Height, err)
		}
		l.headers[chain.LaneTx] = append(l.headers[chain.LaneTx], &h)
	}
	d1 := l.next(chain.LaneData)
	d1.Anchor = chain.Anchor{Height: 2, Hash: l.headers[chain.LaneTx][1].Hash()}
	l.headers[chain.LaneData] = append(l.headers[chain.LaneData], &d1)

	cases := []struct {
		name   string
		change func(h *chain.Header)
		want   error
	}{
		{"valid", func(h *chain.Header) {}, nil},
		{"missing proposer", func(h *chain.Header) { h.Proposer = chain.PubKey{} }, chain.ErrInvalid},
		{"wrong chain id", func(h *chain.Header) { h.ChainID = "other" }, verify.ErrWrongChain},
		{"height beyond the next", func(h *chain.Header) { h.Height++ }, verify.ErrAhead},
		{"height of the parent", func(h *chain.Header) { h.Height-- }, chain.ErrBadLink},
		{"wrong prev hash", func(h *chain.Header) { h.PrevHash[0] ^= 1 }, chain.ErrBadLink},
		{"time of the parent", func(h *chain.Header) { h.Time = d1.Time }, chain.ErrBadLink},
		{"anchor backwards", func(h *chain.Header) {
			h.Anchor = chain.Anchor{Height: 1, Hash: l.headers[chain.LaneTx][0].Hash()}
		}, chain.ErrBadAnchor},
		{"anchor beyond the tx head", func(h *chain.Header) { h.Anchor.Height = 3 }, verify.ErrAnchorAhead},
		{"anchor naming another block", func(h *chain.Header) { h.Anchor.Hash[0] ^= 1 }, chain.ErrBadAnchor},
		{"wrong validator-set hash", func(h *chain.Header) { h.ValidatorsHash[0] ^= 1 }, verify.ErrValidatorSet},
		{"proposer outside the set", func(h *chain.Header) { h.Proposer = key(t, 2).Public() }, verify.ErrProposer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := l.next(chain.LaneData)
			h.Anchor = d1.Anchor
			tc.change(&h)
			got, err := v.Header(l, &h)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("valid header refused: %v", err)
			case tc.want == nil && got != vs:
				t.Fatalf("returned set %v, want the set in force", got)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("Header = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestSignerHeight is the rule of which set signs a block: tx h by the set
// at tx height h; data h by the set at its parent's anchor, genesis for
// data/1.
func TestSignerHeight(t *testing.T) {
	l := &lanes{headers: map[chain.Lane][]*chain.Header{
		chain.LaneData: {{Height: 1, Anchor: chain.Anchor{Height: 7}}},
	}}
	for _, c := range []struct {
		lane   chain.Lane
		height uint64
		want   uint64
	}{{chain.LaneTx, 5, 5}, {chain.LaneData, 1, 0}, {chain.LaneData, 2, 7}} {
		got, err := verify.SignerHeight(l, c.lane, c.height)
		if err != nil || got != c.want {
			t.Errorf("SignerHeight(%s, %d) = %d, %v; want %d", c.lane, c.height, got, err, c.want)
		}
	}
	if _, err := verify.SignerHeight(l, chain.LaneData, 3); err == nil {
		t.Error("data/3 without its parent: no error")
	}
}
