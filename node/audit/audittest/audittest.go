// Package audittest builds real Waterchain chains into a store for tests
// and benchmarks of the audit tools: a genesis with validators, a
// regulator and industries with meters, and blocks of both lanes whose
// entries are signed by their devices and senders, whose state roots come
// from executing them with package state, and whose commit certificates
// are signed by the validator set in force, exactly as a node commits them.
//
// Keys are derived from names, so two builds of one scenario give the same
// chain. A Chain is used by one goroutine.
package audittest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/chain/verify"
	"github.com/waterchain/waterchain/genesis"
)

// Key derives a fixed ed25519 key from a name.
func Key(name string) *chain.PrivateKey {
	seed := sha256.Sum256([]byte("waterchain-audittest/" + name))
	k, err := chain.NewPrivateKey(seed[:])
	if err != nil {
		panic(err) // a 32-byte seed always makes a key
	}
	return k
}

// Options shape the genesis of a Chain. Zero fields take the defaults.
type Options struct {
	ChainID            string        // "waterchain-audit-test"
	Validators         int           // 4
	Industries         int           // 2
	DevicesPerIndustry int           // 1
	GenesisTime        chain.Time    // 2026-03-01T00:00Z
	ReadingInterval    time.Duration // 1m
	ReadingWindow      time.Duration // 5m
	SettlementPeriod   string        // "10m"
	Allowance          uint64        // litres per period, 1000
	Limits             chain.Limits  // conductivity 20000, turbidity 500
	Reward             chain.RewardRules
}

// DefaultReward are the reward rules of the default genesis: those of the
// worked example in package state's doc.
var DefaultReward = chain.RewardRules{
	Base: 100 * chain.DropUnit, PerLitreSaved: chain.DropUnit, MaxSavedPermille: 500,
	MinCompliancePermille: 900, MinDeliveryPermille: 800, PenaltyPerLitreOver: 2 * chain.DropUnit,
}

