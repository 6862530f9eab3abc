package node

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/config"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/ingest"
	"github.com/waterchain/waterchain/sim"
)

// TestMQTTRoundTrip publishes readings with a real MQTT client
// (eclipse/paho) to the node's embedded broker: an anonymous client and an
// unregistered key are refused at CONNECT (the default config), a meter
// that authenticates with its device key gets in, its good reading is
// finalized, a forged one is refused with the reason on the result topic.
func TestMQTTRoundTrip(t *testing.T) {
	tn := startTestNetWith(t, 1, 0, 1, testNetOptions{configure: func(i int, cfg *config.Config) {
		cfg.MQTT.Enabled = true
		cfg.MQTT.Listen = "127.0.0.1:0"
	}})
	n := tn.nodes[0]
	if n.MQTTAddr() == "" {
		t.Fatal("the broker is not running")
	}
	dev := tn.deviceKey(0)
	stranger, _ := chain.GenerateKey(nil)
	opts := func(key *chain.PrivateKey) *paho.ClientOptions {
		o := paho.NewClientOptions().AddBroker("tcp://" + n.MQTTAddr()).
			SetClientID("meter-1").SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
		if key != nil {
			o.SetCredentialsProvider(func() (string, string) { return ingest.MQTTCredentials(n.ChainID(), key, time.Now()) })
		}
		return o
	}
	for _, c := range []struct {
		name string
		key  *chain.PrivateKey
	}{{"anonymous", nil}, {"unregistered device", stranger}} {
		tok := paho.NewClient(opts(c.key)).Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			t.Fatalf("%s: no CONNACK", c.name)
		}
		if code := tok.(*paho.ConnectToken).ReturnCode(); code != 0x05 {
			t.Fatalf("%s: CONNACK %#x (%v), want 0x05 not authorized", c.name, code, tok.Error())
		}
	}
	client := paho.NewClient(opts(dev))
	wait := func(tok paho.Token, what string) {
		t.Helper()
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: %v", what, tok.Error())
		}
	}
	wait(client.Connect(), "connect")
	defer client.Disconnect(100)
	results := make(chan ingest.Result, 8)
	wait(client.Subscribe(ingest.ResultTopic(n.ChainID(), dev.Public()), 1, func(_ paho.Client, m paho.Message) {
		var r ingest.Result
		if err := json.Unmarshal(m.Payload(), &r); err != nil {
			t.Errorf("result %s: %v", m.Payload(), err)
		}
		results <- r
	}), "subscribe")
	publish := func(r *chain.Reading) ingest.Result {
		t.Helper()
		body, err := ingest.EncodeJSON([]*chain.Reading{r})
		if err != nil {
			t.Fatal(err)
		}
		wait(client.Publish(ingest.ReadingsTopic(n.ChainID(), dev.Public()), 1, false, body), "publish")
		select {
		case res := <-results:
			return res
		case <-time.After(10 * time.Second):
			t.Fatal("no result on the result topic")
		}
		return ingest.Result{}
	}

	if res := publish(signedReading(n.ChainID(), dev, 1, time.Now())); !res.OK || res.Seq != 1 {
		t.Fatalf("good reading: %+v", res)
	}
	forged := signedReading(n.ChainID(), dev, 2, time.Now())
	forger, _ := chain.GenerateKey(nil)
	forged.Sign(n.ChainID(), forger)
	if res := publish(forged); res.OK || res.Code != api.CodeBadSignature || !strings.Contains(res.Error, "signature") {
		t.Fatalf("forged reading: %+v", res)
	}
	// Final, and written to the store, which the query reads (the
	// commit writer stores a block just after the state takes it).
	waitFor(t, 20*time.Second, "the MQTT reading final and stored", func() bool {
		rs, err := n.Readings(api.ReadingQuery{Device: dev.Public(), Limit: 10})
		return err == nil && len(rs) > 0
	})
	if rs, err := n.Readings(api.ReadingQuery{Device: dev.Public(), Limit: 10}); err != nil || len(rs) != 1 {
		t.Fatalf("final readings of the meter: %d, %v (the forged one must not be stored)", len(rs), err)
	}
}

