package genesis

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
)

// Bounds on the lists and names of a genesis.
const (
	MaxNameLen    = 64
	MaxNodes      = 256 // auditors, and observers, each
	MaxRegulators = 64
	MaxIndustries = 4096
)

// Genesis times must fall in this range: before it is surely a mistake,
// after it RFC 3339 cannot write the year.
var (
	minGenesisTime = chain.TimeOf(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	maxGenesisTime = chain.TimeOf(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
)

const fixNewKey = "(waterchain keys new)"

// Validate checks everything a node relies on. It reports every problem it
// finds, each a *FieldError naming the field; several come as Problems. Checks that depend on a field already found bad are skipped,
// so one mistake gives one error.
func (g *Genesis) Validate() error {
	v := &validator{}
	v.chainID(g.ChainID)
	switch {
	case g.GenesisTime == 0:
		v.add("genesis_time", "missing", `set it to the network's start, RFC 3339 such as "2026-01-01T00:00:00Z"`)
	case g.GenesisTime < minGenesisTime || g.GenesisTime >= maxGenesisTime:
		v.add("genesis_time", fmt.Sprintf("%s is out of range", g.GenesisTime), "want a time between the years 2000 and 9998")
	}
	v.params(&g.Params)
	v.nodes(g)
	v.accounts(g)
	v.rewardsFit(g)
	if len(v.errs) == 0 {
		// The state machine's own rules are the last word: what they
		// refuse, a node could not start from.
		if _, err := g.State(); err != nil {
			v.add("genesis", err.Error(), "report this: Validate should have named the field")
		}
	}
	return v.err()
}

type validator struct {
	errs []error
}

func (v *validator) add(field, reason, fix string) {
	v.errs = append(v.errs, &FieldError{Field: field, Reason: reason, Fix: fix})
}

func (v *validator) err() error {
	switch len(v.errs) {
	case 0:
		return nil
	case 1:
		return v.errs[0]
	}
	return Problems(v.errs)
}

// Problems are several errors of Validate. It prints them on one line,
// numbered, and errors.Is and errors.As see each of them.
type Problems []error

func (p Problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems:", len(p))
	for i, e := range p {
		fmt.Fprintf(&b, " (%d) %v", i+1, e)
	}
	return b.String()
}

// Unwrap gives the problems to errors.Is and errors.As.
func (p Problems) Unwrap() []error { return p }

func (v *validator) chainID(id string) {
	const fix = `use letters, digits, '.', '_' and '-', starting with a letter or digit, such as "waterchain-1"`
	switch {
	case id == "":
		v.add("chain_id", "missing", fix)
		return
	case len(id) > chain.MaxChainIDLen:
		v.add("chain_id", fmt.Sprintf("%d bytes, longer than %d", len(id), chain.MaxChainIDLen), "shorten it")
		return
	}
	for i, r := range id {
		alnum := r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))
		if !alnum && (i == 0 || (r != '.' && r != '_' && r != '-')) {
			v.add("chain_id", fmt.Sprintf("%q has %q at byte %d", id, r, i), fix)
			return
		}
	}
}

func (v *validator) params(p *chain.Params) {
	d := func(field string, got chain.Duration, lo, hi time.Duration) bool {
		if got.Std() < lo || got.Std() > hi {
			v.add("params."+field, fmt.Sprintf("%s is out of range", got.Std()), fmt.Sprintf("want a duration from %s to %s", lo, hi))
			return false
		}
		return true
	}
	d("idle_interval", p.IdleInterval, MinIdleInterval, MaxIdleInterval)
	riOK := d("reading_interval", p.ReadingInterval, MinReadingInterval, MaxReadingInterval)
	tpOK := d("timeout_propose", p.TimeoutPropose, MinTimeoutPropose, MaxTimeout)
	// A reading waits for no idle interval: the data lane proposes as soon
	// as readings wait. It waits for the round that includes it, though,
	// and a round whose proposer is down lasts timeout_propose: a shorter
	// window would refuse the readings accepted during it.
	if d("reading_window", p.ReadingWindow, time.Second, MaxReadingWindow) && tpOK && p.ReadingWindow < p.TimeoutPropose {
		v.add("params.reading_window", fmt.Sprintf("%s is shorter than the propose timeout %s", p.ReadingWindow.Std(), p.TimeoutPropose.Std()),
			"make it at least timeout_propose, or readings that wait out a round whose proposer is down are refused")
	}
	d("timeout_delta", p.TimeoutDelta, MinTimeoutDelta, MaxTimeout)

	// A period may be shorter than the idle interval: its boundary makes
	// the blocks that close and settle it (see chain.Params.IdleInterval).
	length, err := p.PeriodLength()
	switch {
	case err != nil:
		v.add("params.settlement_period", fmt.Sprintf("%q is not a period", p.SettlementPeriod), `want "month" or a duration of at least 1m such as "10m"`)
	case length != 0 && riOK && length < p.ReadingInterval:
		v.add("params.settlement_period", fmt.Sprintf("%s is shorter than the reading interval %s", length.Std(), p.ReadingInterval.Std()),
			"make the period at least one reading interval, or no period can expect a reading")
	}

	permille := func(field string, got uint32) {
		if got > 1000 {
			v.add("params.reward."+field, fmt.Sprintf("%d is more than 1000", got), "a permille share is at most 1000 (100%)")
		}
	}
	permille("max_saved_permille", p.Reward.MaxSavedPermille)
	permille("min_compliance_permille", p.Reward.MinCompliancePermille)
	permille("min_delivery_permille", p.Reward.MinDeliveryPermille)
}

