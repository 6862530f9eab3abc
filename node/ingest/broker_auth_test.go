package ingest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/waterchain/waterchain/chain"
)

// CONNACK return codes of MQTT 3.1.1, which paho speaks.
const (
	connackAccepted       = 0x00
	connackBadCredentials = 0x04
	connackNotAuthorized  = 0x05
)

// lastTokenMS makes the tests' token times distinct: a token names its
// device and millisecond, and the tests connect faster than one a
// millisecond.
var lastTokenMS atomic.Int64

// freshTime is now, or a millisecond after the last token time if that
// is not earlier.
func freshTime() time.Time {
	for {
		last, now := lastTokenMS.Load(), time.Now().UnixMilli()
		next := max(now, last+1)
		if lastTokenMS.CompareAndSwap(last, next) {
			return time.UnixMilli(next)
		}
	}
}

// meterOptions are the paho options of a meter of key: a fresh token for
// every connection attempt, as a real meter should make.
func meterOptions(b *Broker, key *chain.PrivateKey, clientID string) *paho.ClientOptions {
	return paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID(clientID).
		SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).
		SetCredentialsProvider(func() (string, string) { return MQTTCredentials(testChainID, key, freshTime()) })
}

// tryConnect connects with opts and returns the CONNACK return code; the
// client is disconnected at the end of the test when it got in.
func tryConnect(t *testing.T, opts *paho.ClientOptions) (byte, paho.Client) {
	t.Helper()
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("connect: no CONNACK within 10s")
	}
	code := tok.(*paho.ConnectToken).ReturnCode()
	if tok.Error() == nil {
		t.Cleanup(func() { c.Disconnect(100) })
	} else if code == connackAccepted {
		t.Fatalf("connect failed without a refusal: %v", tok.Error())
	}
	return code, c
}

// connectMeter connects an authenticated meter and fails the test when it
// is refused.
func connectMeter(t *testing.T, b *Broker, key *chain.PrivateKey, clientID string) paho.Client {
	t.Helper()
	code, c := tryConnect(t, meterOptions(b, key, clientID))
	if code != connackAccepted {
		t.Fatalf("meter %s refused: CONNACK %#x", key.Public().Short(), code)
	}
	return c
}

// subscribeResults subscribes c to the result topic of dev.
func subscribeResults(t *testing.T, c paho.Client, dev chain.PubKey) <-chan Result {
	t.Helper()
	results := make(chan Result, 16)
	tok := c.Subscribe(ResultTopic(testChainID, dev), 1, func(_ paho.Client, m paho.Message) {
		var r Result
		if err := json.Unmarshal(m.Payload(), &r); err != nil {
			r = Result{Error: "not a result: " + string(m.Payload())}
		}
		results <- r
	})
	waitToken(t, tok, "subscribe")
	if q := tok.(*paho.SubscribeToken).Result()[ResultTopic(testChainID, dev)]; q != 1 {
		t.Fatalf("subscribe to the own result topic: granted %#x, want 1", q)
	}
	return results
}

// publishAndResult publishes a reading of key and returns its result.
func publishAndResult(t *testing.T, c paho.Client, results <-chan Result, key *chain.PrivateKey, seq uint64) Result {
	t.Helper()
	body, _ := EncodeJSON([]*chain.Reading{signedReading(t, key, seq)})
	waitToken(t, c.Publish(ReadingsTopic(testChainID, key.Public()), 1, false, body), "publish")
	return nextResult(t, results, fmt.Sprintf("seq %d", seq))
}

