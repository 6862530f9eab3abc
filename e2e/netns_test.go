package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waterchain/waterchain/node/config"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/keys"
)

// requireNetnsEnv makes a skipped namespace test a failure: CI, which runs
// as root, sets it so that the test cannot silently stop running.
const requireNetnsEnv = "WATERCHAIN_REQUIRE_NETNS"

// bridgeNet is a private network on this machine: a Linux bridge in the
// test's namespace and one network namespace per node, each joined to the
// bridge by a veth pair and holding its own IPv4 and IPv6 address. A
// process in a namespace reaches the others only through the bridge; its
// loopback is its own. Every name carries a tag unique to the run, and
// t.Cleanup removes them all, failed or not.
type bridgeNet struct {
	t      *testing.T
	tag    string
	bridge string
	v4, v6 string // prefixes: "10.77.X." and "fd77:0:0:X::"
	spaces []string
}

// bridgeIPv4 and bridgeIPv6 are the test process's own addresses on the
// bridge (host 1); namespace k (from 0) has host 11+k.
func (b *bridgeNet) bridgeIPv4() string   { return b.v4 + "1" }
func (b *bridgeNet) ipv4(k int) string    { return b.v4 + strconv.Itoa(11+k) }
func (b *bridgeNet) ipv6(k int) string    { return b.v6 + strconv.Itoa(11+k) }
func (b *bridgeNet) under(k int) []string { return []string{"ip", "netns", "exec", b.spaces[k]} }

