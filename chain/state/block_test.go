package state

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

func vote(f *fixture, voter string, skip uint64, validator string, remove bool) *chain.Tx {
	return f.tx(voter, skip, func(tx *chain.Tx) {
		tx.ValidatorChange = &chain.ValidatorChange{Validator: key(validator).Public(), Remove: remove}
	})
}

func setKeys(t *testing.T, r Reader, h uint64) string {
	t.Helper()
	vs, err := ValidatorSetAt(r, h)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range vs.Keys() {
		for _, n := range []string{"v1", "v2", "v3", "v4", "v5"} {
			if key(n).Public() == k {
				names = append(names, n)
			}
		}
	}
	return strings.Join(names, ",")
}

func TestValidatorGovernance(t *testing.T) {
	f := newFixture(t)
	// Two of four votes are not a quorum (3).
	f.mustTxBlock(at(1*time.Second), vote(f, "v1", 0, "v5", false), vote(f, "v2", 0, "v5", false))
	pending, err := PendingValidatorVotes(f.store)
	if err != nil || len(pending) != 1 || len(pending[0].Voters) != 2 {
		t.Fatalf("pending %+v %v", pending, err)
	}
	b := f.builder(at(2 * time.Second))
	wantErr(t, b.Add(vote(f, "v1", 0, "v5", false)), ErrDuplicateVote)
	wantErr(t, b.Add(vote(f, "carol", 0, "v5", false)), ErrNotValidator)
	wantErr(t, b.Add(vote(f, "v1", 0, "v2", false)), ErrBadValidatorChange)
	wantErr(t, b.Add(vote(f, "v1", 0, "v5", true)), ErrBadValidatorChange)

	// The third vote, in block 2, approves: the new set signs from height 4.
	f.mustTxBlock(at(2*time.Second), vote(f, "v3", 0, "v5", false))
	for h, want := range map[uint64]string{0: "v1,v2,v3,v4", 2: "v1,v2,v3,v4", 3: "v1,v2,v3,v4", 4: "v1,v2,v3,v4,v5", 100: "v1,v2,v3,v4,v5"} {
		if got := setKeys(t, f.store, h); got != want {
			t.Errorf("set at %d: %s, want %s", h, got, want)
		}
	}
	if p, _ := PendingValidatorVotes(f.store); len(p) != 0 {
		t.Errorf("approved change still pending")
	}
	// v5 votes only once the set it is in signs (height 4); in block 3 it
	// is not yet a validator.
	b = f.builder(at(3 * time.Second))
	wantErr(t, b.Add(vote(f, "v5", 0, "v1", true)), ErrNotValidator)
	f.mustTxBlock(at(3 * time.Second))
	// Removing v1 with 5 validators needs 4 votes (⌊10/3⌋+1).
	f.mustTxBlock(at(4*time.Second), vote(f, "v5", 0, "v1", true), vote(f, "v2", 0, "v1", true), vote(f, "v3", 0, "v1", true))
	if got := setKeys(t, f.store, 6); got != "v1,v2,v3,v4,v5" {
		t.Errorf("three of five removed v1: %s", got)
	}
	f.mustTxBlock(at(5*time.Second), vote(f, "v4", 0, "v1", true))
	if got := setKeys(t, f.store, 7); got != "v2,v3,v4,v5" {
		t.Errorf("set at 7: %s", got)
	}
	if got := setKeys(t, f.store, 6); got != "v1,v2,v3,v4,v5" {
		t.Errorf("set at 6: %s", got)
	}
	hist, err := ValidatorSetHistory(f.store)
	if err != nil || len(hist) != 3 || hist[2].ApprovedHeight != 5 || hist[2].From != 7 {
		t.Errorf("history %+v %v", hist, err)
	}
}

func TestTxBlockHeaderChecks(t *testing.T) {
	f := newFixture(t)
	f.mustTxBlock(at(time.Minute))
	for name, mutate := range map[string]func(h *chain.Header){
		"height skips":   func(h *chain.Header) { h.Height++ },
		"time goes back": func(h *chain.Header) { h.Time = at(time.Second) },
		"wrong chain":    func(h *chain.Header) { h.ChainID = "other" },
		"data lane":      func(h *chain.Header) { h.Lane = chain.LaneData },
	} {
		h := f.txHeader(at(2 * time.Minute))
		mutate(h)
		if _, _, err := ExecuteTxBlock(f.store, f.src, f.g, h, nil); !errorsIs(err, ErrBadHeader) {
			t.Errorf("%s: %v, want ErrBadHeader", name, err)
		}
	}
	f.dataHeight = 3
	f.mustTxBlock(at(2 * time.Minute))
	f.dataHeight = 2
	_, _, err := ExecuteTxBlock(f.store, f.src, f.g, f.txHeader(at(3*time.Minute)), nil)
	wantErr(t, err, ErrBadHeader)
}