func (o *Options) fill() {
	if o.ChainID == "" {
		o.ChainID = "waterchain-audit-test"
	}
	if o.Validators == 0 {
		o.Validators = 4
	}
	if o.Industries == 0 {
		o.Industries = 2
	}
	if o.DevicesPerIndustry == 0 {
		o.DevicesPerIndustry = 1
	}
	if o.GenesisTime == 0 {
		o.GenesisTime = chain.TimeOf(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	}
	if o.ReadingInterval == 0 {
		o.ReadingInterval = time.Minute
	}
	if o.ReadingWindow == 0 {
		o.ReadingWindow = 5 * time.Minute
	}
	if o.SettlementPeriod == "" {
		o.SettlementPeriod = "10m"
	}
	if o.Allowance == 0 {
		o.Allowance = 1000
	}
	if o.Limits == (chain.Limits{}) {
		o.Limits = chain.Limits{Conductivity: 20000, Turbidity: 500}
	}
	if o.Reward == (chain.RewardRules{}) {
		o.Reward = DefaultReward
	}
}

// Genesis makes the genesis of opts: validators "validator-1".., one
// regulator, industries "industry-1".. (industry i runs validator i when
// there is one) with their meters "industry-1-meter-1"...
func Genesis(opts Options) *genesis.Genesis {
	opts.fill()
	g := &genesis.Genesis{
		ChainID: opts.ChainID, GenesisTime: opts.GenesisTime,
		Params: chain.Params{
			IdleInterval: chain.Duration(time.Second), ReadingInterval: chain.Duration(opts.ReadingInterval),
			SettlementPeriod: opts.SettlementPeriod, ReadingWindow: chain.Duration(opts.ReadingWindow),
			TimeoutPropose: chain.Duration(time.Second), TimeoutDelta: chain.Duration(500 * time.Millisecond),
			Reward: opts.Reward,
		},
		Auditors:   []genesis.Node{{Name: "auditor-1", NodeKey: Key("auditor-1").Public()}},
		Regulators: []genesis.Regulator{{Name: "River Authority", Account: Key("regulator").Public()}},
	}
	for i := 1; i <= opts.Validators; i++ {
		name := fmt.Sprintf("validator-%d", i)
		g.Validators = append(g.Validators, genesis.Node{Name: name, NodeKey: Key(name).Public()})
	}
	for i := 1; i <= opts.Industries; i++ {
		name := fmt.Sprintf("industry-%d", i)
		ind := genesis.Industry{
			Name: name, Account: Key(name).Public(), Balance: 1000 * chain.DropUnit,
			Permit: genesis.Permit{Allowance: opts.Allowance, Limits: opts.Limits},
		}
		if i <= opts.Validators {
			ind.Validator = fmt.Sprintf("validator-%d", i)
		}
		for d := 1; d <= opts.DevicesPerIndustry; d++ {
			label := fmt.Sprintf("%s-meter-%d", name, d)
			ind.Devices = append(ind.Devices, genesis.Device{Key: Key(label).Public(), Label: label})
		}
		g.Industries = append(g.Industries, ind)
	}
	return g
}

// Chain builds and commits blocks of both lanes into a store.
type Chain struct {
	Genesis *genesis.Genesis
	Store   *store.Store

	sg      *state.Genesis
	genHash chain.Hash
	mem     *state.MemStore // the committed state, mirrored in memory
	keys    map[chain.PubKey]*chain.PrivateKey
	seq     map[chain.PubKey]uint64
	nonce   map[chain.PubKey]uint64
}

// New writes the genesis state of g into the empty store st and returns a
// builder over it. Every key g names must be one of Key's names (as
// Genesis makes them), or be added with AddKey before it signs.
func New(st *store.Store, g *genesis.Genesis) (*Chain, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	c := &Chain{
		Genesis: g, Store: st, genHash: g.Hash(), mem: state.NewMemStore(),
		keys: map[chain.PubKey]*chain.PrivateKey{}, seq: map[chain.PubKey]uint64{}, nonce: map[chain.PubKey]uint64{},
	}
	sg, err := g.State()
	if err != nil {
		return nil, err
	}
	for _, v := range g.Validators {
		c.AddKey(Key(v.Name))
	}
	c.AddKey(Key("regulator"))
	for _, ind := range g.Industries {
		c.AddKey(Key(ind.Name))
		for _, d := range ind.Devices {
			c.AddKey(Key(d.Label))
		}
	}
	c.sg = sg
	changes, err := state.GenesisChanges(sg)
	if err != nil {
		return nil, err
	}
	c.mem.Apply(changes)
	if err := st.InitGenesis(c.genHash, toStore(changes)); err != nil {
		return nil, err
	}
	return c, nil
}

// AddKey lets the chain sign with k (a device, account or validator key
// that is not derived from a genesis name).
func (c *Chain) AddKey(k *chain.PrivateKey) { c.keys[k.Public()] = k }

// KeyOf returns the private key of pub, which must be known.
func (c *Chain) KeyOf(pub chain.PubKey) *chain.PrivateKey { return c.keys[pub] }

// State is the committed state (read it only).
func (c *Chain) State() state.Reader { return c.mem }

// StateGenesis is the state machine's genesis.
func (c *Chain) StateGenesis() *state.Genesis { return c.sg }

// Device returns the key of meter d (from 1) of industry i (from 1).
func (c *Chain) Device(i, d int) *chain.PrivateKey {
	return Key(fmt.Sprintf("industry-%d-meter-%d", i, d))
}

// Industry returns the account key of industry i (from 1).
func (c *Chain) Industry(i int) *chain.PrivateKey { return Key(fmt.Sprintf("industry-%d", i)) }

// Regulator returns the regulator's account key.
func (c *Chain) Regulator() *chain.PrivateKey { return Key("regulator") }

// NewReading returns dev's next reading (its next sequence number) at
// time at, with typical values that fill may change, unsigned.
func (c *Chain) NewReading(dev chain.PubKey, at chain.Time, fill func(*chain.Reading)) *chain.Reading {
	c.seq[dev]++
	s := c.seq[dev]
	r := &chain.Reading{
		Device: dev, Seq: s, Time: at,
		FlowRate: 3_600_000, Volume: 60_000, VolumeTotal: int64(s) * 60_000,
		Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 300,
	}
	if fill != nil {
		fill(r)
	}
	return r
}

// SkipSeq makes dev's next reading skip n sequence numbers (missing
// readings).
func (c *Chain) SkipSeq(dev chain.PubKey, n uint64) { c.seq[dev] += n }

// Reading returns dev's next reading, signed.
func (c *Chain) Reading(dev chain.PubKey, at chain.Time, fill func(*chain.Reading)) *chain.Reading {
	r := c.NewReading(dev, at, fill)
	r.Sign(c.Genesis.ChainID, c.keys[dev])
	return r
}

// SignReadings signs rs with their devices' keys on every core.
func (c *Chain) SignReadings(rs []*chain.Reading) {
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(rs); i += workers {
				rs[i].Sign(c.Genesis.ChainID, c.keys[rs[i].Device])
			}
		}()
	}
	wg.Wait()
}

