package home

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/config"
	"github.com/waterchain/waterchain/node/keys"
)

// Defaults and layout of a generated network.
const (
	// DefaultBasePort is the first port of a generated network.
	DefaultBasePort = 26600
	// PortsPerNode is the stride between nodes' ports: node k (validators
	// first, then auditors, from 0) listens for p2p on base+10k, for the API
	// on base+10k+1 and for MQTT on base+10k+2; the rest are spare.
	PortsPerNode = 10
	// ManifestFileName is the manifest WriteNetwork writes unless told
	// otherwise ("waterchain devnet" writes devnet.json).
	ManifestFileName = "testnet.json"
	// AccountsDirName holds the account keys of industries and regulator.
	AccountsDirName = "accounts"
	// RegulatorKeyFileName is the regulator's key file under accounts/.
	RegulatorKeyFileName = "regulator.json"
	// RegulatorName is the generated regulator.
	RegulatorName = "River Basin Authority"
	// OpeningBalance is each generated industry's balance: 1,000 drops.
	OpeningBalance = 1000 * chain.DropUnit
)

// Roles in Network.Accounts.
const (
	AccountIndustry  = "industry"
	AccountRegulator = "regulator"
)

// NetworkLimits are the discharge limits of every generated industry's
// permit, typical of a municipal sewer-use bylaw: conductivity 3,000 µS/cm,
// suspended solids 350 mg/L, UV absorbance 1.0 AU, turbidity 100 NTU (on
// the chain's scales, see chain.Measures).
var NetworkLimits = chain.Limits{
	Conductivity:    3000 * 10,
	SuspendedSolids: 350 * 10,
	Absorbance:      1 * 1000,
	Turbidity:       100 * 100,
}

// NetworkOptions shape a generated network.
type NetworkOptions struct {
	Validators int // at least 1
	Auditors   int
	// BasePort is the first port; 0 means DefaultBasePort.
	BasePort int
	// ChainID; "" means "waterchain-testnet", or "waterchain-devnet" with
	// DevnetParams.
	ChainID string
	// DevnetParams selects genesis.DevnetParams (5-minute settlement)
	// instead of genesis.DefaultParams (calendar month).
	DevnetParams bool
	// SettlementPeriod, when set, replaces the params' settlement period
	// ("4m": the devnet settles its first period within 5 minutes).
	SettlementPeriod string
	// GenesisTime; zero means now, to the second.
	GenesisTime time.Time
	// Manifest is the manifest's file name in DIR; "" means testnet.json.
	Manifest string
	// Overwrite allows writing over a network made before in the same
	// directory (one that holds the manifest): its genesis, accounts and
	// the homes its manifest lists are removed first, keys and chain data
	// included. A directory that holds other files and no manifest is
	// refused even so.
	Overwrite bool
	// Rand is the source of the keys; nil means crypto/rand. Anything else
	// is for reproducible tests only.
	Rand io.Reader
	// DevicesPerIndustry meters are made for each industry, registered to
	// it in genesis, their keys under DIR/devices/.
	DevicesPerIndustry int
	// PermitFor, when set, sizes the genesis permit of industry i (from 0),
	// whose meters are devices [first, first+DevicesPerIndustry) in
	// Network.Devices order — the devnet sizes them for its simulated
	// plants. By default permits follow the industry's profile.
	PermitFor func(industry, first int, params *chain.Params) genesis.Permit
	// Hosts, when set, puts each node on a host of its own (validators
	// first, then auditors; one entry per node): a DNS name, an IPv4 or an
	// IPv6 address that the other nodes reach it at. Every node then
	// listens on all interfaces at the same ports (BasePort for p2p, +1
	// for the API, +2 for MQTT), and bootstraps from the others by
	// /dns4, /ip4 or /ip6 multiaddrs: containers or machines, not
	// loopback.
	Hosts []string
}

// Network is what WriteNetwork wrote.
type Network struct {
	Dir         string // absolute
	GenesisFile string
	Manifest    string // path of the manifest
	Genesis     *genesis.Genesis
	Nodes       []NetworkNode
	Accounts    []Account
	Devices     []Device
}

// Device is a generated meter registered in genesis.
type Device struct {
	Industry string // name of the industry it belongs to
	Label    string
	KeyFile  string // under DIR/devices/, mode 0600
	PubKey   chain.PubKey

	key *chain.PrivateKey // until written
}