func TestTxBlockWithFailingTxIsInvalid(t *testing.T) {
	f := newFixture(t)
	root := f.txRoot()
	err := f.txBlock(at(time.Second), f.transfer("saver", "carol", drop), f.transfer("carol", "saver", 1000*drop))
	wantErr(t, err, ErrBadBlock)
	wantErr(t, err, ErrInsufficientFunds)
	if !strings.Contains(err.Error(), "txs[1]") {
		t.Errorf("error %q does not name the transaction", err)
	}
	if f.txRoot() != root {
		t.Errorf("an invalid block changed the state")
	}
}

func TestStateRootMismatchStops(t *testing.T) {
	f := newFixture(t)
	tx := f.transfer("saver", "carol", drop)
	b := f.builder(at(time.Second))
	if err := b.Add(tx); err != nil {
		t.Fatal(err)
	}
	_, root, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	block := &chain.Block{Header: *f.txHeader(at(time.Second)), Txs: b.Txs()}
	block.Header.StateRoot = root
	if _, err := VerifyTxBlock(f.store, f.src, f.g, block); err != nil {
		t.Fatalf("VerifyTxBlock of the proposer's own block: %v", err)
	}
	// A proposer whose state differs (it credited carol one more unit).
	block.Header.StateRoot[0] ^= 1
	_, err = VerifyTxBlock(f.store, f.src, f.g, block)
	wantErr(t, err, ErrStateRootMismatch)
	if !strings.Contains(err.Error(), "tx block 1 commits state root") {
		t.Errorf("unclear error %q", err)
	}
}

// TestSettlementJumpsSeveralPeriods: a block after a long silence settles
// every closed period, each with the permit in force in it.
func TestSettlementJumpsSeveralPeriods(t *testing.T) {
	f := newFixture(t)
	f.mustTxBlock(at(time.Second), f.tx("regulator", 0, func(tx *chain.Tx) {
		tx.SetPermit = &chain.SetPermit{Industry: addr("hog"), Allowance: 10, Limits: testLimits}
	}))
	f.mustDataBlock(at(34 * time.Minute)) // past the reading window of periods 0, 1 and 2
	f.mustTxBlock(at(35 * time.Minute))   // closes and settles periods 0, 1 and 2
	for p := int64(0); p < 3; p++ {
		recs, err := Settlements(f.store, p)
		if err != nil || len(recs) != 3 {
			t.Fatalf("period %d: %v %v", p, recs, err)
		}
		for _, s := range recs {
			// No readings at all: nothing minted, and the record says why.
			if s.Reward != 0 || !s.UnderDelivered || !strings.Contains(strings.Join(s.Reasons, ";"), "delivered 0 of 10 expected readings") {
				t.Errorf("period %d %s: %+v", p, s.Name, s)
			}
			if s.Name == "hog" && p > 0 && s.Allowance != 10 {
				t.Errorf("hog's new permit not applied in period %d: %d L", p, s.Allowance)
			}
		}
	}
	if m, _ := GetTxMeta(f.store); m.Period != 3 || m.Unsettled != 0 || m.Height != 2 {
		t.Errorf("meta %+v", m)
	}
}

func TestDeterministicAcrossStores(t *testing.T) {
	run := func() (chain.Hash, chain.Hash) {
		f := newFixture(t)
		f.mustTxBlock(at(time.Second), f.offer("saver", 0, 100, 3), f.transfer("hog", "carol", 5))
		f.mustDataBlock(at(time.Minute), f.reading("saver-meter", 1, at(time.Minute), 50, 100))
		f.mustTxBlock(at(11 * time.Minute))
		d, _ := DataRoot(f.store)
		return f.txRoot(), d
	}
	a1, b1 := run()
	a2, b2 := run()
	if a1 != a2 || b1 != b2 {
		t.Errorf("same blocks, different roots")
	}
}