// Tx returns from's next transaction with the body set by body, signed.
func (c *Chain) Tx(from *chain.PrivateKey, body func(*chain.Tx)) *chain.Tx {
	c.nonce[from.Public()]++
	tx := &chain.Tx{From: from.Public(), Nonce: c.nonce[from.Public()]}
	body(tx)
	tx.Sign(c.Genesis.ChainID, from)
	return tx
}

// Head returns the committed head of lane (nil before its first block).
func (c *Chain) Head(lane chain.Lane) *chain.Header {
	h, ok := c.Store.Head(lane)
	if !ok {
		return nil
	}
	return &h
}

// Built is a block made by Build, certified but not committed, with the
// state changes of executing it.
type Built struct {
	Block   *chain.Block
	Changes []state.Change
}

// Build makes the next block of lane at time at holding entries (readings
// for data, transactions for tx): anchored at the other lane's head,
// executed over the committed state (settlement reads the store's
// readings), certified by every validator of the set in force. src, when
// not nil, replaces the store as settlement's reading source.
func (c *Chain) Build(lane chain.Lane, at chain.Time, readings []*chain.Reading, txs []*chain.Tx, src state.ReadingSource) (*Built, error) {
	h := chain.Header{ChainID: c.Genesis.ChainID, Lane: lane, Height: 1, Time: at, PrevHash: c.genHash, Anchor: chain.Anchor{Hash: c.genHash}}
	if p := c.Head(lane); p != nil {
		h.Height, h.PrevHash = p.Height+1, p.Hash()
	}
	if o := c.Head(lane.Other()); o != nil {
		h.Anchor = chain.Anchor{Height: o.Height, Hash: o.Hash()}
	}
	vs, err := c.ValidatorSet(lane, h.Height)
	if err != nil {
		return nil, err
	}
	h.ValidatorsHash = vs.Hash()
	h.Proposer = vs.Proposer(h.Height, 0)
	b := &chain.Block{Header: h, Readings: readings, Txs: txs}
	var changes []state.Change
	var root chain.Hash
	if lane == chain.LaneData {
		changes, root, err = state.ExecuteDataBlock(c.mem, &b.Header, readings)
	} else {
		if src == nil {
			src = c.Store
		}
		changes, root, err = state.ExecuteTxBlock(c.mem, src, c.sg, &b.Header, txs)
	}
	if err != nil {
		return nil, err
	}
	b.Header.StateRoot = root
	b.Header.NumEntries = uint32(b.NumEntries())
	b.Header.EntriesRoot = b.ComputeEntriesRoot()
	if b, err = c.Certify(b, vs); err != nil {
		return nil, err
	}
	return &Built{Block: b, Changes: changes}, nil
}

// ValidatorSet is the set that signs block height of lane, by the rule
// every node applies (verify.ValidatorSet) over the committed chain.
func (c *Chain) ValidatorSet(lane chain.Lane, height uint64) (*chain.ValidatorSet, error) {
	return verify.ValidatorSet(committed{c}, lane, height)
}

// committed reads the chain as committed, for package verify.
type committed struct{ c *Chain }

var _ verify.HeaderReader = committed{}

func (r committed) Height(lane chain.Lane) uint64 { return r.c.Store.Height(lane) }

func (r committed) Header(lane chain.Lane, height uint64) (*chain.Header, error) {
	h, err := r.c.Store.Header(lane, height)
	if err != nil {
		return nil, err
	}
	return &h, nil
}

func (r committed) ValidatorSetAt(txHeight uint64) (*chain.ValidatorSet, error) {
	return state.ValidatorSetAt(r.c.mem, txHeight)
}