// waitClients waits until the broker has n connected clients. A client
// that dropped its connection is counted until its will was handled.
func waitClients(t *testing.T, b *Broker, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for atomic.LoadInt64(&b.server.Info.ClientsConnected) != n {
		if time.Now().After(deadline) {
			t.Fatalf("broker has %d clients, want %d", atomic.LoadInt64(&b.server.Info.ClientsConnected), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBrokerRefusesUnauthenticated: without allow_anonymous a client needs
// a fresh token of a registered, active device, signed for this chain.
func TestBrokerRefusesUnauthenticated(t *testing.T) {
	meter, other, revoked, stranger := testKey(t, "meter"), testKey(t, "other"), testKey(t, "revoked"), testKey(t, "stranger")
	door := newFakeDoor(meter.Public(), other.Public(), revoked.Public())
	reg := newFakeRegistry(meter.Public(), other.Public(), revoked.Public())
	reg.revoke(revoked.Public())
	b := startBrokerWith(t, door, reg)
	now := freshTime()
	user, pass := MQTTCredentials(testChainID, meter, now)
	_, forged := MQTTCredentials(testChainID, other, now) // signed by another key
	_, otherChain := MQTTCredentials("waterchain-other", meter, now)
	_, stale := MQTTCredentials(testChainID, meter, now.Add(-DefaultTokenWindow-time.Minute))
	_, early := MQTTCredentials(testChainID, meter, now.Add(DefaultTokenWindow+time.Minute))
	strangerUser, strangerPass := MQTTCredentials(testChainID, stranger, now)
	revokedUser, revokedPass := MQTTCredentials(testChainID, revoked, now)
	_, sig, _ := strings.Cut(pass, ":")

	for _, c := range []struct {
		name, user, pass string
		want             byte
	}{
		{"anonymous", "", "", connackNotAuthorized},
		{"username only", user, "", connackBadCredentials},
		{"username not a key", "meter-1", pass, connackBadCredentials},
		{"username upper-case junk", strings.Repeat("Z", 64), pass, connackBadCredentials},
		{"password not a token", user, "secret", connackBadCredentials},
		{"token time not a number", user, "soon:" + sig, connackBadCredentials},
		{"signature too short", user, pass[:len(pass)-2], connackBadCredentials},
		{"signed by another key", user, forged, connackBadCredentials},
		{"signed for another chain", user, otherChain, connackBadCredentials},
		{"stale token", user, stale, connackBadCredentials},
		{"token from the future", user, early, connackBadCredentials},
		{"unregistered device", strangerUser, strangerPass, connackNotAuthorized},
		{"revoked device", revokedUser, revokedPass, connackNotAuthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("intruder").
				SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetUsername(c.user).SetPassword(c.pass)
			if code, _ := tryConnect(t, opts); code != c.want {
				t.Fatalf("CONNACK %#x, want %#x", code, c.want)
			}
		})
	}

	// A token opens one connection: the one the meter used above is spent,
	// however fresh.
	var first sync.Once
	var spent string
	opts := meterOptions(b, meter, "meter-2").SetCredentialsProvider(func() (string, string) {
		first.Do(func() { _, spent = MQTTCredentials(testChainID, meter, freshTime()) })
		return meter.Public().String(), spent
	})
	if code, _ := tryConnect(t, opts); code != connackAccepted {
		t.Fatalf("fresh token: CONNACK %#x", code)
	}
	if code, _ := tryConnect(t, opts); code != connackBadCredentials {
		t.Fatalf("replayed token: CONNACK %#x, want %#x", code, connackBadCredentials)
	}
	if got := door.acceptedSeqs(); len(got) != 0 {
		t.Fatalf("readings submitted: %v", got)
	}
}

// TestBrokerChecksTheRegistryBeforeTheSignature: a flood of tokens for
// unknown devices costs a map lookup each, never a signature check; and a
// malformed token costs not even that.
func TestBrokerChecksTheRegistryBeforeTheSignature(t *testing.T) {
	reg := newFakeRegistry()
	b := startBrokerWith(t, newFakeDoor(), reg)
	key := testKey(t, "stranger")
	user, pass := MQTTCredentials(testChainID, key, time.Now())
	if err := b.verifyToken(key.Public(), time.Now().UnixMilli(), make(chain.Signature, 64), time.Now()); err == nil || errors.Is(err, chain.ErrBadSignature) {
		t.Fatalf("zero signature of an unknown device: %v, want the registry's refusal", err)
	}
	if _, _, _, err := parseCredentials([]byte(user), []byte(pass+"0")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("token one digit too long: %v", err)
	}
	if reg.lookups != 1 {
		t.Fatalf("registry lookups %d, want 1", reg.lookups)
	}
}

// droppable returns paho options whose connection the test can cut
// without a DISCONNECT, as a crashed client or an attacker would.
func droppable(opts *paho.ClientOptions) (*paho.ClientOptions, func()) {
	var mu sync.Mutex
	var conns []net.Conn
	opts.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	})
	return opts, func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}
}

