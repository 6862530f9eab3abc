// Package p2p owns Waterchain's networking: a permissioned libp2p host, its
// gossip topics and its request/response protocols. It moves bytes and knows
// nothing of consensus; the node decides what the bytes mean.
//
// # Host and admission
//
// A Host listens on TCP and QUIC (Noise over TCP, TLS 1.3 inside QUIC,
// yamux), and its libp2p identity is the node key, so a peer ID and a node
// key convert exactly both ways (PeerIDFromKey, KeyOfPeer). A connection
// gater admits, in both directions, only the keys in Config.AllowedKeys —
// the validators, auditors and observers named in genesis — and the node
// calls UpdateAllowed when the validator set changes, which also drops the
// peers no longer allowed.
//
// Right after connecting, the dialing side sends its NetworkID (chain id and
// genesis hash) on /waterchain/hello/1.0.0 and the other side answers with
// its own. A peer on another network is disconnected and both sides log the
// two ids; a peer that dialed in and does not say hello within
// Config.HandshakeTimeout is disconnected too. Peers lists only peers that
// passed; PeersChanged signals changes. Gossip topics and protocols are also
// namespaced by a hash of the NetworkID, so nothing crosses networks even
// before the handshake completes.
//
// The host keeps a connection to each Config.Bootstrap peer, redialing after
// a disconnect with exponential backoff and jitter between
// Config.ReconnectMin and ReconnectMax. The backoff resets only once the
// peer passed the handshake, so a peer that connects and is dropped at once
// is redialed ever more slowly. mDNS is not built in (see Config.MDNS).
// Bootstrap addresses may name hosts by DNS (/dns, /dns4, /dns6), resolved
// at each dial.
//
// A host announces (by identify, to every peer) the addresses it listens on,
// or exactly Config.ExternalAddrs when set: the public IP or DNS name of a
// host behind NAT or a port mapping. It logs both at start and warns when it
// announces only private or loopback addresses while a bootstrap peer is
// public. libp2p's AutoNAT cannot tell it more here: its dial-back comes
// from a throwaway identity, which every permissioned gater refuses.
//
// # Gossip
//
// Join subscribes to a topic with a Validator. The validator's verdict maps
// to gossipsub's: Accept delivers and forwards, Reject (provably invalid:
// undecodable, bad signature) drops and penalizes the forwarding peer, Ignore
// (stale, duplicate, not checkable yet) drops without penalty. A validator
// may return the decoded, verified value; the reader gets it in
// Message.Value, so a signature checked at the gossip door need not be
// checked again. Messages this host publishes skip its own validator and do
// not loop back to its reader.
//
// gossipsub runs with StrictNoSign and message IDs that are the SHA-256 of
// the data: every entry and vote is signed by its author inside the data, so
// libp2p's per-message signature is a redundant second verification. Own
// messages are flood-published to every subscribed peer: gossipsub's default
// (mesh only) silently loses anything published before the first heartbeat
// has built the mesh.
//
// Besides the author's flood publish, each node forwards a message to its
// mesh of Config.MeshDegree peers (gossipsub's D, default 3), so a node
// receives up to 1+D copies and validates one; the others are counted in
// _gossip_duplicates_total. They are the path to peers the author is not
// connected to. Where every node is connected to every other (validators
// bootstrapping from each other) they are pure overhead: with 10 and 16
// hosts in a full mesh, each publishing 400-byte messages (a gossiped
// batch of a few readings; BenchmarkGossipCopies), a message reached each
// host 7.0 and 8.5 times at gossipsub's D = 6, 3.9 and 3.7 at D = 3, 2.7
// and 2.2 at D = 2, and the process's CPU per message and receiver fell
// from 384 and 433 µs to 276 and 303 µs (D = 3) and 235 and 226 µs
// (D = 2), at load average 25–45. The default is 3, not 2, so that the
// mesh (D−1 to 2D peers) keeps at least two peers and does not fall apart
// into pairs where nodes are not all connected. Consensus votes (and,
// where the node enables it, proposals) do not use the mesh while the
// validators are connected (see Direct sends).
//
// Peer scoring counts invalid messages per topic (-10·n², decaying to 1 %
// over an hour); three or four Rejects put a peer below the graylist
// threshold, after which gossipsub ignores it and the host disconnects it.
// There are no IP-colocation or mesh-delivery penalties: the gater already
// keeps unknown identities out, and those would punish honest quiet peers.
// PeerScore exposes the sampled scores.
//
// # Queues and pacing
//
// gossipsub never pushes back: Publish succeeds once the message is queued,
// and a full per-peer outbound queue, validation queue or subscription
// buffer drops messages silently. TestBurst (WATERCHAIN_P2P_BURST=1) measured
// it with 4 hosts on loopback on one 2-core machine, one publishing 20,000
// ed25519-signed 200-byte messages that the 3 others verify:
//
//	                                           lost      per receiver
//	gossipsub defaults (signed, queues 32)     61–73 %    360–1250 msg/s
//	StrictNoSign, queues 32, unpaced           85–97 %
//	StrictNoSign, queues 32, paced 1000/s       1–6 %
//	StrictNoSign, queues 32, paced 2000/s       9–21 %
//	signed, queues 32768, unpaced                0 %      410–1210 msg/s
//	StrictNoSign, queues 32768, unpaced          0 %      970–2890 msg/s
//	StrictNoSign, queues 32768, paced 2000/s     0 %     1210–2090 msg/s
//
// (four runs at load averages from 5 to 9 caused by other work on the
// machine). Without signatures the same queues carry 1.8–2.4× the messages,
// and an unpaced burst p99 latency was 5.7–12 s against 4.4–4.8 s paced; with
// small queues no publish rate is safe, since jitter alone overflows them;
// with large queues nothing is lost, but an unpaced burst builds seconds of
// queueing. So the defaults are both: queues of 32768 (above the burst) and
// a host-wide token bucket of 2000 messages/s (burst 1000), below the rate
// the receivers sustained, which Topic.Publish waits on. Low-rate traffic
// that must not queue behind bulk gossip (consensus votes and proposals)
// joins with Unpaced. Every drop is counted in
// waterchain_p2p_gossip_dropped_total by reason; the counter also counts
// dropped forwarded copies, so it may exceed the deliveries lost, but it is
// zero only when nothing was dropped. Queues hold messages, not bytes: keep
// bulk messages small (Config.MaxMessageSize bounds one message).
//
// # Direct sends
//
// OpenDirect serves a protocol for small messages sent straight to
// connected peers (Direct.Send, SendAll): one long-lived stream per peer and
// direction, frames in the order sent, nothing forwarded. Each peer has a
// queue (Send never blocks; a full queue drops and says ErrQueueFull), and
// one goroutine per peer writes what is queued and flushes once, so a burst
// costs one encrypted write. Received messages pass a Validator as on a
// topic; Reject resets the stream. It is for messages every peer needs from
// their author where all of them are connected to each other, such as
// consensus votes among validators that bootstrap from each other: gossip
// delivers each message 1+D times (flood publish plus the receivers' mesh
// forwarding), Direct once. With 10 validators in one process (node's
// BenchmarkConsensusMessages), votes sent directly cut a height's
// consensus deliveries (door plus duplicates) from 4,567 to 295 and the
// CPU per height from 452 to 209 ms (all nodes). A peer that is not
// connected gets nothing: keep a gossip path for it.
//
// # Request/response
//
// Handle serves a protocol and Request calls one, for instance block sync:
// "blocks of lane L from height H, up to N" answered with encoded blocks and
// their certificates, which the caller verifies as they arrive. A request is
// one length-prefixed frame (at most Config.MaxRequestSize), the response a
// status byte and one frame (at most Config.MaxResponseSize) or an error
// message, which the requester gets wrapped in ErrRemote. Oversize frames are
// refused from their header, before allocation. At most
// Config.MaxConcurrentRequests requests are served at once; more get ErrBusy.
//
// # Metrics
//
// With Config.Registerer set, the host registers waterchain_p2p_peers,
// _disconnects_total{reason}, _gater_denied_total{direction},
// _gossip_validated_total{topic,result}, _gossip_dropped_total{topic,reason},
// _gossip_delivered_total{topic}, _gossip_duplicates_total{topic},
// _gossip_published_total{topic},
// _publish_pacing_seconds, _requests_total{protocol,direction,result},
// _request_seconds{protocol}, _direct_sent_total{protocol},
// _direct_validated_total{protocol,result} and
// _direct_dropped_total{protocol,reason}, plus go-libp2p's own metrics.
//
// # What callers must do
//
// Give each Host its own Registerer (or nil). Read every joined topic's
// Messages promptly, from one goroutine. Make validators cheap, concurrent
// and non-blocking, and return Reject only for what is invalid in every
// state. Expect a message published before a peer's subscription is known
// to miss that peer, so consensus must be able to recover it — and since
// message IDs are content hashes, republishing the same bytes within
// gossipsub's two-minute seen window is a no-op everywhere: recover by
// Request, or publish something new. Call Close to stop; it waits for every
// goroutine the host started.
package p2p