// name checks a name of a node, regulator or industry.
func (v *validator) name(field, name string) bool {
	switch {
	case name == "":
		v.add(field, "missing", "give it a name people will recognise in logs and reports")
		return false
	case len(name) > MaxNameLen:
		v.add(field, fmt.Sprintf("%d bytes, longer than %d", len(name), MaxNameLen), "shorten it")
		return false
	case !utf8.ValidString(name):
		v.add(field, "not valid UTF-8", "write it in UTF-8")
		return false
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			v.add(field, fmt.Sprintf("%q has the unprintable character %U", name, r), "use letters, digits, spaces and punctuation")
			return false
		}
	}
	if name[0] == ' ' || name[len(name)-1] == ' ' {
		v.add(field, fmt.Sprintf("%q starts or ends with a space", name), "remove the space")
		return false
	}
	return true
}

// keyUse records where a key was first seen, across all roles.
type keyUse struct {
	field string // such as "validators[0]"
	list  string // such as "validators"
}

func (v *validator) key(seen map[chain.PubKey]keyUse, list string, i int, sub string, k chain.PubKey) {
	field := fmt.Sprintf("%s[%d].%s", list, i, sub)
	if k.IsZero() {
		v.add(field, "missing (all zeros)", "make a key "+fixNewKey)
		return
	}
	if err := k.Check(); err != nil {
		v.add(field, err.Error(), "")
		return
	}
	if first, dup := seen[k]; dup {
		fix := "every node and account needs its own key " + fixNewKey
		if first.list == list {
			fix = fmt.Sprintf("every %s needs its own key %s", singular(list), fixNewKey)
		}
		v.add(field, "same key as "+first.field, fix)
		return
	}
	seen[k] = keyUse{field: fmt.Sprintf("%s[%d]", list, i), list: list}
}

func singular(list string) string {
	switch list {
	case "validators":
		return "validator"
	case "auditors":
		return "auditor"
	case "observers":
		return "observer"
	case "regulators":
		return "regulator"
	case "industries":
		return "industry"
	}
	return list
}

func (v *validator) nodes(g *Genesis) {
	switch {
	case len(g.Validators) == 0:
		v.add("validators", "empty", "a network needs at least one validator node key "+fixNewKey)
	case len(g.Validators) > chain.MaxValidators:
		v.add("validators", fmt.Sprintf("%d validators, more than %d", len(g.Validators), chain.MaxValidators), "remove some")
	}
	for _, l := range []struct {
		field string
		n     int
	}{{"auditors", len(g.Auditors)}, {"observers", len(g.Observers)}} {
		if l.n > MaxNodes {
			v.add(l.field, fmt.Sprintf("%d entries, more than %d", l.n, MaxNodes), "remove some")
		}
	}
}