// TestBrokerRefusesWillSpoof: a will is held to the rules of a publish. A
// client that sets its will to a meter's result topic (or to a topic it
// may not publish to) and drops the connection is refused at CONNECT, and
// the meter's subscriber receives nothing but its own results. It holds
// for authenticated meters and for anonymous clients when they are allowed.
func TestBrokerRefusesWillSpoof(t *testing.T) {
	victim, attacker := testKey(t, "meter"), testKey(t, "other")
	door := newFakeDoor(victim.Public(), attacker.Public())
	b := startBroker(t, door, func(c *BrokerConfig) { c.AllowAnonymous = true })
	meter := connectMeter(t, b, victim, "meter-1")
	results := subscribeResults(t, meter, victim.Public())
	spoof := []byte(`{"seq":235,"ok":true}`)

	anonymous := func() *paho.ClientOptions {
		return paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("anon").
			SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
	}
	seq := uint64(0)
	for _, c := range []struct {
		name  string
		opts  *paho.ClientOptions
		topic string
	}{
		{"meter, victim's result topic", meterOptions(b, attacker, "attacker"), ResultTopic(testChainID, victim.Public())},
		{"meter, victim's readings topic", meterOptions(b, attacker, "attacker"), ReadingsTopic(testChainID, victim.Public())},
		{"meter, own result topic", meterOptions(b, attacker, "attacker"), ResultTopic(testChainID, attacker.Public())},
		{"meter, other topic", meterOptions(b, attacker, "attacker"), "waterchain/" + testChainID + "/alerts"},
		{"anonymous, victim's result topic", anonymous(), ResultTopic(testChainID, victim.Public())},
		{"anonymous, all results", anonymous(), "waterchain/" + testChainID + "/readings/+/result"},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts, drop := droppable(c.opts.SetBinaryWill(c.topic, spoof, 1, false))
			code, client := tryConnect(t, opts)
			if code == connackAccepted {
				drop()
				client.Disconnect(0)
				waitClients(t, b, 1) // the will, if any, has been published
			}
			if code != connackNotAuthorized {
				t.Errorf("will on %s: CONNACK %#x, want %#x", c.topic, code, connackNotAuthorized)
			}
			// The meter's next result comes first: no will before it.
			seq++
			if r := publishAndResult(t, meter, results, victim, seq); !r.OK || r.Seq != seq {
				t.Fatalf("the meter got %+v, want the result of its seq %d", r, seq)
			}
			select {
			case r := <-results:
				t.Fatalf("the meter got an extra message %+v", r)
			default:
			}
		})
	}
}

// TestBrokerHandlesAWillLikeAPublish: a will on the meter's own readings
// topic is decoded, checked and submitted when the connection drops, and
// its result published; nothing is relayed.
func TestBrokerHandlesAWillLikeAPublish(t *testing.T) {
	key := testKey(t, "meter")
	door := newFakeDoor(key.Public())
	b := startBroker(t, door)
	results := subscribeResults(t, connectMeter(t, b, key, "listener"), key.Public())
	body, _ := EncodeJSON([]*chain.Reading{signedReading(t, key, 7)})
	opts, drop := droppable(meterOptions(b, key, "last-words").SetBinaryWill(ReadingsTopic(testChainID, key.Public()), body, 1, false))
	if code, c := tryConnect(t, opts); code != connackAccepted {
		t.Fatalf("will on the own readings topic: CONNACK %#x", code)
	} else {
		drop()
		c.Disconnect(0)
	}
	if r := nextResult(t, results, "the will"); !r.OK || r.Seq != 7 {
		t.Fatalf("the will's result: %+v", r)
	}
	if got := door.acceptedSeqs(); fmt.Sprint(got) != "[7]" {
		t.Fatalf("accepted %v, want [7]", got)
	}
}

