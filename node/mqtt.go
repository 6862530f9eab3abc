package node

import (
	"fmt"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/ingest"
)

// startMQTT runs the embedded MQTT broker when the config enables it:
// readings published by meters are checked at the same door as HTTP ones,
// and each publisher learns every reading's fate on its result topic. Meters
// authenticate with their device key against the committed registry.
func (n *Node) startMQTT() error {
	if !n.cfg.MQTT.Enabled {
		return nil
	}
	b, err := ingest.NewBroker(ingest.BrokerConfig{
		ChainID:        n.chainID,
		Listen:         n.cfg.MQTT.Listen,
		Devices:        mqttRegistry{n},
		AllowAnonymous: n.cfg.MQTT.AllowAnonymous,
		TokenWindow:    time.Duration(n.cfg.MQTT.TokenWindowSeconds) * time.Second,
		Now:            n.now,
		ErrorCode: func(err error) string {
			if he, ok := err.(*api.HTTPError); ok {
				return he.Code
			}
			return ingest.DefaultErrorCode(err)
		},
		RetryAfter: func(err error) time.Duration {
			if he, ok := err.(*api.HTTPError); ok {
				return he.RetryAfter
			}
			return 0
		},
	}, ingest.SubmitterFunc(n.SubmitReadings), n.log) // NewBroker adds component=mqtt
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	n.mqtt = b
	n.log.Info("MQTT broker listening", "addr", b.Addr())
	return nil
}

// MQTTAddr is the MQTT broker's address, "" when it is off.
func (n *Node) MQTTAddr() string {
	if n.mqtt == nil {
		return ""
	}
	return n.mqtt.Addr()
}

// mqttRegistry answers the broker from the committed state: one lookup in
// the state cache per authenticating CONNECT.
type mqttRegistry struct{ n *Node }

var _ ingest.DeviceRegistry = mqttRegistry{}

func (r mqttRegistry) DeviceActive(k chain.PubKey) error {
	d, err := state.GetDevice(r.n.state, k)
	if err != nil {
		return err
	}
	if d.Revoked() {
		return fmt.Errorf("%w: device %s was revoked at tx height %d", state.ErrDeviceRevoked, k.Short(), d.RevokedHeight)
	}
	return nil
}
