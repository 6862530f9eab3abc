package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

const testChainID = "waterchain-store-test"

// key derives a deterministic key from a label.
func key(t testing.TB, label string) *chain.PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte(label))
	k, err := chain.NewPrivateKey(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// baseTime is the time of the genesis; blocks and readings follow it.
const baseTime chain.Time = 1_764_000_000_000

// reading returns a reading of device signed with its key.
func reading(dev *chain.PrivateKey, seq uint64, at chain.Time) *chain.Reading {
	r := &chain.Reading{
		Device: dev.Public(), Seq: seq, Time: at,
		FlowRate: 12_500_000, Volume: 12_500_000 + int64(seq), VolumeTotal: 900_000_000 + int64(seq)*12_500_000,
		Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 450,
	}
	r.Sign(testChainID, dev)
	return r
}

// transfer returns a transfer signed by from.
func transfer(t testing.TB, from *chain.PrivateKey, nonce uint64) *chain.Tx {
	tx := &chain.Tx{From: from.Public(), Nonce: nonce, Transfer: &chain.Transfer{To: key(t, "payee").Public().Address(), Amount: nonce * chain.DropUnit}}
	tx.Sign(testChainID, from)
	return tx
}

// testChain builds valid, certified blocks of both lanes over one genesis.
type testChain struct {
	t       testing.TB
	keys    []*chain.PrivateKey
	vs      *chain.ValidatorSet
	genesis chain.Hash
	heads   map[chain.Lane]*chain.Header
	now     chain.Time
	// unsignedCerts makes certify sign nothing: its certificates carry
	// the validators' keys with a fixed signature, which the store does
	// not verify, for benchmarks whose setup signing would dominate.
	unsignedCerts bool
}

func newTestChain(t testing.TB) *testChain {
	t.Helper()
	c := &testChain{t: t, genesis: chain.HashBytes([]byte("genesis of " + testChainID)), heads: map[chain.Lane]*chain.Header{}, now: baseTime}
	var pubs []chain.PubKey
	for i := 0; i < 4; i++ {
		k := key(t, fmt.Sprintf("validator-%d", i))
		c.keys = append(c.keys, k)
		pubs = append(pubs, k.Public())
	}
	vs, err := chain.NewValidatorSet(pubs)
	if err != nil {
		t.Fatal(err)
	}
	c.vs = vs
	return c
}

// next builds the next block of lane with the given entries, certified by
// all validators. It does not advance the chain: advance does, once the
// block is committed.
func (c *testChain) next(lane chain.Lane, readings []*chain.Reading, txs []*chain.Tx) *chain.Block {
	c.t.Helper()
	c.now += 1000
	h := chain.Header{
		ChainID: testChainID, Lane: lane, Height: 1, Time: c.now, PrevHash: c.genesis,
		StateRoot: chain.HashBytes([]byte(fmt.Sprintf("state %s %d", lane, c.now))),
		Anchor:    chain.Anchor{Height: 0, Hash: c.genesis}, ValidatorsHash: c.vs.Hash(),
	}
	if p := c.heads[lane]; p != nil {
		h.Height, h.PrevHash = p.Height+1, p.Hash()
	}
	if o := c.heads[lane.Other()]; o != nil {
		h.Anchor = chain.Anchor{Height: o.Height, Hash: o.Hash()}
	}
	h.Proposer = c.vs.Proposer(h.Height, 0)
	b := &chain.Block{Header: h, Readings: readings, Txs: txs}
	b.Header.NumEntries = uint32(b.NumEntries())
	b.Header.EntriesRoot = b.ComputeEntriesRoot()
	b = c.certify(b)
	if err := b.ValidateBasic(); err != nil {
		c.t.Fatalf("test block is invalid: %v", err)
	}
	return b
}

// certify returns b with a certificate of all validators' precommits for
// it as it is.
func (c *testChain) certify(b *chain.Block) *chain.Block {
	c.t.Helper()
	if c.unsignedCerts {
		cert := &chain.Certificate{Lane: b.Header.Lane, Height: b.Header.Height, BlockHash: b.Hash()}
		for _, k := range c.keys {
			cert.Sigs = append(cert.Sigs, chain.CommitSig{Validator: k.Public(), Sig: make(chain.Signature, 64)})
		}
		return b.WithCert(cert)
	}
	var votes []*chain.Vote
	for _, k := range c.keys {
		v := &chain.Vote{Type: chain.Precommit, Lane: b.Header.Lane, Height: b.Header.Height, BlockHash: b.Hash(), Validator: k.Public()}
		v.Sign(testChainID, k)
		votes = append(votes, v)
	}
	cert, err := chain.NewCertificate(c.vs, votes)
	if err != nil {
		c.t.Fatal(err)
	}
	return b.WithCert(cert)
}

// advance records b as committed.
func (c *testChain) advance(b *chain.Block) {
	h := b.Header
	c.heads[h.Lane] = &h
}

// commit builds, commits and advances.
func (c *testChain) commit(s *store.Store, lane chain.Lane, readings []*chain.Reading, txs []*chain.Tx, changes ...store.Change) *chain.Block {
	c.t.Helper()
	b := c.next(lane, readings, txs)
	if err := s.Commit(b, changes); err != nil {
		c.t.Fatalf("Commit %s/%d: %v", lane, b.Header.Height, err)
	}
	c.advance(b)
	return b
}

func set(k, v string) store.Change { return store.Change{Key: []byte(k), Value: []byte(v)} }
func remove(k string) store.Change { return store.Change{Key: []byte(k), Delete: true} }

// dump lists every key and value of kv, to compare a store before and after
// an operation that must not write.
func dump(t testing.TB, kv store.KV) string {
	t.Helper()
	var keys []string
	m := map[string]string{}
	if err := kv.Iterate(nil, store.IterOptions{}, func(k, v []byte) error {
		keys = append(keys, string(k))
		m[string(k)] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&buf, "%x=%x\n", k, m[k])
	}
	return buf.String()
}

// sameBlock fails unless a and b encode identically, certificate included.
func sameBlock(t testing.TB, got, want *chain.Block) {
	t.Helper()
	g, err := chain.Encode(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := chain.Encode(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Fatalf("block %s/%d read back differs from the committed one", want.Header.Lane, want.Header.Height)
	}
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

// kvOpeners runs store tests on both KVs.
var kvOpeners = []struct {
	name string
	open func(t *testing.T) store.KV
}{
	{"memory", openMemory},
	{"badger", openBadger},
}

func openStore(t testing.TB, kv store.KV) *store.Store {
	t.Helper()
	s, err := store.Open(kv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
