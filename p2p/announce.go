package p2p

import (
	"fmt"
	"net"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// CheckExternalAddr reports why s cannot be announced to peers as this
// host's address, or nil. An external address is where peers dial the
// host, so it names a concrete host (/ip4, /ip6 other than the unspecified
// address, or a DNS name by /dns, /dns4 or /dns6), a TCP or UDP port other
// than 0, and no /p2p/ID: the host adds its own.
func CheckExternalAddr(s string) error {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return fmt.Errorf("%q: %v; want such as \"/dns4/node.example.org/tcp/26656\" or \"/ip4/203.0.113.7/tcp/26656\"", s, err)
	}
	switch first := m[0]; first.Protocol().Code {
	case ma.P_IP4, ma.P_IP6:
		if net.IP(first.RawValue()).IsUnspecified() {
			return fmt.Errorf("%q: %s is no address peers can dial; give the host's public IP or DNS name", s, first.Value())
		}
	case ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
	default:
		return fmt.Errorf("%q starts with /%s; want /ip4, /ip6, /dns, /dns4 or /dns6", s, first.Protocol().Name)
	}
	port := false
	for _, c := range m {
		switch c.Protocol().Code {
		case ma.P_P2P:
			return fmt.Errorf("%q names a peer ID; leave /p2p/ off, the node adds its own", s)
		case ma.P_TCP, ma.P_UDP:
			if c.Value() == "0" {
				return fmt.Errorf("%q: port 0 is no port peers can dial; give the port peers reach the node at", s)
			}
			port = true
		}
	}
	if !port {
		return fmt.Errorf("%q has no tcp or udp port; want such as \"/dns4/node.example.org/tcp/26656\"", s)
	}
	return nil
}

// announceExactly is the libp2p address factory of a host with external
// addresses: whatever it listens on, it announces those and only those.
func announceExactly(external []ma.Multiaddr) func([]ma.Multiaddr) []ma.Multiaddr {
	return func([]ma.Multiaddr) []ma.Multiaddr { return slices.Clone(external) }
}

// unreachableHint returns a warning when every announced address is
// private or loopback while a bootstrap peer is public: peers outside this
// host's network learn no address they can dial it at (a node behind NAT
// without Config.ExternalAddrs). It returns "" otherwise.
func unreachableHint(announced []ma.Multiaddr, bootstrap []string) string {
	if slices.ContainsFunc(announced, manet.IsPublicAddr) {
		return ""
	}
	var public []string
	for _, s := range bootstrap {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			continue
		}
		if slices.ContainsFunc(ai.Addrs, manet.IsPublicAddr) {
			public = append(public, s)
		}
	}
	if len(public) == 0 {
		return ""
	}
	return fmt.Sprintf("this node announces only private or loopback addresses %v, while bootstrap peers %v are public: "+
		"peers outside its network cannot dial it (it can still dial them); set [p2p] external_addresses to the public "+
		"IP or DNS name and port that reach it, such as \"/dns4/node.example.org/tcp/26656\", and forward that port", announced, public)
}
