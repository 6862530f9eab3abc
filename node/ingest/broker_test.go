package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
)

// fakeDoor is a Submitter doing the node's door checks against a fixed
// device list: known device, signature, increasing seq.
type fakeDoor struct {
	mu       sync.Mutex // guards known, last, accepted
	known    map[chain.PubKey]bool
	last     map[chain.PubKey]uint64
	accepted []*chain.Reading
}

func newFakeDoor(devs ...chain.PubKey) *fakeDoor {
	d := &fakeDoor{known: map[chain.PubKey]bool{}, last: map[chain.PubKey]uint64{}}
	for _, k := range devs {
		d.known[k] = true
	}
	return d
}

func (d *fakeDoor) Submit(rs []*chain.Reading) []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	errs := make([]error, len(rs))
	for i, r := range rs {
		switch {
		case !d.known[r.Device]:
			errs[i] = fmt.Errorf("%w: device %s", state.ErrUnknownDevice, r.Device.Short())
		case r.VerifySignature(testChainID) != nil:
			errs[i] = r.VerifySignature(testChainID)
		case r.Seq <= d.last[r.Device]:
			errs[i] = fmt.Errorf("%w: seq %d, last %d", state.ErrReplayedSeq, r.Seq, d.last[r.Device])
		default:
			d.last[r.Device] = r.Seq
			d.accepted = append(d.accepted, r)
		}
	}
	return errs
}

func (d *fakeDoor) acceptedSeqs() []uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []uint64
	for _, r := range d.accepted {
		out = append(out, r.Seq)
	}
	return out
}

// fakeRegistry is a DeviceRegistry of fixed devices, some revoked.
type fakeRegistry struct {
	mu      sync.Mutex // guards active
	active  map[chain.PubKey]bool
	lookups int
}

func newFakeRegistry(devs ...chain.PubKey) *fakeRegistry {
	r := &fakeRegistry{active: map[chain.PubKey]bool{}}
	for _, k := range devs {
		r.active[k] = true
	}
	return r
}

func (r *fakeRegistry) revoke(k chain.PubKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active[k] = false
}

func (r *fakeRegistry) DeviceActive(k chain.PubKey) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	active, ok := r.active[k]
	switch {
	case !ok:
		return fmt.Errorf("%w: %s", state.ErrUnknownDevice, k.Short())
	case !active:
		return fmt.Errorf("%w: %s", state.ErrDeviceRevoked, k.Short())
	}
	return nil
}

// startBroker starts a broker whose registry holds the door's devices.
func startBroker(t *testing.T, door *fakeDoor, configure ...func(*BrokerConfig)) *Broker {
	t.Helper()
	door.mu.Lock()
	var devs []chain.PubKey
	for k := range door.known {
		devs = append(devs, k)
	}
	door.mu.Unlock()
	return startBrokerWith(t, door, newFakeRegistry(devs...), configure...)
}