// newBridgeNet makes n namespaces on a fresh bridge, or skips the test
// when this machine does not let it (not Linux, not root, no ip command,
// namespaces or bridges refused), saying why; with WATERCHAIN_REQUIRE_NETNS
// set, it fails instead. hosts maps names to namespace indexes for the
// namespaces' /etc/hosts (ip netns exec mounts /etc/netns/NS/hosts there).
func newBridgeNet(t *testing.T, n int, hosts map[string]int) *bridgeNet {
	t.Helper()
	cannot := func(format string, args ...any) {
		t.Helper()
		msg := "network namespace test not run: " + fmt.Sprintf(format, args...)
		if os.Getenv(requireNetnsEnv) != "" {
			t.Fatalf("%s (%s is set: this machine must run it)", msg, requireNetnsEnv)
		}
		t.Skip(msg)
	}
	if runtime.GOOS != "linux" {
		cannot("network namespaces are a Linux feature, this is %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		cannot("creating network namespaces, a bridge and veth pairs needs root (uid %d); .ci/run runs it as root", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		cannot("the ip command is missing (apt-get install iproute2): %v", err)
	}
	var tag [3]byte
	if _, err := rand.Read(tag[:]); err != nil {
		t.Fatal(err)
	}
	b := &bridgeNet{t: t, tag: hex.EncodeToString(tag[:])}
	b.bridge = "wcbr" + b.tag // at most 15 bytes, the kernel's limit
	subnet, err := freeSubnet()
	if err != nil {
		cannot("%v", err)
	}
	b.v4, b.v6 = fmt.Sprintf("10.77.%d.", subnet), fmt.Sprintf("fd77:0:0:%x::", subnet)
	t.Cleanup(b.remove)

	first := "wc-" + b.tag + "-1"
	if out, err := ipCommand("netns", "add", first); err != nil {
		cannot("ip netns add %s: %v: %s", first, err, out)
	}
	b.spaces = append(b.spaces, first)
	if out, err := ipCommand("link", "add", b.bridge, "type", "bridge"); err != nil {
		cannot("ip link add %s type bridge: %v: %s", b.bridge, err, out)
	}
	b.must("link", "set", b.bridge, "up")
	b.must("addr", "add", b.bridgeIPv4()+"/24", "dev", b.bridge)
	b.must("addr", "add", b.v6+"1/64", "dev", b.bridge, "nodad")

	hostsFile := "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
	for name, k := range hosts {
		hostsFile += b.ipv4(k) + "\t" + name + "\n"
	}
	for k := range n {
		ns := "wc-" + b.tag + "-" + strconv.Itoa(k+1)
		if k > 0 {
			b.must("netns", "add", ns)
			b.spaces = append(b.spaces, ns)
		}
		veth := fmt.Sprintf("wcv%s%d", b.tag, k+1)
		b.must("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		b.must("link", "set", veth, "master", b.bridge, "up")
		b.must("-n", ns, "addr", "add", b.ipv4(k)+"/24", "dev", "eth0")
		b.must("-n", ns, "addr", "add", b.ipv6(k)+"/64", "dev", "eth0", "nodad")
		b.must("-n", ns, "link", "set", "eth0", "up")
		b.must("-n", ns, "link", "set", "lo", "up")
		dir := filepath.Join("/etc/netns", ns)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			cannot("the namespaces' /etc/hosts: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(hostsFile), 0o644); err != nil {
			cannot("the namespaces' /etc/hosts: %v", err)
		}
	}
	return b
}

// must runs ip with args and fails the test on error.
func (b *bridgeNet) must(args ...string) {
	b.t.Helper()
	if out, err := ipCommand(args...); err != nil {
		b.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// remove deletes the namespaces (their veth ends go with them), the bridge
// and the namespaces' /etc/netns files. It runs after the cluster's
// cleanup, which kills the nodes first (t.Cleanup is last in, first out).
func (b *bridgeNet) remove() {
	for _, ns := range b.spaces {
		if out, err := ipCommand("netns", "del", ns); err != nil {
			b.t.Errorf("cleanup: ip netns del %s: %v: %s", ns, err, out)
		}
		if err := os.RemoveAll(filepath.Join("/etc/netns", ns)); err != nil {
			b.t.Errorf("cleanup: %v", err)
		}
	}
	if _, err := net.InterfaceByName(b.bridge); err == nil {
		if out, err := ipCommand("link", "del", b.bridge); err != nil {
			b.t.Errorf("cleanup: ip link del %s: %v: %s", b.bridge, err, out)
		}
	}
}

func ipCommand(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// freeSubnet picks X for 10.77.X.0/24 (and fd77:0:0:X::/64) that no
// interface of this namespace uses yet, so parallel runs do not collide.
func freeSubnet() (int, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return 0, err
	}
	used := map[int]bool{}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip4 := ipn.IP.To4(); ip4 != nil && ip4[0] == 10 && ip4[1] == 77 {
				used[int(ip4[2])] = true
			}
		}
	}
	var b [1]byte
	for range 64 {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		if x := int(b[0]); x > 0 && !used[x] {
			return x, nil
		}
	}
	return 0, fmt.Errorf("no free 10.77.X.0/24 subnet among %d in use", len(used))
}

// TestNodesOnSeparateHosts runs four validators and an auditor each in a
// network namespace of its own, on a bridge: the network is written with
// one host per node (two validators by DNS name, two by IPv4 address, the
// auditor by IPv6 address), every node listens on all its interfaces and
// bootstraps from the others' host addresses, and three validators
// announce [p2p] external_addresses. Readings submitted to validator-1
// over the bridge become final on every node; validator-2, stopped with
// SIGTERM and started again, catches up; the auditor's /v1/audit verifies
// up to the network's height.
func TestNodesOnSeparateHosts(t *testing.T) {
	const validators, auditors = 4, 1
	tag := make([]byte, 2)
	if _, err := rand.Read(tag); err != nil {
		t.Fatal(err)
	}
	domain := "wc" + hex.EncodeToString(tag) + ".test"
	names := map[string]int{"validator-1." + domain: 0, "validator-2." + domain: 1}
	bn := newBridgeNet(t, validators+auditors, names)
	hosts := []string{"validator-1." + domain, "validator-2." + domain, bn.ipv4(2), bn.ipv4(3), bn.ipv6(4)}

	dir := t.TempDir()
	const port = home.DefaultBasePort
	nw, err := home.WriteNetwork(filepath.Join(dir, "net"), home.NetworkOptions{
		Validators: validators, Auditors: auditors, BasePort: port,
		DevnetParams: true, DevicesPerIndustry: 1, Hosts: hosts,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Validators 1 to 3 announce exactly where they are reached; validator-4
	// and the auditor announce what they listen on.
	external := []string{
		fmt.Sprintf("/dns4/%s/tcp/%d", hosts[0], port),
		fmt.Sprintf("/dns4/%s/tcp/%d", hosts[1], port),
		fmt.Sprintf("/ip4/%s/tcp/%d", hosts[2], port),
	}
	for i, n := range nw.Nodes {
		cfgPath := filepath.Join(n.Home, home.ConfigFileName)
		cfg, err := config.Load(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range cfg.P2P.Bootstrap {
			if strings.Contains(b, "/127.0.0.1/") || strings.Contains(b, "/localhost/") {
				t.Fatalf("%s bootstraps from loopback %s", n.Name, b)
			}
		}
		if i < len(external) {
			cfg.P2P.ExternalAddresses = []string{external[i]}
			if err := cfg.Save(cfgPath); err != nil {
				t.Fatal(err)
			}
		}
	}

	c := &cluster{
		t: t, dir: dir, nw: nw, genesis: nw.Genesis, chainID: nw.Genesis.ChainID, basePort: port,
		client: &http.Client{Timeout: 10 * time.Second},
	}
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for k, n := range nw.Nodes {
		// The test reaches each API through the bridge, by address: the
		// names resolve only inside the namespaces.
		ip := bn.ipv4(k)
		if k == validators { // the auditor, on IPv6
			ip = bn.ipv6(k)
		}
		c.nodes = append(c.nodes, &process{
			name: n.Name, logPath: filepath.Join(dir, "logs", n.Name+".log"),
			api:   "http://" + net.JoinHostPort(ip, strconv.Itoa(port+1)),
			under: bn.under(k),
		})
	}
	for _, d := range nw.Devices {
		k, err := keys.Load(d.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		c.meters = append(c.meters, &meter{key: k})
	}
	t.Cleanup(c.shutdown)

	c.startAll()
	c.waitPeers(c.all(), validators+auditors-1)
	for i, n := range nw.Nodes {
		st, err := c.status(i)
		if err != nil {
			t.Fatal(err)
		}
		self := "/p2p/" + n.PeerID
		switch {
		case i < len(external):
			if want := []string{external[i] + self}; !slices.Equal(st.P2PAddrs, want) {
				t.Errorf("%s announces %v, want exactly its external address %v", n.Name, st.P2PAddrs, want)
			}
		default:
			want := fmt.Sprintf("/ip4/%s/tcp/%d%s", bn.ipv4(i), port, self)
			if i == validators {
				want = fmt.Sprintf("/ip6/%s/tcp/%d%s", bn.ipv6(i), port, self)
			}
			if !slices.Contains(st.P2PAddrs, want) {
				t.Errorf("%s announces %v, without its bridge address %s", n.Name, st.P2PAddrs, want)
			}
		}
	}
	// The start log says what each node announces.
	for i := range external {
		if want := "announced=[" + external[i] + "]"; !strings.Contains(tail(c.nodes[i].logPath, 200), want) {
			t.Errorf("%s's log does not say %s", c.nodes[i].name, want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	c.waitFinal(c.all(), c.sendAll(0, 10), 60*time.Second)

	// validator-2, reached by DNS name, stops while readings keep coming.
	const restarted = 1
	c.signal(c.nodes[restarted], syscall.SIGTERM)
	atStop, _ := c.heights(0)
	up := []int{0, 2, 3, 4}
	// Three batches, each final before the next is sent, land in three
	// blocks it never saw.
	for range 3 {
		c.waitFinal(up, c.sendAll(0, 2), 60*time.Second)
	}
	atRestart, _ := c.heights(0)
	c.start(restarted)
	c.waitHeights([]int{restarted}, atRestart, 0, 60*time.Second)
	c.waitFinal(c.all(), c.sendAll(0, 5), 60*time.Second)

	// The auditor has verified everything the network has finalized, on
	// both lanes.
	c.waitHeights([]int{0}, 1, 1, 60*time.Second)
	data, tx := c.heights(0)
	auditor := c.nodes[validators]
	var audit struct {
		OK       bool   `json:"ok"`
		Error    string `json:"error"`
		Verified struct {
			Data uint64 `json:"data"`
			Tx   uint64 `json:"tx"`
		} `json:"verified"`
	}
	c.waitFor(60*time.Second, fmt.Sprintf("the auditor verifying data %d and tx %d", data, tx), func() (bool, string) {
		if err := c.getJSON(auditor.api+"/v1/audit", &audit); err != nil {
			return false, err.Error()
		}
		return audit.OK && audit.Verified.Data >= data && audit.Verified.Tx >= tx,
			fmt.Sprintf("ok %v (%s), verified data %d tx %d", audit.OK, audit.Error, audit.Verified.Data, audit.Verified.Tx)
	})
	c.waitPeers([]int{restarted}, validators)
	same, sameTx := c.sameChain(c.all())
	t.Logf("5 namespaces on %s (10.77.x/24 and fd77::/64): %s stopped at data %d, restarted at %d; auditor verified data %d tx %d; identical blocks data 1..%d, tx 1..%d",
		bn.bridge, c.nodes[restarted].name, atStop, atRestart, audit.Verified.Data, audit.Verified.Tx, same, sameTx)
}
