package genesis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/waterchain/waterchain/chain"
)

// Roles of a node key, as RoleOf reports them.
const (
	RoleValidator = "validator"
	RoleAuditor   = "auditor"
	RoleObserver  = "observer"
)

// MaxFileSize bounds a genesis file. A genesis with the largest allowed
// lists is far below it.
const MaxFileSize = 8 << 20

// Genesis is the content of genesis.json.
//
// The cbor tags fix the canonical encoding that Hash digests; they are
// independent of the JSON field names, so a JSON field can be renamed (with
// a migration note) without changing any network's genesis hash. Lists are
// omitted from the encoding when empty, so an absent list and an empty one
// hash alike.
type Genesis struct {
	ChainID     string       `cbor:"1,keyasint" json:"chain_id"`
	GenesisTime chain.Time   `cbor:"2,keyasint" json:"genesis_time"`
	Params      chain.Params `cbor:"3,keyasint" json:"params"`
	Validators  []Node       `cbor:"4,keyasint,omitempty" json:"validators"`
	Auditors    []Node       `cbor:"5,keyasint,omitempty" json:"auditors"`
	Observers   []Node       `cbor:"6,keyasint,omitempty" json:"observers,omitempty"`
	Regulators  []Regulator  `cbor:"7,keyasint,omitempty" json:"regulators"`
	Industries  []Industry   `cbor:"8,keyasint,omitempty" json:"industries"`
}

// Node is a validator, auditor or observer node, named by its node key
// (also its libp2p identity).
type Node struct {
	Name    string       `cbor:"1,keyasint" json:"name"`
	NodeKey chain.PubKey `cbor:"2,keyasint" json:"node_key"`
}

// Regulator is a regulator's account: it signs permits, device
// certifications and regulator actions.
type Regulator struct {
	Name    string       `cbor:"1,keyasint" json:"name"`
	Account chain.PubKey `cbor:"2,keyasint" json:"account"`
}

// Industry is a founding industry: its account, the validator node it runs
// (if any), its opening balance and its permit for the first period.
type Industry struct {
	Name    string       `cbor:"1,keyasint" json:"name"`
	Account chain.PubKey `cbor:"2,keyasint" json:"account"`
	// Validator is the name of the validator node the industry runs, or "".
	Validator string `cbor:"3,keyasint,omitempty" json:"validator,omitempty"`
	// Balance is the opening balance in smallest drop units (chain.DropUnit
	// per drop).
	Balance uint64 `cbor:"4,keyasint,omitempty" json:"balance"`
	Permit  Permit `cbor:"5,keyasint" json:"permit"`
	// Devices are meters registered to the industry from the start (later
	// ones are registered by register-device transactions).
	Devices []Device `cbor:"6,keyasint,omitempty" json:"devices,omitempty"`
}

// Device is a meter registered in genesis.
type Device struct {
	Key   chain.PubKey `cbor:"1,keyasint" json:"key"`
	Label string       `cbor:"2,keyasint,omitempty" json:"label,omitempty"`
}

// MaxGenesisDevices bounds the meters one industry registers in genesis.
const MaxGenesisDevices = 4096

// Address is the industry's account address.
func (ind *Industry) Address() chain.Address { return ind.Account.Address() }

// Permit is an industry's allowance per settlement period, in litres, and
// its discharge limits, until a set-permit transaction replaces them.
type Permit struct {
	Allowance uint64       `cbor:"1,keyasint" json:"allowance"`
	Limits    chain.Limits `cbor:"2,keyasint" json:"limits"`
}

// Parse decodes and validates a genesis file. Decoding is strict: unknown
// fields, duplicate fields and anything after the top-level object are
// errors wrapping ErrMalformed; a decoded genesis that Validate rejects
// gives its error (wrapping ErrInvalid).
func Parse(data []byte) (*Genesis, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes exceed the limit of %d", ErrMalformed, len(data), MaxFileSize)
	}
	if err := checkDuplicateKeys(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var g Genesis
	if err := dec.Decode(&g); err != nil {
		return nil, describeJSONError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the genesis object at %s", ErrMalformed, position(data, dec.InputOffset()))
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

// Load reads and parses the genesis file at path. Errors name the path.
func Load(path string) (*Genesis, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("genesis file %s does not exist (make one with: waterchain testnet, or get the network's genesis.json from its operators)", path)
		}
		return nil, fmt.Errorf("genesis file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("genesis file %s: %w", path, err)
	}
	g, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("genesis file %s: %w", path, err)
	}
	return g, nil
}