// Verifier is the verifier of the chain's network.
func (c *Chain) Verifier() *verify.Verifier { return verify.New(c.Genesis.ChainID, c.genHash) }

// Reader reads the chain as committed: the verifier sees it through it.
func (c *Chain) Reader() verify.HeaderReader { return committed{c} }

// Certify returns b with a certificate of precommits by every member of
// vs (whose keys must be known), for b as it is now.
func (c *Chain) Certify(b *chain.Block, vs *chain.ValidatorSet) (*chain.Block, error) {
	var votes []*chain.Vote
	for _, pub := range vs.Keys() {
		k := c.keys[pub]
		if k == nil {
			return nil, fmt.Errorf("no key for validator %s", pub.Short())
		}
		v := &chain.Vote{Type: chain.Precommit, Lane: b.Header.Lane, Height: b.Header.Height, BlockHash: b.Hash(), Validator: pub}
		v.Sign(c.Genesis.ChainID, k)
		votes = append(votes, v)
	}
	cert, err := chain.NewCertificate(vs, votes)
	if err != nil {
		return nil, err
	}
	return b.WithCert(cert), nil
}

// Commit stores a built block with its changes, as a node does.
func (c *Chain) Commit(bt *Built) error {
	if err := c.Store.Commit(bt.Block, toStore(bt.Changes)); err != nil {
		return err
	}
	c.mem.Apply(bt.Changes)
	return nil
}

// DataBlock builds and commits the next data block.
func (c *Chain) DataBlock(at chain.Time, readings ...*chain.Reading) (*chain.Block, error) {
	bt, err := c.Build(chain.LaneData, at, readings, nil, nil)
	if err != nil {
		return nil, err
	}
	return bt.Block, c.Commit(bt)
}

// TxBlock builds and commits the next tx block.
func (c *Chain) TxBlock(at chain.Time, txs ...*chain.Tx) (*chain.Block, error) {
	bt, err := c.Build(chain.LaneTx, at, nil, txs, nil)
	if err != nil {
		return nil, err
	}
	return bt.Block, c.Commit(bt)
}

// ErrScenario is wrapped by Scenario errors.
var ErrScenario = errors.New("building scenario")

// Scenario fills a chain with blocks: every minute from genesis a data
// block carrying one reading of every meter, and a tx block every
// txEvery data blocks (a transfer between industries, and settlement when
// a period has closed), for blocks data blocks.
func (c *Chain) Scenario(blocks, txEvery int) error {
	var devs []chain.PubKey
	for _, ind := range c.Genesis.Industries {
		for _, d := range ind.Devices {
			devs = append(devs, d.Key)
		}
	}
	interval := c.Genesis.Params.ReadingInterval.Std()
	t := c.Genesis.GenesisTime
	if h := c.Head(chain.LaneData); h != nil {
		t = h.Time
	}
	if h := c.Head(chain.LaneTx); h != nil && h.Time > t {
		t = h.Time
	}
	for i := 0; i < blocks; i++ {
		t = t.Add(interval)
		rs := make([]*chain.Reading, len(devs))
		for k, d := range devs {
			rs[k] = c.NewReading(d, t, nil)
		}
		c.SignReadings(rs)
		if _, err := c.DataBlock(t, rs...); err != nil {
			return fmt.Errorf("%w: data block at %s: %v", ErrScenario, t, err)
		}
		if txEvery > 0 && (i+1)%txEvery == 0 && len(c.Genesis.Industries) > 1 {
			from, to := c.Industry(1), c.Industry(2)
			tx := c.Tx(from, func(tx *chain.Tx) {
				tx.Transfer = &chain.Transfer{To: to.Public().Address(), Amount: chain.DropUnit}
			})
			if _, err := c.TxBlock(t.Add(time.Second), tx); err != nil {
				return fmt.Errorf("%w: tx block at %s: %v", ErrScenario, t, err)
			}
			t = t.Add(time.Second)
		}
	}
	return nil
}

func toStore(cs []state.Change) []store.Change {
	out := make([]store.Change, len(cs))
	for i, c := range cs {
		out[i] = store.Change{Key: c.Key, Value: c.Value, Delete: c.Delete}
	}
	return out
}
