package p2p

import "errors"

// ErrConfig is wrapped by every error of Config.Validate; the message names
// the field that is wrong.
var ErrConfig = errors.New("p2p: invalid config")

// ErrClosed is returned by operations on a Host or Topic that has been closed.
var ErrClosed = errors.New("p2p: closed")

// ErrBadTopic is returned by Join for a topic name that is empty, too long or
// contains characters outside [a-z0-9._/-].
var ErrBadTopic = errors.New("p2p: bad topic name")

// ErrTopicJoined is returned by Join when the host already has the topic.
var ErrTopicJoined = errors.New("p2p: topic already joined")

// ErrBadProtocol is returned by Handle and Request for a protocol name that is
// empty, too long or contains characters outside [a-z0-9._/-].
var ErrBadProtocol = errors.New("p2p: bad protocol name")

// ErrProtocolHandled is returned by Handle when the protocol already has a
// handler.
var ErrProtocolHandled = errors.New("p2p: protocol already handled")

// ErrMessageTooLarge is returned by Topic.Publish for data larger than
// Config.MaxMessageSize.
var ErrMessageTooLarge = errors.New("p2p: gossip message too large")

// ErrRequestTooLarge is returned when a request exceeds Config.MaxRequestSize,
// both by Request before sending and by the serving side.
var ErrRequestTooLarge = errors.New("p2p: request too large")

// ErrResponseTooLarge is returned when a response exceeds
// Config.MaxResponseSize.
var ErrResponseTooLarge = errors.New("p2p: response too large")

// ErrRemote wraps the error message a remote handler returned: the request
// reached the peer and the peer refused it.
var ErrRemote = errors.New("p2p: remote error")

// ErrBusy is the remote error a host answers with when it is already serving
// Config.MaxConcurrentRequests requests; retry later or ask another peer.
var ErrBusy = errors.New("p2p: peer busy")

// ErrFrame is wrapped by every error decoding a request or response frame.
var ErrFrame = errors.New("p2p: malformed frame")

// ErrNotConnected is returned by Direct.Send for a peer that is not
// connected or has not passed the network-id handshake.
var ErrNotConnected = errors.New("p2p: peer not connected")

// ErrQueueFull is returned by Direct.Send when the peer's send queue is
// full (the peer reads slower than it is sent to); the message is dropped.
var ErrQueueFull = errors.New("p2p: send queue full")