// TestBrokerBindsMetersToTheirOwnTopics: an authenticated meter may
// publish only to its own readings topic and subscribe only to its own
// result topic, even with another device's validly signed reading.
func TestBrokerBindsMetersToTheirOwnTopics(t *testing.T) {
	a, victim := testKey(t, "meter"), testKey(t, "other")
	door := newFakeDoor(a.Public(), victim.Public())
	b := startBroker(t, door)
	client := connectMeter(t, b, a, "meter-a")
	for _, filter := range []string{
		ResultTopic(testChainID, victim.Public()),
		"waterchain/" + testChainID + "/readings/+/result",
		ReadingsTopic(testChainID, victim.Public()),
		ReadingsTopic(testChainID, a.Public()),
		"waterchain/#",
		"#",
		"$share/g/" + ResultTopic(testChainID, victim.Public()),
	} {
		tok := client.Subscribe(filter, 1, func(paho.Client, paho.Message) {})
		waitToken(t, tok, "subscribe "+filter)
		res := tok.(*paho.SubscribeToken).Result() // paho keys it without $share/NAME/
		if len(res) != 1 {
			t.Fatalf("subscribe %s: %d results", filter, len(res))
		}
		for _, q := range res {
			if q != 0x80 {
				t.Errorf("subscribe %s: granted %#x, want failure 0x80", filter, q)
			}
		}
	}
	// The victim's own reading, validly signed, on the victim's topic; at
	// QoS 1 the broker (MQTT 3.1.1) refuses it by closing the connection.
	lost := make(chan struct{})
	opts := meterOptions(b, a, "meter-a-pub").SetConnectionLostHandler(func(paho.Client, error) { close(lost) })
	code, pub := tryConnect(t, opts)
	if code != connackAccepted {
		t.Fatalf("CONNACK %#x", code)
	}
	body, _ := EncodeJSON([]*chain.Reading{signedReading(t, victim, 1)})
	tok := pub.Publish(ReadingsTopic(testChainID, victim.Public()), 1, false, body)
	select {
	case <-lost:
	case <-tok.Done():
		if tok.Error() == nil {
			t.Errorf("publish to another meter's topic acknowledged")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("publish to another meter's topic: neither acknowledged nor refused within 10s")
	}
	if got := door.acceptedSeqs(); len(got) != 0 {
		t.Fatalf("readings submitted through another meter's topic: %v", got)
	}
	// The meter's own topics still work.
	results := subscribeResults(t, client, a.Public())
	if r := publishAndResult(t, client, results, a, 1); !r.OK {
		t.Fatalf("own reading: %+v", r)
	}
}

// TestBrokerScopesClientIDs: a client id belongs to its device, so neither
// another meter nor an anonymous client (when allowed) can take over a
// meter's session, whatever id it sends.
func TestBrokerScopesClientIDs(t *testing.T) {
	a, other := testKey(t, "meter"), testKey(t, "other")
	door := newFakeDoor(a.Public(), other.Public())
	b := startBroker(t, door, func(c *BrokerConfig) { c.AllowAnonymous = true })
	var lost atomic.Bool
	code, meter := tryConnect(t, meterOptions(b, a, "meter-1").SetConnectionLostHandler(func(paho.Client, error) { lost.Store(true) }))
	if code != connackAccepted {
		t.Fatalf("CONNACK %#x", code)
	}
	results := subscribeResults(t, meter, a.Public())
	anon := func(id string) *paho.ClientOptions {
		return paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID(id).
			SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
	}
	scoped := a.Public().String() + "/meter-1"
	for i, opts := range []*paho.ClientOptions{
		meterOptions(b, other, "meter-1"),
		meterOptions(b, other, scoped),
		anon("meter-1"),
		anon(scoped),
		anon("anonymous/" + scoped),
	} {
		opts.SetCleanSession(false)
		if code, _ := tryConnect(t, opts); code != connackAccepted {
			t.Fatalf("intruder %d: CONNACK %#x", i, code)
		}
		if r := publishAndResult(t, meter, results, a, uint64(i+1)); !r.OK || lost.Load() {
			t.Fatalf("after intruder %d: result %+v, connection lost %v", i, r, lost.Load())
		}
	}
}

// TestMQTTCredentials checks the token against the formula of README.md,
// computed here by hand.
func TestMQTTCredentials(t *testing.T) {
	key := testKey(t, "meter")
	at := time.UnixMilli(1_795_946_400_123)
	user, pass := MQTTCredentials(testChainID, key, at)
	if user != key.Public().String() {
		t.Fatalf("username %s, want the device key", user)
	}
	ms, sigHex, ok := strings.Cut(pass, ":")
	if !ok || ms != "1795946400123" || len(sigHex) != 128 {
		t.Fatalf("password %q, want 1795946400123:<128 hex digits>", pass)
	}
	h := sha256.New()
	h.Write([]byte("waterchain/mqtt-auth/v1"))
	h.Write([]byte{byte(len(testChainID))})
	h.Write([]byte(testChainID))
	pub := key.Public()
	h.Write(pub[:])
	h.Write(binary.BigEndian.AppendUint64(nil, 1_795_946_400_123))
	if want := hex.EncodeToString(ed25519.Sign(key.Ed25519(), h.Sum(nil))); sigHex != want {
		t.Fatalf("signature %s is not ed25519 over the documented digest (%s)", sigHex, want)
	}
}

// TestUsedTokensSweep: spent tokens are forgotten once their window has
// passed, so the memory holds one window of connections.
func TestUsedTokensSweep(t *testing.T) {
	var u usedTokens
	dev := testKey(t, "meter").Public()
	for i := int64(0); i < 5000; i++ {
		if !u.add(tokenID{dev, i}, i+100, i) {
			t.Fatalf("token %d refused", i)
		}
	}
	if u.add(tokenID{dev, 4999}, 5099, 4999) {
		t.Fatal("a spent token was taken twice")
	}
	if n := len(u.seen); n > 2048 {
		t.Fatalf("%d tokens remembered, want at most 2048 (one window of 100 plus sweep slack)", n)
	}
	if !u.used(tokenID{dev, 4990}) || u.used(tokenID{dev, 10}) {
		t.Fatal("the memory lost a live token or kept an expired one")
	}
}

// TestREADMEMQTTToken checks README.md's worked token example.
func TestREADMEMQTTToken(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	key, _ := chain.NewPrivateKey(seed)
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	user, pass := MQTTCredentials("waterchain-devnet", key, at)
	msg := mqttAuthBytes(key.Public(), at.UnixMilli())
	digest := chain.SignDigest(MQTTAuthDomain, "waterchain-devnet", msg)
	for _, line := range []string{
		"username   " + user,
		"message    " + hex.EncodeToString(msg),
		"digest     " + hex.EncodeToString(digest[:]),
		"password   " + pass,
	} {
		if !strings.Contains(string(raw), "\n"+line+"\n") {
			t.Errorf("README lacks the line %q", line)
		}
	}
}

// FuzzParseCredentials: any username and password either parse into a
// device, a time and a 64-byte signature, or are refused with
// ErrBadCredentials; never a panic.
func FuzzParseCredentials(f *testing.F) {
	key := testKey(f, "meter")
	user, pass := MQTTCredentials(testChainID, key, time.UnixMilli(1_795_946_400_000))
	f.Add([]byte(user), []byte(pass))
	f.Add([]byte(user), []byte("1:"+strings.Repeat("0", 128)))
	f.Add([]byte(""), []byte(""))
	f.Add([]byte(strings.ToUpper(user)), []byte("+1:00"))
	f.Fuzz(func(t *testing.T, username, password []byte) {
		dev, ms, sig, err := parseCredentials(username, password)
		if err != nil {
			if !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("error %v does not wrap ErrBadCredentials", err)
			}
			return
		}
		if len(sig) != 64 || ms < 0 || !strings.EqualFold(dev.String(), string(username)) {
			t.Fatalf("parsed %s %d %x from %q %q", dev, ms, sig, username, password)
		}
	})
}