// DevnetDayLength is the length of a simulated day on a devnet (and of the
// alert rules' day there), so nights and weekends come by in minutes: two
// nights, enough for the leak rule to learn one and catch a leak in the
// next, pass within the devnet's first settlement period.
const DevnetDayLength = 2 * time.Minute

// DevicesDirName holds the generated meters' keys.
const DevicesDirName = "devices"

// NetworkNode is one node of a generated network. Its first four fields
// are the manifest's entry.
type NetworkNode struct {
	Name string `json:"name"` // "validator-1", "auditor-1", ...
	Role string `json:"role"` // genesis.RoleValidator or genesis.RoleAuditor
	API  string `json:"api"`  // "http://127.0.0.1:PORT"
	Home string `json:"home"` // absolute home directory

	NodeKey    chain.PubKey `json:"-"`
	PeerID     string       `json:"-"`
	P2PListen  string       `json:"-"` // "/ip4/127.0.0.1/tcp/PORT"
	P2PAddr    string       `json:"-"` // P2PListen + "/p2p/" + PeerID
	APIListen  string       `json:"-"` // "127.0.0.1:PORT"
	MQTTListen string       `json:"-"` // "127.0.0.1:PORT" (MQTT is disabled in config.toml)
	Industry   string       `json:"-"` // name of the industry running a validator
}

// Account is a generated account key: an industry's or the regulator's.
type Account struct {
	Name    string
	Role    string // AccountIndustry or AccountRegulator
	KeyFile string // under DIR/accounts/, mode 0600
	PubKey  chain.PubKey
	Address chain.Address

	key *chain.PrivateKey // until written
}

// Manifest is the content of testnet.json (and devnet.json): the nodes of a
// network, for scripts.
type Manifest struct {
	Nodes []NetworkNode `json:"nodes"`
}

// LoadManifest reads a manifest written by WriteNetwork.
func LoadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return &m, nil
}

// WriteNetwork writes a whole network into dir: a node key per validator
// and auditor, an account key per industry (one industry per validator,
// running it) and for one regulator, a genesis naming them all, one home
// per node (DIR/validator-1, ..., DIR/auditor-1, ...) whose config.toml
// listens on its own loopback ports and bootstraps from every other node,
// the account keys under DIR/accounts/, DIR/genesis.json and the manifest.
//
// dir must be missing or empty, or hold a network written before with
// opts.Overwrite set. On error, WriteNetwork removes what it wrote.
func WriteNetwork(dir string, opts NetworkOptions) (nw *Network, err error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := prepareNetworkDir(abs, opts); err != nil {
		return nil, err
	}
	created := []string{}
	defer func() {
		if err != nil {
			for i := len(created) - 1; i >= 0; i-- {
				os.RemoveAll(created[i])
			}
		}
	}()
	if _, statErr := os.Stat(abs); errors.Is(statErr, os.ErrNotExist) {
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, err
		}
		created = append(created, abs)
	}

	nw = &Network{Dir: abs, GenesisFile: filepath.Join(abs, GenesisFileName), Manifest: filepath.Join(abs, opts.Manifest)}
	nodeKeys, g, err := buildNetwork(nw, opts)
	if err != nil {
		return nil, err
	}
	raw, err := g.Marshal()
	if err != nil {
		return nil, err
	}

	if err := writeNew(nw.GenesisFile, raw, 0o644); err != nil {
		return nil, err
	}
	created = append(created, nw.GenesisFile)

	accountsDir := filepath.Join(abs, AccountsDirName)
	if err := os.Mkdir(accountsDir, 0o700); err != nil {
		return nil, err
	}
	created = append(created, accountsDir)
	for i, a := range nw.Accounts {
		if err := keys.Save(a.KeyFile, a.key); err != nil {
			return nil, err
		}
		nw.Accounts[i].key = nil
	}

	if len(nw.Devices) > 0 {
		devicesDir := filepath.Join(abs, DevicesDirName)
		if err := os.Mkdir(devicesDir, 0o700); err != nil {
			return nil, err
		}
		created = append(created, devicesDir)
		for i, d := range nw.Devices {
			if err := keys.Save(d.KeyFile, d.key); err != nil {
				return nil, err
			}
			nw.Devices[i].key = nil
		}
	}

	for i, n := range nw.Nodes {
		cfg := config.Default()
		cfg.P2P.Listen = []string{n.P2PListen}
		cfg.P2P.MDNS = false // loopback: the bootstrap list finds everyone
		cfg.API.Listen = n.APIListen
		cfg.MQTT.Listen = n.MQTTListen
		if opts.DevnetParams {
			// Simulated meters on a devnet live days of DevnetDayLength;
			// the leak rule's night window must follow them. The window is
			// 22:00–05:00, when every simulated plant runs at night flow
			// (shifts end by 20:00 with a 1.5 h ramp, start at 05:00 or
			// later), so a 2-minute day's night holds 3 or 4 readings; one
			// learnt night makes a baseline, so a leak is caught on the
			// second night rather than the fourth.
			th := &cfg.Alerts.Thresholds
			th.DayLength = DevnetDayLength.Milliseconds()
			th.NightStart, th.NightEnd = 22*3_600_000, 5*3_600_000
			th.LeakLearnNights = 1
		}
		for j, other := range nw.Nodes {
			if j != i {
				cfg.P2P.Bootstrap = append(cfg.P2P.Bootstrap, other.P2PAddr)
			}
		}
		created = append(created, n.Home)
		if err := (Home{Dir: n.Home}).write(raw, nodeKeys[i], cfg); err != nil {
			return nil, err
		}
	}

	manifest, err := json.MarshalIndent(Manifest{Nodes: nw.Nodes}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeNew(nw.Manifest, append(manifest, '\n'), 0o644); err != nil {
		return nil, err
	}
	created = append(created, nw.Manifest)
	nw.Genesis = g
	return nw, nil
}