func TestGenesisValidate(t *testing.T) {
	cases := map[string]func(g *Genesis){
		"no chain id":         func(g *Genesis) { g.ChainID = "" },
		"no time":             func(g *Genesis) { g.GenesisTime = 0 },
		"bad period":          func(g *Genesis) { g.Params.SettlementPeriod = "soon" },
		"no reading interval": func(g *Genesis) { g.Params.ReadingInterval = 0 },
		"no window":           func(g *Genesis) { g.Params.ReadingWindow = 0 },
		"permille above 1000": func(g *Genesis) { g.Params.Reward.MinDeliveryPermille = 1001 },
		"no validators":       func(g *Genesis) { g.Validators = nil },
		"duplicate validator": func(g *Genesis) { g.Validators[1] = g.Validators[0] },
		"duplicate regulator": func(g *Genesis) { g.Regulators = append(g.Regulators, g.Regulators[0]) },
		"industry no name":    func(g *Genesis) { g.Industries[0].Name = "" },
		"industry same name":  func(g *Genesis) { g.Industries[1].Name = g.Industries[0].Name },
		"industry same key":   func(g *Genesis) { g.Industries[1].Account = g.Industries[0].Account },
		"industry regulator":  func(g *Genesis) { g.Industries[0].Account = g.Regulators[0] },
		"negative limit":      func(g *Genesis) { g.Industries[0].Limits.Conductivity = -5 },
		"allowance overflows": func(g *Genesis) { g.Industries[0].Allowance = 1 << 60 },
		"supply overflows":    func(g *Genesis) { g.Industries[0].Balance = 1 << 63; g.Industries[1].Balance = 1 << 63 },
		"device twice":        func(g *Genesis) { g.Industries[1].Devices = g.Industries[0].Devices },
		"account twice":       func(g *Genesis) { g.Accounts = append(g.Accounts, g.Accounts[0]) },
		"account is industry": func(g *Genesis) { g.Accounts[0].Address = g.Industries[0].Account.Address() },
	}
	if err := testGenesis().Validate(); err != nil {
		t.Fatalf("valid genesis: %v", err)
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			g := testGenesis()
			mutate(g)
			_, err := GenesisChanges(g)
			wantErr(t, err, ErrBadGenesis)
		})
	}
	tr, dr, err := GenesisRoots(testGenesis())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	d, _ := DataRoot(f.store)
	if tr != f.txRoot() || dr != d || tr == dr {
		t.Errorf("GenesisRoots disagree with the stored genesis state")
	}
}

func TestQueries(t *testing.T) {
	f := newFixture(t)
	inds, err := Industries(f.store)
	if err != nil || len(inds) != 3 {
		t.Fatalf("industries %v %v", inds, err)
	}
	for _, ind := range inds {
		if ind.Balance != 1000*drop || ind.AllowanceAfterTrades != 1000 || ind.PeriodLabel != "2026-01-01T00:00" {
			t.Errorf("%+v", ind)
		}
	}
	if _, err := GetIndustry(f.store, addr("carol")); !strings.Contains(err.Error(), ErrUnknownIndustry.Error()) {
		t.Errorf("GetIndustry(carol) = %v", err)
	}
	if _, err := GetDevice(f.store, key("nothing").Public()); err == nil {
		t.Errorf("unknown device found")
	}
	if _, ok, _ := LastSettledPeriod(f.store); ok {
		t.Errorf("a period is settled at genesis")
	}
	regs, err := Regulators(f.store)
	if err != nil || len(regs) != 1 || regs[0] != key("regulator").Public() {
		t.Errorf("regulators %v %v", regs, err)
	}
	active, err := DeviceActiveAt(f.store, key("hog-meter").Public(), 0)
	if err != nil || !active {
		t.Errorf("hog meter at genesis: %v %v", active, err)
	}
	if err := CheckTx(f.store, f.g, f.transfer("saver", "carol", 1)); err != nil {
		t.Errorf("CheckTx: %v", err)
	}
	wantErr(t, CheckTx(f.store, f.g, f.transfer("carol", "saver", 51*drop)), ErrInsufficientFunds)
	for in, want := range map[uint64]string{5_000_000: "5 drops", 1_500_000: "1.5 drops", 7: "0.000007 drops", 0: "0 drops"} {
		if got := FormatDrops(in); got != want {
			t.Errorf("FormatDrops(%d) = %q, want %q", in, got, want)
		}
	}
}

var errorsIs = errors.Is
