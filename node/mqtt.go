package node

import (
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/ingest"
)

// startMQTT runs the embedded MQTT broker when the config enables it:
// readings published by meters are checked at the same door as HTTP ones,
// and each publisher learns every reading's fate on its result topic.
func (n *Node) startMQTT() error {
	if !n.cfg.MQTT.Enabled {
		return nil
	}
	b, err := ingest.NewBroker(ingest.BrokerConfig{
		ChainID: n.chainID,
		Listen:  n.cfg.MQTT.Listen,
		ErrorCode: func(err error) string {
			if he, ok := err.(*api.HTTPError); ok {
				return he.Code
			}
			return ingest.DefaultErrorCode(err)
		},
	}, ingest.SubmitterFunc(n.SubmitReadings), n.log.With("component", "mqtt"))
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