func (o *NetworkOptions) fill() error {
	if o.Validators < 1 || o.Validators > chain.MaxValidators {
		return fmt.Errorf("--validators %d: want 1 to %d", o.Validators, chain.MaxValidators)
	}
	if o.Auditors < 0 || o.Auditors > genesis.MaxNodes {
		return fmt.Errorf("--auditors %d: want 0 to %d", o.Auditors, genesis.MaxNodes)
	}
	if o.BasePort == 0 {
		o.BasePort = DefaultBasePort
	}
	nodes := o.Validators + o.Auditors
	if len(o.Hosts) > 0 {
		if len(o.Hosts) != nodes {
			return fmt.Errorf("--hosts: %d given for %d nodes (%d validators, %d auditors); give one per node", len(o.Hosts), nodes, o.Validators, o.Auditors)
		}
		for i, h := range o.Hosts {
			if h == "" || strings.ContainsAny(h, "/ :") && net.ParseIP(h) == nil {
				return fmt.Errorf("--hosts: entry %d %q is neither a host name nor an IP address", i+1, h)
			}
		}
		nodes = 1 // every node on its own host uses the same ports
	}
	if last := o.BasePort + nodes*PortsPerNode - 1; o.BasePort < 1024 || last > 65535 {
		return fmt.Errorf("--base-port %d: %d nodes use ports %d to %d; want them within 1024 to 65535", o.BasePort, nodes, o.BasePort, last)
	}
	if o.ChainID == "" {
		o.ChainID = "waterchain-testnet"
		if o.DevnetParams {
			o.ChainID = "waterchain-devnet"
		}
	}
	if o.GenesisTime.IsZero() {
		o.GenesisTime = time.Now().UTC().Truncate(time.Second)
	}
	if o.Manifest == "" {
		o.Manifest = ManifestFileName
	}
	if o.Manifest != filepath.Base(o.Manifest) || !strings.HasSuffix(o.Manifest, ".json") {
		return fmt.Errorf("manifest %q: want a file name ending in .json", o.Manifest)
	}
	return nil
}

var nodeDirName = regexp.MustCompile(`^(validator|auditor)-[0-9]+$`)