// TestSimulatedFaultsRaiseAlerts drives simulated meters with faults
// against a running node and checks that each fault is caught, from the
// finalized chain (or at the door for forged signatures), within the number
// of readings package sim states. The leak fault needs three simulated
// nights to learn a baseline and is tested in packages sim and alerts.
func TestSimulatedFaultsRaiseAlerts(t *testing.T) {
	if testing.Short() {
		t.Skip("needs about 15 s of readings")
	}
	faults := []sim.Fault{sim.FaultStuck, sim.FaultMissed, sim.FaultBackwards, sim.FaultClockSkew, sim.FaultLimitBreach, sim.FaultForgedSig}
	want := map[sim.Fault]alerts.Kind{
		sim.FaultStuck: alerts.KindFlatLine, sim.FaultMissed: alerts.KindMissedReadings,
		sim.FaultBackwards: alerts.KindCounterBackwards, sim.FaultClockSkew: alerts.KindClockSkew,
		sim.FaultLimitBreach: alerts.KindLimitExceeded, sim.FaultForgedSig: alerts.KindBadSignature,
	}
	// The permit's limits fit the simulated plants (1.6 times their typical
	// quality, see sim.Profile.Limits), so limit-breach exceeds them and
	// normal readings do not.
	const seed = 7
	tn := startTestNetWith(t, 1, 0, len(faults)+1, testNetOptions{network: func(o *home.NetworkOptions) {
		o.PermitFor = func(_, _ int, _ *chain.Params) genesis.Permit {
			var lim chain.Limits
			for i := 0; i <= len(faults); i++ {
				l := sim.ProfileFor(seed, i).Limits()
				lim.Conductivity = max(lim.Conductivity, l.Conductivity)
				lim.SuspendedSolids = max(lim.SuspendedSolids, l.SuspendedSolids)
				lim.Absorbance = max(lim.Absorbance, l.Absorbance)
				lim.Turbidity = max(lim.Turbidity, l.Turbidity)
			}
			return genesis.Permit{Allowance: 1_000_000, Limits: lim}
		}
	}})
	n := tn.nodes[0]
	var devKeys []*chain.PrivateKey
	for i := range tn.nw.Devices {
		devKeys = append(devKeys, tn.deviceKey(i))
	}
	// One reading per meter per second of the last 14 s (inside the
	// reading window); meter 0 stays healthy.
	fleet, err := sim.NewFleet(sim.Config{ChainID: n.ChainID(), Seed: seed, Devices: len(devKeys), Interval: time.Second, Keys: devKeys, ClockSkew: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Faults start after three good readings: a flat line is a measure
	// that varied and then stopped.
	start := time.Now().Add(-14 * time.Second)
	for s := 0; s < 14; s++ {
		if s == 3 {
			for i, f := range faults {
				fleet.Meters()[i+1].SetFault(f, true)
			}
		}
		rs := fleet.Next(chain.TimeOf(start.Add(time.Duration(s) * time.Second)))
		var res api.SubmitReadingsResult
		httpJSON(t, n, http.MethodPost, "/v1/readings", rs, &res)
	}
	byDevice := map[chain.PubKey]sim.Fault{}
	for i, f := range faults {
		byDevice[fleet.Meters()[i+1].Public()] = f
	}
	defer func() {
		if t.Failed() {
			for _, a := range n.alertLog.List(alerts.Filter{}) {
				t.Logf("alert %s on %s (%s): %s", a.Kind, a.Device.Short(), byDevice[a.Device], a.Message)
			}
			for i, m := range fleet.Meters() {
				d, _ := n.Device(m.Public())
				t.Logf("meter %d %s: last seq %d, missing %d", i, m.Public().Short(), d.LastSeq, d.Missing)
			}
		}
	}()
	waitFor(t, 30*time.Second, "an alert for every fault", func() bool {
		seen := map[sim.Fault]bool{}
		for _, a := range n.alertLog.List(alerts.Filter{}) {
			if f, ok := byDevice[a.Device]; ok && a.Kind == want[f] {
				seen[f] = true
			}
		}
		return len(seen) == len(faults)
	})
	for _, a := range n.alertLog.List(alerts.Filter{Device: fleet.Meters()[0].Public()}) {
		t.Errorf("healthy meter raised %s: %s", a.Kind, a.Message)
	}
}
