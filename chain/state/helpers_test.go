package state

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

const drop = chain.DropUnit

var genesisTime = chain.TimeOf(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

// key derives a fixed test key from a name.
func key(name string) *chain.PrivateKey {
	seed := sha256.Sum256([]byte("waterchain-state-test/" + name))
	k, err := chain.NewPrivateKey(seed[:])
	if err != nil {
		panic(err)
	}
	return k
}

func addr(name string) chain.Address { return key(name).Public().Address() }

var testRules = chain.RewardRules{
	Base:                  100 * drop,
	PerLitreSaved:         1 * drop,
	MaxSavedPermille:      500,
	MinCompliancePermille: 900,
	MinDeliveryPermille:   800,
	PenaltyPerLitreOver:   2 * drop,
}

var testLimits = chain.Limits{Conductivity: 20000, Turbidity: 500}

// testGenesis: 10-minute periods, a reading a minute expected, three
// industries with 1000 drops and 1000 L each and one meter each, one
// regulator, four validators.
func testGenesis() *Genesis {
	g := &Genesis{
		ChainID:     "waterchain-test",
		GenesisTime: genesisTime,
		Params: chain.Params{
			IdleInterval:     chain.Duration(time.Second),
			ReadingInterval:  chain.Duration(time.Minute),
			SettlementPeriod: "10m",
			ReadingWindow:    chain.Duration(30 * time.Second),
			Reward:           testRules,
		},
		Regulators: []chain.PubKey{key("regulator").Public()},
		Accounts:   []GenesisAccount{{Address: addr("carol"), Balance: 50 * drop}},
	}
	for _, v := range []string{"v1", "v2", "v3", "v4"} {
		g.Validators = append(g.Validators, key(v).Public())
	}
	for _, name := range []string{"saver", "hog", "buyer"} {
		g.Industries = append(g.Industries, GenesisIndustry{
			Name: name, Account: key(name).Public(), Balance: 1000 * drop,
			Allowance: 1000, Limits: testLimits,
			Devices: []GenesisDevice{{Key: key(name + "-meter").Public(), Label: name + " outfall"}},
		})
	}
	return g
}

// fixture drives both lanes over a MemStore.
type fixture struct {
	t          testing.TB
	g          *Genesis
	store      *MemStore
	src        *MemReadings
	txHeight   uint64
	txTime     chain.Time
	dataHeight uint64
	dataTime   chain.Time
	recorded   []*chain.Reading // every reading of every data block, in order
}

func newFixture(t testing.TB) *fixture { return newFixtureWith(t, testGenesis()) }

func newFixtureWith(t testing.TB, g *Genesis) *fixture {
	t.Helper()
	changes, err := GenesisChanges(g)
	if err != nil {
		t.Fatalf("GenesisChanges: %v", err)
	}
	s := NewMemStore()
	s.Apply(changes)
	return &fixture{t: t, g: g, store: s, src: NewMemReadings(), txTime: g.GenesisTime, dataTime: g.GenesisTime}
}

var someHash = chain.HashBytes([]byte("anchor"))

func (f *fixture) txHeader(at chain.Time) *chain.Header {
	return &chain.Header{
		ChainID: f.g.ChainID, Lane: chain.LaneTx, Height: f.txHeight + 1, Time: at,
		Anchor: chain.Anchor{Height: f.dataHeight, Hash: someHash},
	}
}

// builder opens the next tx block at time at without committing it.
func (f *fixture) builder(at chain.Time) *TxBuilder {
	f.t.Helper()
	b, err := NewTxBuilder(f.store, f.src, f.g, f.txHeader(at))
	if err != nil {
		f.t.Fatalf("NewTxBuilder: %v", err)
	}
	return b
}

// txBlock executes and commits a tx block at time at.
func (f *fixture) txBlock(at chain.Time, txs ...*chain.Tx) error {
	f.t.Helper()
	changes, _, err := ExecuteTxBlock(f.store, f.src, f.g, f.txHeader(at), txs)
	if err != nil {
		return err
	}
	f.store.Apply(changes)
	f.txHeight++
	f.txTime = at
	return nil
}

func (f *fixture) mustTxBlock(at chain.Time, txs ...*chain.Tx) {
	f.t.Helper()
	if err := f.txBlock(at, txs...); err != nil {
		f.t.Fatalf("tx block %d: %v", f.txHeight+1, err)
	}
}

func (f *fixture) dataHeader(at chain.Time) *chain.Header {
	return &chain.Header{
		ChainID: f.g.ChainID, Lane: chain.LaneData, Height: f.dataHeight + 1, Time: at,
		Anchor: chain.Anchor{Height: f.txHeight, Hash: someHash},
	}
}

// dataBlock executes and commits a data block at time at, anchored at the
// latest tx height, and feeds its readings to the reading source.
func (f *fixture) dataBlock(at chain.Time, readings ...*chain.Reading) error {
	f.t.Helper()
	changes, _, err := ExecuteDataBlock(f.store, f.dataHeader(at), readings)
	if err != nil {
		return err
	}
	for _, c := range changes {
		if !bytes.HasPrefix(c.Key, []byte(DataPrefix)) {
			f.t.Fatalf("data block wrote outside the data namespace: %q", c.Key)
		}
	}
	f.store.Apply(changes)
	f.dataHeight++
	f.dataTime = at
	f.recorded = append(f.recorded, readings...)
	if err := f.src.Add(f.dataHeight, at, readings...); err != nil {
		f.t.Fatalf("reading source: %v", err)
	}
	return nil
}

func (f *fixture) mustDataBlock(at chain.Time, readings ...*chain.Reading) {
	f.t.Helper()
	if err := f.dataBlock(at, readings...); err != nil {
		f.t.Fatalf("data block %d: %v", f.dataHeight+1, err)
	}
}

// nonce is the next nonce of name's account in committed state.
func (f *fixture) nonce(name string) uint64 {
	f.t.Helper()
	a, err := GetAccount(f.store, addr(name))
	if err != nil {
		f.t.Fatal(err)
	}
	return a.Nonce + 1
}

// tx signs a transaction from name with its next committed nonce (plus
// skip, for several transactions of one sender in one block).
func (f *fixture) tx(name string, skip uint64, fill func(*chain.Tx)) *chain.Tx {
	f.t.Helper()
	tx := &chain.Tx{From: key(name).Public(), Nonce: f.nonce(name) + skip}
	fill(tx)
	tx.Sign(f.g.ChainID, key(name))
	return tx
}

func (f *fixture) transfer(from, to string, amount uint64) *chain.Tx {
	return f.tx(from, 0, func(tx *chain.Tx) { tx.Transfer = &chain.Transfer{To: addr(to), Amount: amount} })
}

func (f *fixture) offer(from string, skip, volume, price uint64) *chain.Tx {
	return f.tx(from, skip, func(tx *chain.Tx) { tx.OfferAllowance = &chain.OfferAllowance{Volume: volume, Price: price} })
}

func (f *fixture) accept(from string, skip uint64, offer chain.Hash, volume uint64) *chain.Tx {
	return f.tx(from, skip, func(tx *chain.Tx) { tx.AcceptOffer = &chain.AcceptOffer{Offer: offer, Volume: volume} })
}

func (f *fixture) cancel(from string, skip uint64, offer chain.Hash) *chain.Tx {
	return f.tx(from, skip, func(tx *chain.Tx) { tx.CancelOffer = &chain.CancelOffer{Offer: offer} })
}

// reading is a signed reading of name's meter ("<name>-meter").
func (f *fixture) reading(device string, seq uint64, at chain.Time, volumeL int64, conductivity int64) *chain.Reading {
	rd := &chain.Reading{
		Device: key(device).Public(), Seq: seq, Time: at,
		FlowRate: volumeL * 1000 * 60, Volume: volumeL * 1000, Conductivity: conductivity,
		Turbidity: 120, SuspendedSolids: 300, Absorbance: 40,
	}
	rd.Sign(f.g.ChainID, key(device))
	return rd
}

func (f *fixture) balance(name string) uint64 {
	f.t.Helper()
	a, err := GetAccount(f.store, addr(name))
	if err != nil {
		f.t.Fatal(err)
	}
	return a.Balance
}

func (f *fixture) industry(name string) *IndustryInfo {
	f.t.Helper()
	ind, err := GetIndustry(f.store, addr(name))
	if err != nil {
		f.t.Fatal(err)
	}
	return ind
}

func (f *fixture) txRoot() chain.Hash {
	f.t.Helper()
	r, err := TxRoot(f.store)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// at is genesis + d.
func at(d time.Duration) chain.Time { return genesisTime.Add(d) }

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}
