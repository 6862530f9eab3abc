package p2p

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

func TestCheckExternalAddr(t *testing.T) {
	for _, ok := range []string{
		"/dns4/node.example.org/tcp/26656",
		"/dns6/node.example.org/udp/26656/quic-v1",
		"/dns/node.example.org/tcp/26656",
		"/ip4/203.0.113.7/tcp/26656",
		"/ip6/2001:db8::7/tcp/26656",
		"/ip4/10.0.0.2/tcp/1",
	} {
		if err := CheckExternalAddr(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, tc := range []struct{ addr, why string }{
		{"203.0.113.7:26656", "want such as"},
		{"/ip4/0.0.0.0/tcp/26656", "no address peers can dial"},
		{"/ip6/::/tcp/26656", "no address peers can dial"},
		{"/ip4/203.0.113.7/tcp/0", "port 0"},
		{"/dns4/node.example.org", "no tcp or udp port"},
		{"/dns4/node.example.org/tcp/26656/p2p/12D3KooWAHXeDgdaGcS5qYKBRMqmsMJaeBnPB8TjLcYKbCwp3a8G", "peer ID"},
		{"/dnsaddr/example.org/tcp/26656", "want /ip4, /ip6, /dns, /dns4 or /dns6"},
		{"/unix/tmp/sock", "want /ip4"},
	} {
		err := CheckExternalAddr(tc.addr)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: got %v, want an error saying %q", tc.addr, err, tc.why)
		}
	}
}

func TestConfigValidateExternalAddrs(t *testing.T) {
	k := testKey(t, "cfg")
	c := testConfig(k, k)
	c.ExternalAddrs = []string{"/dns4/node.example.org/tcp/26656", "/ip4/0.0.0.0/tcp/26656"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "ExternalAddrs[1]") {
		t.Fatalf("got %v, want an error naming ExternalAddrs[1]", err)
	}
	c.ExternalAddrs = c.ExternalAddrs[:1]
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestExternalAddrsAreAnnouncedExactly: a host given external addresses
// announces those and nothing else — not its loopback listen address — in
// Addrs and by identify to a peer, which reached it by the DNS multiaddr.
func TestExternalAddrsAreAnnouncedExactly(t *testing.T) {
	a, b := testKey(t, "a"), testKey(t, "b")
	port := freeTCPPort(t)
	external := []string{
		"/dns4/localhost/tcp/" + strconv.Itoa(port),
		"/ip4/8.8.4.4/tcp/26656", // a port mapping elsewhere: announced, never dialed here
	}
	cfgA := testConfig(a, a, b)
	cfgA.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/" + strconv.Itoa(port)}
	cfgA.ExternalAddrs = external
	hostA := startHost(t, cfgA)

	var want []string
	for _, e := range external {
		want = append(want, e+"/p2p/"+hostA.ID().String())
	}
	got := hostA.Addrs()
	if !sameSet(got, want) {
		t.Fatalf("A announces %v, want exactly %v", got, want)
	}

	// B knows A only by the DNS multiaddr; identify tells it the rest.
	cfgB := testConfig(b, a, b)
	cfgB.Bootstrap = []string{want[0]}
	hostB := startHost(t, cfgB)
	waitPeers(t, hostB, 10*time.Second, a.Public())
	var known []string
	eventually(t, 10*time.Second, "B to learn A's announced addresses by identify", func() bool {
		known = known[:0]
		for _, m := range hostB.h.Peerstore().Addrs(hostA.ID()) {
			known = append(known, m.String())
		}
		return slices.Contains(known, external[1])
	})
	if !sameSet(known, external) {
		t.Fatalf("B knows A at %v, want exactly the announced %v (A listens on %v)", known, external, hostA.listenMultiaddrs())
	}
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func TestUnreachableHint(t *testing.T) {
	const id = "/p2p/12D3KooWAHXeDgdaGcS5qYKBRMqmsMJaeBnPB8TjLcYKbCwp3a8G"
	private := []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/26656"), ma.StringCast("/ip4/192.168.1.5/tcp/26656")}
	for _, tc := range []struct {
		name      string
		announced []ma.Multiaddr
		bootstrap []string
		warn      bool
	}{
		{"private, public bootstrap", private, []string{"/ip4/10.0.0.2/tcp/26656" + id, "/ip4/1.1.1.1/tcp/26656" + id}, true},
		{"private, public DNS bootstrap", private, []string{"/dns4/val.example.org/tcp/26656" + id}, true},
		{"private, private bootstrap", private, []string{"/ip4/10.0.0.2/tcp/26656" + id, "/dns4/localhost/tcp/1" + id}, false},
		{"private, no bootstrap", private, nil, false},
		{"public announced", append(slices.Clone(private), ma.StringCast("/ip4/9.9.9.9/tcp/26656")), []string{"/ip4/1.1.1.1/tcp/26656" + id}, false},
		{"DNS announced", []ma.Multiaddr{ma.StringCast("/dns4/node.example.org/tcp/26656")}, []string{"/ip4/1.1.1.1/tcp/26656" + id}, false},
		{"nothing announced", nil, []string{"/ip4/1.1.1.1/tcp/26656" + id}, true},
	} {
		hint := unreachableHint(tc.announced, tc.bootstrap)
		if (hint != "") != tc.warn {
			t.Errorf("%s: hint %q, want a warning: %v", tc.name, hint, tc.warn)
		}
		if tc.warn && !strings.Contains(hint, "external_addresses") {
			t.Errorf("%s: hint %q does not say what to set", tc.name, hint)
		}
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