func startBrokerWith(t *testing.T, door Submitter, reg DeviceRegistry, configure ...func(*BrokerConfig)) *Broker {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := BrokerConfig{ChainID: testChainID, Listen: "127.0.0.1:0", Devices: reg}
	for _, f := range configure {
		f(&cfg)
	}
	b, err := NewBroker(cfg, door, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func waitToken(t *testing.T, tok paho.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("%s: no answer within 10s", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func nextResult(t *testing.T, c <-chan Result, what string) Result {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no result message within 10s", what)
		return Result{}
	}
}

// TestBrokerPahoRoundTrip drives the broker with a real MQTT 3.1.1 client
// (eclipse/paho.mqtt.golang): a good reading is accepted, a forged one
// rejected with the reason on the result topic, and so are a replay, a
// reading of another device and a malformed payload.
func TestBrokerPahoRoundTrip(t *testing.T) {
	key, other, forger := testKey(t, "meter"), testKey(t, "other"), testKey(t, "forger")
	door := newFakeDoor(key.Public(), other.Public())
	b := startBroker(t, door)

	client := connectMeter(t, b, key, "meter-1")

	results := make(chan Result, 16)
	sub := client.Subscribe(ResultTopic(testChainID, key.Public()), 1, func(_ paho.Client, m paho.Message) {
		var r Result
		if err := json.Unmarshal(m.Payload(), &r); err != nil {
			t.Errorf("result %s: %v", m.Payload(), err)
		}
		results <- r
	})
	waitToken(t, sub, "subscribe")

	topic := ReadingsTopic(testChainID, key.Public())
	publish := func(payload []byte) {
		waitToken(t, client.Publish(topic, 1, false, payload), "publish")
	}

	good := signedReading(t, key, 1)
	body, _ := EncodeJSON([]*chain.Reading{good})
	publish(body)
	if r := nextResult(t, results, "good reading"); !r.OK || r.Seq != 1 || r.Error != "" {
		t.Fatalf("good reading: %+v", r)
	}

	forged := signedReading(t, key, 2)
	forged.Sign(testChainID, forger) // the meter's key is not the signer
	body, _ = EncodeJSON([]*chain.Reading{forged})
	publish(body)
	r := nextResult(t, results, "forged reading")
	if r.OK || r.Seq != 2 || r.Code != "bad_signature" || !strings.Contains(r.Error, "bad signature") {
		t.Fatalf("forged reading: %+v", r)
	}

	// SenML works the same; a replay of seq 1 is refused.
	body, _ = EncodeSenML([]*chain.Reading{signedReading(t, key, 3), good})
	publish(body)
	if r := nextResult(t, results, "senml seq 3"); !r.OK || r.Seq != 3 {
		t.Fatalf("senml seq 3: %+v", r)
	}
	if r := nextResult(t, results, "replay"); r.OK || r.Code != "replayed" {
		t.Fatalf("replayed seq 1: %+v", r)
	}

	// Another device's reading on this device's topic: nothing submitted.
	body, _ = EncodeJSON([]*chain.Reading{signedReading(t, other, 1)})
	publish(body)
	if r := nextResult(t, results, "mismatch"); r.OK || r.Code != "device_mismatch" {
		t.Fatalf("other device on this topic: %+v", r)
	}
	publish([]byte(`{"device":`))
	if r := nextResult(t, results, "malformed"); r.OK || r.Code != "bad_request" || !strings.Contains(r.Error, "malformed") {
		t.Fatalf("malformed payload: %+v", r)
	}

	if got := door.acceptedSeqs(); fmt.Sprint(got) != "[1 3]" {
		t.Fatalf("accepted seqs %v, want [1 3]", got)
	}

	// The ACL: no subscribing to readings or others' wildcards, no
	// publishing outside readings topics.
	tok := client.Subscribe("waterchain/#", 1, func(paho.Client, paho.Message) {})
	waitToken(t, tok, "subscribe #")
	if q := tok.(*paho.SubscribeToken).Result()["waterchain/#"]; q != 0x80 {
		t.Fatalf("subscribe to waterchain/#: granted qos %#x, want failure 0x80", q)
	}
}

// TestBrokerV5ReasonCodes speaks MQTT 5 on a raw connection (paho.mqtt.golang
// speaks only 3.1.1) to check the PUBACK reason codes.
func TestBrokerV5ReasonCodes(t *testing.T) {
	key, forger := testKey(t, "meter"), testKey(t, "forger")
	b := startBroker(t, newFakeDoor(key.Public()))
	conn, err := net.DialTimeout("tcp", b.Addr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	rd := bufio.NewReader(conn)

	send := func(pk packets.Packet, enc func(*packets.Packet, *bytes.Buffer) error) {
		t.Helper()
		var buf bytes.Buffer
		if err := enc(&pk, &buf); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	user, pass := MQTTCredentials(testChainID, key, freshTime())
	send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: true, ClientIdentifier: "v5-meter", Keepalive: 30,
			Username: []byte(user), UsernameFlag: true, Password: []byte(pass), PasswordFlag: true,
		},
	}, (*packets.Packet).ConnectEncode)
	if typ, raw := readPacket(t, rd); typ != packets.Connack || len(raw) < 2 || raw[1] != 0 {
		t.Fatalf("want CONNACK 0, got packet type %d %x", typ, raw)
	}

	puback := func(id uint16, r *chain.Reading) packets.Packet {
		t.Helper()
		body, _ := EncodeJSON([]*chain.Reading{r})
		send(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5,
			TopicName: ReadingsTopic(testChainID, key.Public()), PacketID: id, Payload: body,
		}, (*packets.Packet).PublishEncode)
		typ, raw := readPacket(t, rd)
		if typ != packets.Puback {
			t.Fatalf("want PUBACK, got packet type %d", typ)
		}
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback, Remaining: len(raw)}, ProtocolVersion: 5}
		if err := pk.PubackDecode(raw); err != nil {
			t.Fatal(err)
		}
		return pk
	}
	if pk := puback(1, signedReading(t, key, 1)); pk.ReasonCode != 0 {
		t.Fatalf("good reading: reason %#x %q", pk.ReasonCode, pk.Properties.ReasonString)
	}
	forged := signedReading(t, key, 2)
	forged.Sign(testChainID, forger)
	pk := puback(2, forged)
	if pk.ReasonCode != packets.ErrNotAuthorized.Code || !strings.Contains(pk.Properties.ReasonString, "bad signature") {
		t.Fatalf("forged reading: reason %#x %q, want 0x87 with the reason", pk.ReasonCode, pk.Properties.ReasonString)
	}
}

