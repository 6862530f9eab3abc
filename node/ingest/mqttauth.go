package ingest

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
)

// MQTTAuthDomain is the signing domain of an MQTT password token: the
// token signs SHA-256("waterchain/mqtt-auth/v1" || len(chain id) || chain
// id || device key (32 bytes) || Unix milliseconds (8 bytes, big-endian)) with
// the device key, as chain.SignDigest does for every signed type.
const MQTTAuthDomain = "mqtt-auth"

// DefaultTokenWindow is how far a token's time may be from the node's
// clock, either way, when BrokerConfig.TokenWindow is zero.
const DefaultTokenWindow = 2 * time.Minute

// Errors of MQTT authentication. The broker refuses the CONNECT with the
// matching CONNACK code and, to MQTT 5 clients, the error as reason string.
var (
	// ErrAnonymous: a client without username and password while the
	// broker does not allow anonymous clients.
	ErrAnonymous = errors.New("anonymous MQTT clients are not allowed")
	// ErrBadCredentials: a username that is not a device key or a
	// password that is not a token "UNIX-MILLISECONDS:SIGNATURE-HEX".
	ErrBadCredentials = errors.New("bad MQTT credentials")
	// ErrTokenTime: the token's time is outside the window around the
	// node's clock.
	ErrTokenTime = errors.New("MQTT token time outside the window")
	// ErrTokenReused: the token was already used to connect.
	ErrTokenReused = errors.New("MQTT token already used")
	// ErrWillTopic: a will on a topic the client may not publish to.
	ErrWillTopic = errors.New("MQTT will topic not allowed")
)