// Marshal returns the genesis as indented JSON, the form written to
// genesis.json. Parse(g.Marshal()) gives a genesis with the same Hash.
func (g *Genesis) Marshal() ([]byte, error) {
	c := *g // write empty lists as [], not null
	if c.Validators == nil {
		c.Validators = []Node{}
	}
	if c.Auditors == nil {
		c.Auditors = []Node{}
	}
	if c.Regulators == nil {
		c.Regulators = []Regulator{}
	}
	if c.Industries == nil {
		c.Industries = []Industry{}
	}
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Save validates g and writes it to path as JSON (mode 0644), refusing to
// replace an existing file.
func (g *Genesis) Save(path string) error {
	if err := g.Validate(); err != nil {
		return err
	}
	b, err := g.Marshal()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("genesis file %s already exists; refusing to replace it", path)
		}
		return fmt.Errorf("genesis file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("genesis file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("genesis file %s: %w", path, err)
	}
	return f.Close()
}

// Hash identifies the genesis: SHA-256 of the canonical CBOR encoding
// (chain.Encode) of the parsed Genesis, field keys as in its cbor tags
// (chain.Params and chain.RewardRules, which have none, encode as maps
// keyed by their JSON names; chain.Duration as nanoseconds, chain.Time as
// Unix milliseconds, keys as 32-byte strings).
// Because it digests the parsed value and not the file, whitespace, JSON
// field order, time written as RFC 3339 or as milliseconds, durations
// written as "60s" or "1m", and an absent versus empty list do not change
// it; every value a node relies on does. It is the PrevHash of height 1 of
// both lanes.
func (g *Genesis) Hash() chain.Hash {
	return chain.HashBytes(chain.MustEncode(g))
}

// Time is the genesis time: no block may be older.
func (g *Genesis) Time() chain.Time { return g.GenesisTime }

// Period is the settlement period numbering of the chain. On a genesis that
// did not pass Validate, an unparsable settlement period gives the calendar
// month.
func (g *Genesis) Period() chain.Period {
	length, _ := g.Params.PeriodLength()
	return chain.Period{Genesis: g.GenesisTime, Length: length}
}

// ValidatorSet is the founding validator set, in genesis order, which is
// the round-robin proposer order. It is nil only for a genesis that did not
// pass Validate.
func (g *Genesis) ValidatorSet() *chain.ValidatorSet {
	keys := make([]chain.PubKey, len(g.Validators))
	for i, v := range g.Validators {
		keys[i] = v.NodeKey
	}
	vs, err := chain.NewValidatorSet(keys)
	if err != nil {
		return nil
	}
	return vs
}

// RoleOf says which node of the genesis a node key belongs to: its role
// (RoleValidator, RoleAuditor or RoleObserver) and name. ok is false for a
// key the genesis does not name.
func (g *Genesis) RoleOf(nodeKey chain.PubKey) (role, name string, ok bool) {
	for _, l := range g.nodeLists() {
		for _, n := range l.nodes {
			if n.NodeKey == nodeKey {
				return l.role, n.Name, true
			}
		}
	}
	return "", "", false
}

// PeerKeys lists every node key allowed to connect: validators, auditors
// and observers, in that order.
func (g *Genesis) PeerKeys() []chain.PubKey {
	keys := make([]chain.PubKey, 0, len(g.Validators)+len(g.Auditors)+len(g.Observers))
	for _, l := range g.nodeLists() {
		for _, n := range l.nodes {
			keys = append(keys, n.NodeKey)
		}
	}
	return keys
}

// Industry returns the founding industry whose account has address addr.
func (g *Genesis) Industry(addr chain.Address) (*Industry, bool) {
	for i := range g.Industries {
		if g.Industries[i].Address() == addr {
			ind := g.Industries[i]
			return &ind, true
		}
	}
	return nil, false
}

// IsRegulator reports whether addr is the account of a genesis regulator.
func (g *Genesis) IsRegulator(addr chain.Address) bool {
	for _, r := range g.Regulators {
		if r.Account.Address() == addr {
			return true
		}
	}
	return false
}

type nodeList struct {
	field string
	role  string
	nodes []Node
}

func (g *Genesis) nodeLists() []nodeList {
	return []nodeList{
		{"validators", RoleValidator, g.Validators},
		{"auditors", RoleAuditor, g.Auditors},
		{"observers", RoleObserver, g.Observers},
	}
}