// accounts checks names and keys of every list: keys are unique across all
// roles (a node key reused as an account key would let one leaked key do
// both jobs), node names unique across node roles (RoleOf returns them),
// regulator and industry names unique in their lists.
func (v *validator) accounts(g *Genesis) {
	seen := make(map[chain.PubKey]keyUse)
	nodeNames := make(map[string]string)
	for _, l := range g.nodeLists() {
		for i, n := range l.nodes {
			field := fmt.Sprintf("%s[%d]", l.field, i)
			if v.name(field+".name", n.Name) {
				if first, dup := nodeNames[n.Name]; dup {
					v.add(field+".name", fmt.Sprintf("%q is already the name of %s", n.Name, first), "node names must be unique")
				} else {
					nodeNames[n.Name] = field
				}
			}
			v.key(seen, l.field, i, "node_key", n.NodeKey)
		}
	}

	if len(g.Regulators) > MaxRegulators {
		v.add("regulators", fmt.Sprintf("%d entries, more than %d", len(g.Regulators), MaxRegulators), "remove some")
	}
	regNames := make(map[string]int)
	for i, r := range g.Regulators {
		field := fmt.Sprintf("regulators[%d]", i)
		if v.name(field+".name", r.Name) {
			if j, dup := regNames[r.Name]; dup {
				v.add(field+".name", fmt.Sprintf("%q is already the name of regulators[%d]", r.Name, j), "regulator names must be unique")
			} else {
				regNames[r.Name] = i
			}
		}
		v.key(seen, "regulators", i, "account", r.Account)
	}

	if len(g.Industries) > MaxIndustries {
		v.add("industries", fmt.Sprintf("%d entries, more than %d", len(g.Industries), MaxIndustries), "remove some")
	}
	validators := make(map[string]bool, len(g.Validators))
	for _, n := range g.Validators {
		validators[n.Name] = true
	}
	indNames := make(map[string]int)
	runBy := make(map[string]int) // validator name → industry index
	var total uint64
	totalOK := true
	for i, ind := range g.Industries {
		field := fmt.Sprintf("industries[%d]", i)
		if v.name(field+".name", ind.Name) {
			if j, dup := indNames[ind.Name]; dup {
				v.add(field+".name", fmt.Sprintf("%q is already the name of industries[%d]", ind.Name, j), "industry names must be unique")
			} else {
				indNames[ind.Name] = i
			}
		}
		v.key(seen, "industries", i, "account", ind.Account)
		if ind.Validator != "" {
			switch j, taken := runBy[ind.Validator]; {
			case !validators[ind.Validator]:
				v.add(field+".validator", fmt.Sprintf("%q is not the name of a validator", ind.Validator), "name one of validators[].name, or leave it out")
			case taken:
				v.add(field+".validator", fmt.Sprintf("validator %q already runs industries[%d]", ind.Validator, j), "each validator node is run by one industry")
			default:
				runBy[ind.Validator] = i
			}
		}
		if len(ind.Devices) > MaxGenesisDevices {
			v.add(field+".devices", fmt.Sprintf("%d devices, more than %d", len(ind.Devices), MaxGenesisDevices), "register the rest with register-device transactions")
		}
		for d, dev := range ind.Devices {
			v.key(seen, field+".devices", d, "key", dev.Key)
			if len(dev.Label) > chain.MaxLabelLen {
				v.add(fmt.Sprintf("%s.devices[%d].label", field, d), fmt.Sprintf("longer than %d bytes", chain.MaxLabelLen), "shorten it")
			}
		}
		if totalOK {
			var carry uint64
			total, carry = bits.Add64(total, ind.Balance, 0)
			if carry != 0 {
				v.add(field+".balance", "the balances up to this one add up to more than 2^64-1 smallest units", "lower the balances")
				totalOK = false
			}
		}
		if err := ind.Permit.Limits.Validate(); err != nil {
			var fe *chain.FieldError
			if errors.As(err, &fe) {
				v.add(field+".permit."+fe.Field, fe.Reason, "a limit is 0 (not limited) or a positive value on the chain's scale")
			} else {
				v.add(field+".permit.limits", err.Error(), "")
			}
		}
	}
}

// rewardsFit checks that the largest reward settlement can mint for one
// period does not overflow, for each industry and for all of them together
// with the opening balances, so the state machine's arithmetic on them is
// exact.
func (v *validator) rewardsFit(g *Genesis) {
	r := g.Params.Reward
	if r.MaxSavedPermille > 1000 {
		return // reported by params
	}
	var total uint64
	for _, ind := range g.Industries {
		var c uint64
		total, c = bits.Add64(total, ind.Balance, 0)
		if c != 0 {
			return // reported by accounts
		}
	}
	for i, ind := range g.Industries {
		saved := ind.Permit.Allowance / 1000 * uint64(r.MaxSavedPermille)
		saved += ind.Permit.Allowance % 1000 * uint64(r.MaxSavedPermille) / 1000
		hi, pay := bits.Mul64(saved, r.PerLitreSaved)
		most, c := bits.Add64(pay, r.Base, 0)
		if hi != 0 || c != 0 {
			v.add(fmt.Sprintf("industries[%d].permit.allowance", i),
				fmt.Sprintf("%d litres would earn more than 2^64-1 smallest units in one period at %d per litre saved", ind.Permit.Allowance, r.PerLitreSaved),
				"lower the allowance or params.reward.per_litre_saved")
			return
		}
		// Settlement's arithmetic on the allowance (in mL, and the saving
		// bonus at the full allowance), by the state machine's bound.
		if err := state.CheckPermitAmounts(&r, ind.Permit.Allowance); err != nil {
			v.add(fmt.Sprintf("industries[%d].permit.allowance", i), err.Error(),
				"lower the allowance or params.reward.per_litre_saved")
			return
		}
		total, c = bits.Add64(total, most, 0)
		if c != 0 {
			v.add(fmt.Sprintf("industries[%d].permit.allowance", i),
				"the opening balances plus one period's largest rewards add up to more than 2^64-1 smallest units",
				"lower the balances, allowances or params.reward")
			return
		}
	}
}