// mqttAuthBytes is what a token signs (with the domain and chain id added
// by chain.SignDigest).
func mqttAuthBytes(device chain.PubKey, ms int64) []byte {
	b := make([]byte, 0, len(device)+8)
	b = append(b, device[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(ms))
}

// MQTTCredentials returns the username (the device key in hex) and the
// password (a token "UNIX-MILLISECONDS:SIGNATURE-HEX", signed for time
// at) with which the meter of key connects to a node's broker for chainID.
// Make a fresh token for each connection: the broker refuses a token it
// has already seen (the same device and millisecond), and one whose time
// is off its clock by more than its window (DefaultTokenWindow).
func MQTTCredentials(chainID string, key *chain.PrivateKey, at time.Time) (username, password string) {
	ms := at.UnixMilli()
	sig := key.Sign(MQTTAuthDomain, chainID, mqttAuthBytes(key.Public(), ms))
	return key.Public().String(), strconv.FormatInt(ms, 10) + ":" + hex.EncodeToString(sig)
}

// maxTokenLen bounds a password before it is parsed: 19 digits, a colon
// and 128 hex digits.
const maxTokenLen = 19 + 1 + 128

// parseCredentials checks the form of a username and a token password and
// returns the device, the token's time (Unix ms) and its signature.
func parseCredentials(username, password []byte) (chain.PubKey, int64, chain.Signature, error) {
	var dev chain.PubKey
	if len(username) != 2*len(dev) {
		return dev, 0, nil, fmt.Errorf("%w: username has %d characters, want the device key as %d hex digits", ErrBadCredentials, len(username), 2*len(dev))
	}
	if _, err := hex.Decode(dev[:], username); err != nil {
		return dev, 0, nil, fmt.Errorf("%w: username is not the device key in hex: %v", ErrBadCredentials, err)
	}
	if len(password) > maxTokenLen {
		return dev, 0, nil, fmt.Errorf("%w: password has %d bytes, a token has at most %d", ErrBadCredentials, len(password), maxTokenLen)
	}
	ts, sigHex, ok := strings.Cut(string(password), ":")
	if !ok {
		return dev, 0, nil, fmt.Errorf("%w: password is not a token UNIX-MILLISECONDS:SIGNATURE-HEX (waterchain keys mqtt-token makes one)", ErrBadCredentials)
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ms < 0 || strings.HasPrefix(ts, "+") {
		return dev, 0, nil, fmt.Errorf("%w: token time %q is not Unix milliseconds", ErrBadCredentials, ts)
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != 64 {
		return dev, 0, nil, fmt.Errorf("%w: token signature is not 128 hex digits", ErrBadCredentials)
	}
	return dev, ms, sig, nil
}

// usedTokens remembers the tokens that opened a connection until their
// time leaves the window, so that a token seen on the wire cannot open a
// second one. A token is named by its device and time, not by its
// signature bytes, which a third party might re-encode. Only tokens whose
// signature verified for a registered device enter, so its size is bounded
// by the legitimate connections of one window; expired entries are swept
// when it has doubled since the last sweep.
type usedTokens struct {
	mu      sync.Mutex // guards seen, sweepAt
	seen    map[tokenID]int64
	sweepAt int
}

type tokenID struct {
	device chain.PubKey
	ms     int64
}

// used reports whether the token was already used.
func (u *usedTokens) used(id tokenID) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.seen[id]
	return ok
}

// add records a token valid until the Unix millisecond expires; false when
// it was already there.
func (u *usedTokens) add(id tokenID, expires, now int64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.seen == nil {
		u.seen, u.sweepAt = map[tokenID]int64{}, 1024
	}
	if _, ok := u.seen[id]; ok {
		return false
	}
	if len(u.seen) >= u.sweepAt {
		for k, exp := range u.seen {
			if exp < now {
				delete(u.seen, k)
			}
		}
		u.sweepAt = max(1024, 2*len(u.seen))
	}
	u.seen[id] = expires
	return true
}

// verifyToken checks a parsed token, cheapest first: time, the registry, a
// replayed token, and last the signature; a token that passes is
// remembered as used.
func (b *Broker) verifyToken(dev chain.PubKey, ms int64, sig chain.Signature, now time.Time) error {
	nowMS, window := now.UnixMilli(), b.cfg.TokenWindow.Milliseconds()
	if ms < nowMS-window || ms > nowMS+window {
		return fmt.Errorf("%w: token time %d, node time %d (Unix ms), window ±%s; make a fresh token and check the meter's clock", ErrTokenTime, ms, nowMS, b.cfg.TokenWindow)
	}
	if err := b.cfg.Devices.DeviceActive(dev); err != nil {
		return err
	}
	id := tokenID{dev, ms}
	reused := fmt.Errorf("%w: device %s, token time %d; make a fresh token for each connection", ErrTokenReused, dev.Short(), ms)
	if b.tokens.used(id) {
		return reused
	}
	if err := chain.Verify(dev, MQTTAuthDomain, b.cfg.ChainID, mqttAuthBytes(dev, ms), sig); err != nil {
		return fmt.Errorf("%w (is the token signed with the device key for chain %q?)", err, b.cfg.ChainID)
	}
	if !b.tokens.add(id, ms+window, nowMS) {
		return reused // the same token, verified at the same moment
	}
	return nil
}

// admit decides a CONNECT: a meter with valid credentials, or an anonymous
// client when they are allowed; a will only on a topic the client may
// publish to. It scopes the client id by the identity ("<device hex>/id"
// or "anonymous/id"), so that no client can take over the session of
// another device. On refusal it returns the CONNACK code.
func (b *Broker) admit(cl *mqtt.Client, pk packets.Packet) (packets.Code, error) {
	user, pass := pk.Connect.Username, pk.Connect.Password
	scope := "anonymous"
	if len(user) == 0 && len(pass) == 0 {
		if !b.cfg.AllowAnonymous {
			return packets.ErrNotAuthorized, fmt.Errorf("%w: connect with username = the device key in hex and password = a fresh token (waterchain keys mqtt-token makes both; see node/ingest/README.md)", ErrAnonymous)
		}
		if pk.Connect.WillFlag && !b.mayPublish(nil, pk.Connect.WillTopic) {
			return packets.ErrNotAuthorized, fmt.Errorf("%w: %q; a will must be on a readings topic", ErrWillTopic, pk.Connect.WillTopic)
		}
	} else {
		dev, ms, sig, err := parseCredentials(user, pass)
		if err != nil {
			return packets.ErrBadUsernameOrPassword, err
		}
		if pk.Connect.WillFlag && !b.mayPublish(user, pk.Connect.WillTopic) {
			return packets.ErrNotAuthorized, fmt.Errorf("%w: %q; a meter's will may only be on its own readings topic %s", ErrWillTopic, pk.Connect.WillTopic, ReadingsTopic(b.cfg.ChainID, dev))
		}
		if err := b.verifyToken(dev, ms, sig, b.cfg.Now()); err != nil {
			switch {
			case errors.Is(err, state.ErrUnknownDevice), errors.Is(err, state.ErrDeviceRevoked):
				return packets.ErrNotAuthorized, err
			case errors.Is(err, ErrTokenTime), errors.Is(err, ErrTokenReused), errors.Is(err, chain.ErrBadSignature):
				return packets.ErrBadUsernameOrPassword, err
			}
			return packets.ErrServerUnavailable, err
		}
		scope = dev.String()
	}
	cl.ID = scope + "/" + cl.ID
	return packets.CodeSuccess, nil
}

// v3ConnackCode is the MQTT 3.1.1 return code for an MQTT 5 CONNACK
// reason code of admit.
func v3ConnackCode(c packets.Code) packets.Code {
	switch c.Code {
	case packets.ErrBadUsernameOrPassword.Code:
		return packets.ErrMalformedUsernameOrPassword // 0x04 bad user name or password
	case packets.ErrNotAuthorized.Code:
		return packets.Err3NotAuthorized
	}
	return packets.Err3ServerUnavailable
}

// clientDevice is the device a client authenticated as; ok is false for
// an anonymous client (and for a username that is not a key, which admit
// never lets in).
func clientDevice(username []byte) (chain.PubKey, bool) {
	if len(username) == 0 {
		return chain.PubKey{}, false
	}
	dev, err := chain.ParsePubKey(string(username))
	return dev, err == nil
}

// mayPublish: a meter only to its own readings topic; an anonymous client
// (when they are allowed) to any readings topic. Wills follow the same
// rule.
func (b *Broker) mayPublish(username []byte, topic string) bool {
	if len(username) == 0 {
		_, ok := b.deviceOfTopic(topic)
		return ok && b.cfg.AllowAnonymous
	}
	dev, ok := clientDevice(username)
	return ok && topic == ReadingsTopic(b.cfg.ChainID, dev)
}

// mayRead: a meter only its own result topic; an anonymous client (when
// they are allowed) any device's result topic or all of them ("+").
func (b *Broker) mayRead(username []byte, filter string) bool {
	if len(username) == 0 {
		return b.cfg.AllowAnonymous && b.resultFilterAllowed(filter)
	}
	dev, ok := clientDevice(username)
	return ok && filter == ResultTopic(b.cfg.ChainID, dev)
}
