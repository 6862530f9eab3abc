package genesis

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// testKey derives a fixed key from a label, so tests are reproducible.
func testKey(t testing.TB, label string) chain.PubKey {
	t.Helper()
	seed := sha256.Sum256([]byte("genesis test " + label))
	k, err := chain.NewPrivateKey(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// validGenesis is a small, valid genesis that tests copy and break.
func validGenesis(t testing.TB) *Genesis {
	t.Helper()
	return &Genesis{
		ChainID:     "waterchain-test",
		GenesisTime: chain.TimeOf(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		Params:      DevnetParams(),
		Validators: []Node{
			{Name: "validator-1", NodeKey: testKey(t, "v1")},
			{Name: "validator-2", NodeKey: testKey(t, "v2")},
			{Name: "validator-3", NodeKey: testKey(t, "v3")},
		},
		Auditors:   []Node{{Name: "auditor-1", NodeKey: testKey(t, "a1")}},
		Observers:  []Node{{Name: "observer-1", NodeKey: testKey(t, "o1")}},
		Regulators: []Regulator{{Name: "River Basin Authority", Account: testKey(t, "r1")}},
		Industries: []Industry{
			{
				Name: "Riverside Textiles", Account: testKey(t, "i1"), Validator: "validator-1",
				Balance: 1000 * chain.DropUnit,
				Permit:  Permit{Allowance: 2000, Limits: chain.Limits{Conductivity: 30000, Turbidity: 5000}},
			},
			{
				Name: "Northgate Brewery", Account: testKey(t, "i2"), Validator: "validator-2",
				Balance: 1000 * chain.DropUnit,
				Permit:  Permit{Allowance: 3000},
			},
		},
	}
}

// clone deep-copies g through its JSON form.
func clone(t testing.TB, g *Genesis) *Genesis {
	t.Helper()
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var c Genesis
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func mustMarshal(t testing.TB, g *Genesis) []byte {
	t.Helper()
	b, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidGenesisRoundTrips(t *testing.T) {
	g := validGenesis(t)
	if err := g.Validate(); err != nil {
		t.Fatalf("valid genesis rejected: %v", err)
	}
	data := mustMarshal(t, g)
	p, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(Marshal(g)): %v\n%s", err, data)
	}
	if p.Hash() != g.Hash() {
		t.Fatalf("hash changed over a JSON round trip: %s vs %s", p.Hash(), g.Hash())
	}
	if !bytes.Equal(mustMarshal(t, p), data) {
		t.Fatalf("Marshal(Parse(data)) differs from data")
	}
}

func TestDefaultAndDevnetParamsAreValid(t *testing.T) {
	for name, p := range map[string]chain.Params{"default": DefaultParams(), "devnet": DevnetParams()} {
		g := validGenesis(t)
		g.Params = p
		if err := g.Validate(); err != nil {
			t.Errorf("%s params rejected: %v", name, err)
		}
	}
	if l, _ := (&chain.Params{SettlementPeriod: DefaultParams().SettlementPeriod}).PeriodLength(); l != 0 {
		t.Errorf("default settlement period is not the calendar month")
	}
}

// TestHashIgnoresFormatting checks that Hash digests the parsed value: the
// same genesis written differently has the same hash, and a change of any
// value changes it.
func TestHashIgnoresFormatting(t *testing.T) {
	g := validGenesis(t)
	want := g.Hash()

	var generic map[string]any
	if err := json.Unmarshal(mustMarshal(t, g), &generic); err != nil {
		t.Fatal(err)
	}
	// Compact, keys in another order (encoding/json sorts map keys, which
	// differs from the struct order), time as Unix milliseconds, durations
	// in another spelling.
	generic["genesis_time"] = int64(g.GenesisTime)
	params := generic["params"].(map[string]any)
	params["idle_interval"] = "3000ms"
	params["reading_window"] = "0.5m"
	compact, err := json.Marshal(generic)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(compact)
	if err != nil {
		t.Fatalf("Parse(compact): %v", err)
	}
	if p.Hash() != want {
		t.Errorf("hash depends on formatting: %s vs %s", p.Hash(), want)
	}

	// Absent and empty optional lists hash alike.
	noObs := clone(t, g)
	noObs.Observers = nil
	emptyObs := clone(t, g)
	emptyObs.Observers = []Node{}
	if noObs.Hash() != emptyObs.Hash() {
		t.Errorf("absent and empty observers hash differently")
	}

	changes := map[string]func(g *Genesis){
		"chain_id":      func(g *Genesis) { g.ChainID = "waterchain-other" },
		"genesis_time":  func(g *Genesis) { g.GenesisTime++ },
		"idle_interval": func(g *Genesis) { g.Params.IdleInterval++ },
		"reward.base":   func(g *Genesis) { g.Params.Reward.Base++ },
		"validator order": func(g *Genesis) {
			g.Validators[0], g.Validators[1] = g.Validators[1], g.Validators[0]
		},
		"validator name":   func(g *Genesis) { g.Validators[0].Name = "validator-9" },
		"auditor key":      func(g *Genesis) { g.Auditors[0].NodeKey = testKey(t, "other") },
		"regulator name":   func(g *Genesis) { g.Regulators[0].Name = "Someone Else" },
		"industry balance": func(g *Genesis) { g.Industries[1].Balance++ },
		"industry runs":    func(g *Genesis) { g.Industries[1].Validator = "" },
		"allowance":        func(g *Genesis) { g.Industries[0].Permit.Allowance++ },
		"limit":            func(g *Genesis) { g.Industries[0].Permit.Limits.Absorbance = 1 },
	}
	for name, change := range changes {
		c := clone(t, g)
		change(c)
		if c.Hash() == want {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
}

// TestGoldenHash pins the hash of testdata/genesis.json. If it changes,
// every existing network's genesis hash changes with it: only change the
// encoding on purpose, with a migration note. (Changed when
// params.heartbeat became params.idle_interval: a genesis made before is
// refused with a message naming the new field; write a new one.)
func TestGoldenHash(t *testing.T) {
	g, err := Load(filepath.Join("testdata", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	const want = "3f19f1576f2559726ab1d5f7c0b47ccf49d58fb46494b1e26cdf37a0d87fa4d1"
	if got := g.Hash().String(); got != want {
		t.Fatalf("genesis hash of testdata/genesis.json = %s, want %s", got, want)
	}
}

func TestParseIsStrict(t *testing.T) {
	valid := string(mustMarshal(t, validGenesis(t)))
	tests := []struct {
		name string
		data string
		want string // in the error
	}{
		{"empty", "", "empty file"},
		{"not an object", "[]", "want genesis.Genesis"},
		{"unknown field", strings.Replace(valid, `"chain_id"`, `"chainid": 1, "chain_id"`, 1), `unknown field "chainid" at chainid (line 2`},
		{"unknown nested field", strings.Replace(valid, `"idle_interval"`, `"idle_intervall": "1s", "idle_interval"`, 1), `unknown field "idle_intervall" at params.idle_intervall (line 5`},
		{"heartbeat of an old genesis", strings.Replace(valid, `"idle_interval": "3s"`, `"heartbeat": "1s"`, 1), `replaced by params.idle_interval`},
		{"duplicate field", strings.Replace(valid, `"chain_id"`, `"chain_id": "x", "chain_id"`, 1), `field "chain_id" appears twice in the top level`},
		{"duplicate field other case", strings.Replace(valid, `"chain_id"`, `"Chain_ID": "x", "chain_id"`, 1), `field "chain_id" appears twice`},
		{"duplicate nested field", strings.Replace(valid, `"node_key"`, `"name": "x", "node_key"`, 1), `field "name" appears twice in validators[0]`},
		{"trailing data", valid + "{}", "data after the genesis object at line"},
		{"syntax error", strings.Replace(valid, `"chain_id":`, `"chain_id"`, 1), "line 2, column"},
		{"wrong type", strings.Replace(valid, `"balance": 1000000000`, `"balance": "lots"`, 1), "industries.balance"},
		{"bad key hex", strings.Replace(valid, `"node_key": "`, `"node_key": "zz`, 1), "public key"},
		{"bad duration", strings.Replace(valid, `"idle_interval": "3s"`, `"idle_interval": "often"`, 1), `duration "often"`},
		{"bad time", strings.Replace(valid, `"genesis_time": "2026-01-01T00:00:00.000Z"`, `"genesis_time": "yesterday"`, 1), `want RFC 3339`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.data == valid {
				t.Fatal("test did not change the document")
			}
			_, err := Parse([]byte(tt.data))
			if err == nil {
				t.Fatalf("accepted")
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error does not wrap ErrMalformed: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseRejectsOversizeFile(t *testing.T) {
	_, err := Parse(make([]byte, MaxFileSize+1))
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
}

// TestValidateNamesTheBadField starts from a valid genesis and breaks one
// field at a time.
func TestValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(g *Genesis)
		field  string // the error must start with it
		also   string // and contain this
	}{
		{"chain id missing", func(g *Genesis) { g.ChainID = "" }, "chain_id", "missing"},
		{"chain id too long", func(g *Genesis) { g.ChainID = strings.Repeat("a", chain.MaxChainIDLen+1) }, "chain_id", "longer than 64"},
		{"chain id charset", func(g *Genesis) { g.ChainID = "water chain" }, "chain_id", `' '`},
		{"chain id starts with dash", func(g *Genesis) { g.ChainID = "-water" }, "chain_id", "starting with a letter or digit"},
		{"chain id non-ascii", func(g *Genesis) { g.ChainID = "wäter" }, "chain_id", "'ä'"},
		{"time missing", func(g *Genesis) { g.GenesisTime = 0 }, "genesis_time", "missing"},
		{"time too early", func(g *Genesis) { g.GenesisTime = 1 }, "genesis_time", "out of range"},
		{"idle interval zero", func(g *Genesis) { g.Params.IdleInterval = 0 }, "params.idle_interval", "out of range"},
		{"idle interval negative", func(g *Genesis) { g.Params.IdleInterval = -1 }, "params.idle_interval", "out of range"},
		{"idle interval over a day", func(g *Genesis) { g.Params.IdleInterval = chain.Duration(25 * time.Hour) }, "params.idle_interval", "out of range"},
		{"reading interval zero", func(g *Genesis) { g.Params.ReadingInterval = 0 }, "params.reading_interval", "out of range"},
		{"reading window zero", func(g *Genesis) { g.Params.ReadingWindow = 0 }, "params.reading_window", "out of range"},
		{"reading window below the propose timeout", func(g *Genesis) {
			g.Params.ReadingWindow = chain.Duration(time.Second)
			g.Params.TimeoutPropose = chain.Duration(2 * time.Second)
		}, "params.reading_window", "shorter than the propose timeout"},
		{"timeout propose zero", func(g *Genesis) { g.Params.TimeoutPropose = 0 }, "params.timeout_propose", "out of range"},
		{"timeout propose huge", func(g *Genesis) { g.Params.TimeoutPropose = chain.Duration(time.Hour) }, "params.timeout_propose", "out of range"},
		{"timeout delta zero", func(g *Genesis) { g.Params.TimeoutDelta = 0 }, "params.timeout_delta", "out of range"},
		{"settlement period garbage", func(g *Genesis) { g.Params.SettlementPeriod = "monthly" }, "params.settlement_period", `"monthly"`},
		{"settlement period too short", func(g *Genesis) { g.Params.SettlementPeriod = "30s" }, "params.settlement_period", "at least 1m"},
		{"settlement period below reading interval", func(g *Genesis) {
			g.Params.SettlementPeriod = "1m"
			g.Params.ReadingInterval = chain.Duration(time.Hour)
		}, "params.settlement_period", "shorter than the reading interval"},
		{"permille over 1000", func(g *Genesis) { g.Params.Reward.MinDeliveryPermille = 1001 }, "params.reward.min_delivery_permille", "more than 1000"},
		{"saved permille over 1000", func(g *Genesis) { g.Params.Reward.MaxSavedPermille = 2000 }, "params.reward.max_saved_permille", "more than 1000"},
		{"no validators", func(g *Genesis) { g.Validators = nil; g.Industries[0].Validator = ""; g.Industries[1].Validator = "" }, "validators", "empty"},
		{"validator key zero", func(g *Genesis) { g.Validators[1].NodeKey = chain.PubKey{} }, "validators[1].node_key", "missing"},
		{"validator key twice", func(g *Genesis) { g.Validators[2].NodeKey = g.Validators[0].NodeKey }, "validators[2].node_key",
			"same key as validators[0]; every validator needs its own key (waterchain keys new)"},
		{"auditor key is a validator's", func(g *Genesis) { g.Auditors[0].NodeKey = g.Validators[1].NodeKey }, "auditors[0].node_key", "same key as validators[1]; every node and account"},
		{"observer key is an auditor's", func(g *Genesis) { g.Observers[0].NodeKey = g.Auditors[0].NodeKey }, "observers[0].node_key", "same key as auditors[0]"},
		{"regulator key is a node key", func(g *Genesis) { g.Regulators[0].Account = g.Validators[0].NodeKey }, "regulators[0].account", "same key as validators[0]"},
		{"industry account twice", func(g *Genesis) { g.Industries[1].Account = g.Industries[0].Account }, "industries[1].account", "same key as industries[0]; every industry needs its own key"},
		{"industry account zero", func(g *Genesis) { g.Industries[0].Account = chain.PubKey{} }, "industries[0].account", "missing"},
		{"validator name missing", func(g *Genesis) { g.Validators[0].Name = ""; g.Industries[0].Validator = "" }, "validators[0].name", "missing"},
		{"node names clash", func(g *Genesis) { g.Auditors[0].Name = "validator-2" }, "auditors[0].name", "already the name of validators[1]"},
		{"name too long", func(g *Genesis) { g.Observers[0].Name = strings.Repeat("x", MaxNameLen+1) }, "observers[0].name", "longer than"},
		{"name with newline", func(g *Genesis) { g.Regulators[0].Name = "River\nBasin" }, "regulators[0].name", "unprintable"},
		{"name with spaces around", func(g *Genesis) { g.Industries[0].Name = " Riverside" }, "industries[0].name", "space"},
		{"name not utf-8", func(g *Genesis) { g.Industries[0].Name = "\xff" }, "industries[0].name", "UTF-8"},
		{"regulator names clash", func(g *Genesis) {
			g.Regulators = append(g.Regulators, Regulator{Name: g.Regulators[0].Name, Account: testKey(t, "r2")})
		}, "regulators[1].name", "already the name of regulators[0]"},
		{"industry names clash", func(g *Genesis) { g.Industries[1].Name = g.Industries[0].Name }, "industries[1].name", "already the name of industries[0]"},
		{"industry runs unknown validator", func(g *Genesis) { g.Industries[0].Validator = "validator-9" }, "industries[0].validator", "not the name of a validator"},
		{"industry runs an auditor", func(g *Genesis) { g.Industries[0].Validator = "auditor-1" }, "industries[0].validator", "not the name of a validator"},
		{"two industries run one validator", func(g *Genesis) { g.Industries[1].Validator = "validator-1" }, "industries[1].validator", "already runs industries[0]"},
		{"negative limit", func(g *Genesis) { g.Industries[0].Permit.Limits.SuspendedSolids = -5 }, "industries[0].permit.limits.suspended_solids", "negative"},
		{"balances overflow", func(g *Genesis) { g.Industries[1].Balance = ^uint64(0) }, "industries[1].balance", "2^64-1"},
		{"reward overflows", func(g *Genesis) {
			g.Industries[0].Permit.Allowance = ^uint64(0)
			g.Params.Reward.MaxSavedPermille = 1000
		}, "industries[0].permit.allowance", "2^64-1"},
		{"allowance in mL overflows with no saving reward", func(g *Genesis) {
			// Passes the reward bound (nothing saved is paid), but
			// settlement counts the allowance in mL: the state machine's
			// bound refuses it, and so must Validate.
			g.Industries[0].Permit.Allowance = ^uint64(0)/1000 + 1
			g.Params.Reward.MaxSavedPermille = 0
		}, "industries[0].permit.allowance", "overflows"},
		{"rewards overflow with balances", func(g *Genesis) {
			g.Industries[0].Balance = ^uint64(0) - chain.DropUnit
			g.Industries[1].Balance = 0
		}, "industries[0].permit.allowance", "opening balances plus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := clone(t, validGenesis(t))
			before := g.Hash()
			tt.break_(g)
			if g.Hash() == before {
				t.Fatal("test did not change the genesis")
			}
			err := g.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("error %q does not name the field %s", err, tt.field)
			}
			if !strings.HasPrefix(err.Error(), tt.field+": ") || !strings.Contains(err.Error(), tt.also) {
				t.Errorf("error %q: want %q and %q", err, tt.field+": ", tt.also)
			}
			if _, several := err.(Problems); several {
				t.Errorf("one broken field gave several errors: %v", err)
			}
			// Parse must refuse it too, where JSON can carry the broken
			// value (it cannot carry invalid UTF-8).
			if b, merr := json.Marshal(g); merr == nil && clone(t, g).Hash() == g.Hash() {
				if _, perr := Parse(b); perr == nil {
					t.Errorf("Parse accepted what Validate rejects")
				}
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	g := validGenesis(t)
	g.ChainID = ""
	g.Params.IdleInterval = 0
	g.Industries[1].Account = g.Industries[0].Account
	err := g.Validate()
	if p, ok := err.(Problems); !ok || len(p) != 3 || !strings.HasPrefix(err.Error(), "3 problems: (1) chain_id: ") {
		t.Errorf("got %v, want 3 numbered problems", err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("Problems is not ErrInvalid")
	}
	for _, field := range []string{"chain_id:", "params.idle_interval:", "industries[1].account:"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("error %v does not name %s", err, field)
		}
	}
}

func TestAccessors(t *testing.T) {
	g := validGenesis(t)
	vs := g.ValidatorSet()
	if vs == nil || vs.Size() != 3 {
		t.Fatalf("ValidatorSet = %v", vs)
	}
	for i, v := range g.Validators {
		if vs.Key(i) != v.NodeKey {
			t.Errorf("validator set order differs from genesis at %d", i)
		}
	}
	if vs.Proposer(0, 0) != g.Validators[0].NodeKey || vs.Proposer(1, 0) != g.Validators[1].NodeKey {
		t.Errorf("proposer order is not genesis order")
	}

	for _, tt := range []struct {
		key        chain.PubKey
		role, name string
		ok         bool
	}{
		{g.Validators[2].NodeKey, RoleValidator, "validator-3", true},
		{g.Auditors[0].NodeKey, RoleAuditor, "auditor-1", true},
		{g.Observers[0].NodeKey, RoleObserver, "observer-1", true},
		{g.Regulators[0].Account, "", "", false}, // an account is not a node
		{testKey(t, "stranger"), "", "", false},
	} {
		role, name, ok := g.RoleOf(tt.key)
		if role != tt.role || name != tt.name || ok != tt.ok {
			t.Errorf("RoleOf(%s) = %q %q %v, want %q %q %v", tt.key.Short(), role, name, ok, tt.role, tt.name, tt.ok)
		}
	}

	peers := g.PeerKeys()
	if len(peers) != 5 {
		t.Fatalf("PeerKeys has %d keys, want 5", len(peers))
	}
	for _, k := range peers {
		if _, _, ok := g.RoleOf(k); !ok {
			t.Errorf("peer key %s has no role", k.Short())
		}
	}

	ind, ok := g.Industry(g.Industries[1].Account.Address())
	if !ok || ind.Name != "Northgate Brewery" {
		t.Errorf("Industry(address of industries[1]) = %v, %v", ind, ok)
	}
	ind.Name = "changed"
	if g.Industries[1].Name != "Northgate Brewery" {
		t.Errorf("Industry returned a pointer into the genesis")
	}
	if _, ok := g.Industry(g.Regulators[0].Account.Address()); ok {
		t.Errorf("a regulator's address found as an industry")
	}
	if !g.IsRegulator(g.Regulators[0].Account.Address()) || g.IsRegulator(g.Industries[0].Account.Address()) {
		t.Errorf("IsRegulator wrong")
	}

	if g.Time() != g.GenesisTime {
		t.Errorf("Time() = %v", g.Time())
	}
	p := g.Period()
	if p.Length.Std() != 5*time.Minute || p.Genesis != g.GenesisTime {
		t.Errorf("Period() = %+v", p)
	}
	if got := p.Index(g.GenesisTime.Add(11 * time.Minute)); got != 2 {
		t.Errorf("period of genesis+11m = %d, want 2", got)
	}
	g.Params = DefaultParams()
	if g.Period().Length != 0 {
		t.Errorf("production period is not the calendar month")
	}
}

func TestLoadAndSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "genesis.json")
	g := validGenesis(t)
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := g.Save(path); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second Save: %v, want a refusal", err)
	}
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if l.Hash() != g.Hash() {
		t.Errorf("loaded genesis hash differs")
	}

	if _, err := Load(filepath.Join(dir, "nope.json")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Load(missing) = %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	broken := clone(t, g)
	broken.Validators[1].NodeKey = broken.Validators[0].NodeKey
	b, _ := json.Marshal(broken)
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "validators[1].node_key") {
		t.Errorf("Load(bad) = %v; want the path and the field", err)
	}

	invalid := clone(t, g)
	invalid.ChainID = ""
	if err := invalid.Save(filepath.Join(dir, "invalid.json")); !errors.Is(err, ErrInvalid) {
		t.Errorf("Save of an invalid genesis = %v", err)
	}
}

func TestMarshalWritesEmptyListsAsArrays(t *testing.T) {
	g := validGenesis(t)
	g.Auditors = nil
	g.Observers = nil
	b := string(mustMarshal(t, g))
	if !strings.Contains(b, `"auditors": []`) || strings.Contains(b, "null") || strings.Contains(b, "observers") {
		t.Errorf("Marshal wrote:\n%s", b)
	}
	if g.Auditors != nil {
		t.Error("Marshal changed the genesis")
	}
}