// readPacket reads one MQTT packet: its type and its body after the fixed
// header.
func readPacket(t *testing.T, rd *bufio.Reader) (byte, []byte) {
	t.Helper()
	first, err := rd.ReadByte()
	if err != nil {
		t.Fatal(err)
	}
	n, mult := 0, 1
	for {
		c, err := rd.ReadByte()
		if err != nil {
			t.Fatal(err)
		}
		n += int(c&127) * mult
		if c&128 == 0 {
			break
		}
		mult *= 128
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rd, body); err != nil {
		t.Fatal(err)
	}
	return first >> 4, body
}

func TestBrokerConfig(t *testing.T) {
	door, reg := newFakeDoor(), newFakeRegistry()
	for _, c := range []BrokerConfig{
		{ChainID: "", Listen: "127.0.0.1:0", Devices: reg},
		{ChainID: "a/b", Listen: "127.0.0.1:0", Devices: reg},
		{ChainID: "a+", Listen: "127.0.0.1:0", Devices: reg},
		{ChainID: "ok", Listen: "", Devices: reg},
		{ChainID: "ok", Listen: "127.0.0.1:0"},
		{ChainID: "ok", Listen: "127.0.0.1:0", Devices: reg, TokenWindow: -time.Second},
	} {
		if _, err := NewBroker(c, door, nil); err == nil {
			t.Errorf("NewBroker(%+v) accepted", c)
		}
	}
	if _, err := NewBroker(BrokerConfig{ChainID: "ok", Listen: "127.0.0.1:0", Devices: reg}, nil, nil); err == nil {
		t.Error("NewBroker without a Submitter accepted")
	}
	b, err := NewBroker(BrokerConfig{ChainID: "ok", Listen: "127.0.0.1:0", Devices: reg}, door, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil { // close before start
		t.Fatal(err)
	}
	if err := b.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

func TestReasonAndErrorCodes(t *testing.T) {
	for _, c := range []struct {
		err    error
		reason byte
		code   string
	}{
		{ErrMalformed, 0x99, "bad_request"},
		{ErrDeviceMismatch, 0x90, "device_mismatch"},
		{chain.ErrBadSignature, 0x87, "bad_signature"},
		{fmt.Errorf("x: %w", state.ErrUnknownDevice), 0x87, "unknown_device"},
		{state.ErrDeviceRevoked, 0x87, "device_revoked"},
		{state.ErrReplayedSeq, 0x83, "replayed"},
		{state.ErrTimeOutsideWindow, 0x83, "time_outside_window"},
		{fmt.Errorf("mempool full"), 0x83, "rejected"},
	} {
		if got := ReasonCode(c.err); got != c.reason {
			t.Errorf("ReasonCode(%v) = %#x, want %#x", c.err, got, c.reason)
		}
		if got := DefaultErrorCode(c.err); got != c.code {
			t.Errorf("DefaultErrorCode(%v) = %s, want %s", c.err, got, c.code)
		}
	}
}

// TestBrokerResultNamesTheWait: a reading the node refuses for now (its
// window full) comes back on the result topic with the wait after which
// to publish it again, as retry_after_ms; one accepted has none.
func TestBrokerResultNamesTheWait(t *testing.T) {
	key := testKey(t, "meter")
	errFull := errors.New("mempool full: readings waiting exceed what the network finalizes; retry after 600ms")
	door := SubmitterFunc(func(rs []*chain.Reading) []error {
		errs := make([]error, len(rs))
		for i, r := range rs {
			if r.Seq > 1 {
				errs[i] = errFull
			}
		}
		return errs
	})
	b := startBrokerWith(t, door, newFakeRegistry(key.Public()), func(c *BrokerConfig) {
		c.ErrorCode = func(err error) string {
			if err == errFull {
				return "mempool_full"
			}
			return DefaultErrorCode(err)
		}
		c.RetryAfter = func(err error) time.Duration {
			if err == errFull {
				return 600 * time.Millisecond
			}
			return 0
		}
	})
	client := connectMeter(t, b, key, "meter-1")
	results := subscribeResults(t, client, key.Public())
	body, _ := EncodeJSON([]*chain.Reading{signedReading(t, key, 1), signedReading(t, key, 2)})
	waitToken(t, client.Publish(ReadingsTopic(testChainID, key.Public()), 1, false, body), "publish")
	if r := nextResult(t, results, "seq 1"); !r.OK || r.RetryAfterMs != 0 {
		t.Fatalf("accepted reading: %+v", r)
	}
	if r := nextResult(t, results, "seq 2"); r.OK || r.Code != "mempool_full" || r.RetryAfterMs != 600 {
		t.Fatalf("reading refused for now: %+v, want code mempool_full and retry_after_ms 600", r)
	}
}