// prepareNetworkDir refuses a directory WriteNetwork must not write into,
// and with Overwrite clears a network written there before.
func prepareNetworkDir(dir string, opts NetworkOptions) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	manifestPath := filepath.Join(dir, opts.Manifest)
	_, statErr := os.Stat(manifestPath)
	hasManifest := statErr == nil
	switch {
	case !hasManifest:
		return fmt.Errorf("%s: %w: the directory is not empty and holds no %s, so it is not a network written by waterchain; choose an empty or new directory", dir, ErrExists, opts.Manifest)
	case !opts.Overwrite:
		return fmt.Errorf("%s: %w: it holds a network (%s); refusing to overwrite it, since its keys and chain data would be lost. Pass --overwrite to replace it, or choose another directory", dir, ErrExists, opts.Manifest)
	}
	// Remove only what a network consists of, and only inside dir.
	remove := []string{filepath.Join(dir, GenesisFileName), filepath.Join(dir, AccountsDirName), filepath.Join(dir, DevicesDirName)}
	if m, err := LoadManifest(manifestPath); err == nil {
		for _, n := range m.Nodes {
			if rel, err := filepath.Rel(dir, n.Home); err == nil && nodeDirName.MatchString(rel) {
				remove = append(remove, filepath.Join(dir, rel))
			}
		}
	}
	for _, e := range entries {
		if e.IsDir() && nodeDirName.MatchString(e.Name()) {
			remove = append(remove, filepath.Join(dir, e.Name()))
		}
	}
	for _, p := range remove {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("removing the old network: %w", err)
		}
	}
	return os.Remove(manifestPath)
}

// buildNetwork makes the keys, nodes, accounts and genesis in memory. The
// returned node keys are in the order of nw.Nodes.
func buildNetwork(nw *Network, opts NetworkOptions) ([]*chain.PrivateKey, *genesis.Genesis, error) {
	params := genesis.DefaultParams()
	if opts.DevnetParams {
		params = genesis.DevnetParams()
	}
	if opts.SettlementPeriod != "" {
		params.SettlementPeriod = opts.SettlementPeriod
	}
	g := &genesis.Genesis{
		ChainID:     opts.ChainID,
		GenesisTime: chain.TimeOf(opts.GenesisTime),
		Params:      params,
	}

	var nodeKeys []*chain.PrivateKey
	addNode := func(role string, i int) error {
		key, err := chain.GenerateKey(opts.Rand)
		if err != nil {
			return fmt.Errorf("generating a node key: %w", err)
		}
		id, err := PeerID(key.Public())
		if err != nil {
			return err
		}
		k := len(nw.Nodes)
		port := opts.BasePort + k*PortsPerNode
		name := fmt.Sprintf("%s-%d", role, i)
		n := NetworkNode{
			Name:       name,
			Role:       role,
			API:        fmt.Sprintf("http://127.0.0.1:%d", port+1),
			Home:       filepath.Join(nw.Dir, name),
			NodeKey:    key.Public(),
			PeerID:     id.String(),
			P2PListen:  fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port),
			APIListen:  fmt.Sprintf("127.0.0.1:%d", port+1),
			MQTTListen: fmt.Sprintf("127.0.0.1:%d", port+2),
		}
		n.P2PAddr = n.P2PListen + "/p2p/" + n.PeerID
		if len(opts.Hosts) > 0 {
			host := opts.Hosts[k]
			port = opts.BasePort
			n.API = "http://" + net.JoinHostPort(host, strconv.Itoa(port+1))
			n.P2PListen = fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", port)
			n.APIListen = fmt.Sprintf("0.0.0.0:%d", port+1)
			n.MQTTListen = fmt.Sprintf("0.0.0.0:%d", port+2)
			if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
				n.P2PListen = fmt.Sprintf("/ip6/::/tcp/%d", port)
				n.APIListen = fmt.Sprintf("[::]:%d", port+1)
				n.MQTTListen = fmt.Sprintf("[::]:%d", port+2)
			}
			n.P2PAddr = fmt.Sprintf("%s/tcp/%d/p2p/%s", hostMultiaddr(host), port, n.PeerID)
		}
		nw.Nodes = append(nw.Nodes, n)
		nodeKeys = append(nodeKeys, key)
		gn := genesis.Node{Name: name, NodeKey: key.Public()}
		if role == genesis.RoleValidator {
			g.Validators = append(g.Validators, gn)
		} else {
			g.Auditors = append(g.Auditors, gn)
		}
		return nil
	}
	addAccount := func(name, role, file string) (*Account, error) {
		key, err := chain.GenerateKey(opts.Rand)
		if err != nil {
			return nil, fmt.Errorf("generating an account key: %w", err)
		}
		nw.Accounts = append(nw.Accounts, Account{
			Name: name, Role: role, KeyFile: filepath.Join(nw.Dir, AccountsDirName, file),
			PubKey: key.Public(), Address: key.Public().Address(), key: key,
		})
		return &nw.Accounts[len(nw.Accounts)-1], nil
	}

	for i := 1; i <= opts.Validators; i++ {
		if err := addNode(genesis.RoleValidator, i); err != nil {
			return nil, nil, err
		}
	}
	for i := 1; i <= opts.Auditors; i++ {
		if err := addNode(genesis.RoleAuditor, i); err != nil {
			return nil, nil, err
		}
	}
	for i := 0; i < opts.Validators; i++ {
		ind := industryFor(i)
		a, err := addAccount(ind.name, AccountIndustry, slug(ind.name)+".json")
		if err != nil {
			return nil, nil, err
		}
		nw.Nodes[i].Industry = ind.name
		permit := genesis.Permit{Allowance: allowance(ind.litresPerHour, &params), Limits: NetworkLimits}
		if opts.PermitFor != nil {
			permit = opts.PermitFor(i, len(nw.Devices), &params)
		}
		var devices []genesis.Device
		for k := 1; k <= opts.DevicesPerIndustry; k++ {
			key, err := chain.GenerateKey(opts.Rand)
			if err != nil {
				return nil, nil, fmt.Errorf("generating a device key: %w", err)
			}
			label := fmt.Sprintf("outfall %c", 'A'+rune(k-1)%26)
			nw.Devices = append(nw.Devices, Device{
				Industry: ind.name, Label: label, PubKey: key.Public(), key: key,
				KeyFile: filepath.Join(nw.Dir, DevicesDirName, fmt.Sprintf("%s-%d.json", slug(ind.name), k)),
			})
			devices = append(devices, genesis.Device{Key: key.Public(), Label: label})
		}
		g.Industries = append(g.Industries, genesis.Industry{
			Devices:   devices,
			Name:      ind.name,
			Account:   a.PubKey,
			Validator: nw.Nodes[i].Name,
			Balance:   OpeningBalance,
			Permit:    permit,
		})
	}
	reg, err := addAccount(RegulatorName, AccountRegulator, RegulatorKeyFileName)
	if err != nil {
		return nil, nil, err
	}
	g.Regulators = []genesis.Regulator{{Name: RegulatorName, Account: reg.PubKey}}

	if err := g.Validate(); err != nil {
		return nil, nil, fmt.Errorf("generated genesis: %w", err)
	}
	return nodeKeys, g, nil
}

// allowance is what a plant discharging litresPerHour uses in one
// settlement period: 30 days for calendar months (a month of 31 days then
// overruns a little, a month of 28 saves), the period's length otherwise.
func allowance(litresPerHour uint64, p *chain.Params) uint64 {
	length, err := p.PeriodLength()
	if err != nil || length == 0 {
		return litresPerHour * 30 * 24
	}
	return litresPerHour * uint64(length.Std().Milliseconds()) / uint64(time.Hour.Milliseconds())
}

// hostMultiaddr is the multiaddr prefix that reaches host: /ip4 or /ip6 for
// an address, /dns for a name (resolved to IPv4 or IPv6 when dialled).
func hostMultiaddr(host string) string {
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return "/dns/" + host
	case ip.To4() != nil:
		return "/ip4/" + ip.String()
	default:
		return "/ip6/" + ip.String()
	}
}

// FreeBasePort picks a random BasePort for a network of nodes nodes whose
// every port is free now, below Linux's ephemeral ports (32768 up) so
// that outgoing connections do not take them. The ports are only free
// when checked: whoever writes them into a network's files should start
// its nodes soon after.
func FreeBasePort(nodes int) (int, error) {
	for range 50 {
		base := 12000 + rand.IntN(1800)*PortsPerNode
		if portsFree(base, nodes*PortsPerNode) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free range of %d ports found below 30000", nodes*PortsPerNode)
}

func portsFree(base, n int) bool {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for p := base; p < base+n; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		ls = append(ls, l)
	}
	return true
}
