// Package ingest owns the way readings enter a node: decoding request
// bodies (native JSON and SenML, RFC 8428) into chain.Readings, the unit
// conversion a meter must apply before signing, the door-check contract
// (Submitter) that HTTP and MQTT share, and the embedded MQTT broker.
// The vendor-facing description of the formats, with copy-paste examples,
// is README.md in this directory.
//
// # Decoding
//
// Decode(contentType, body) returns the readings of one body or an error
// wrapping ErrBadBody (answer 400; ErrTooMany 413; ErrContentType 415) —
// nothing of a body that fails to decode may be stored. It checks form
// only: present fields, types, ranges. The caller then hands the readings
// to its Submitter, which runs ValidateBasic and the door checks per
// reading.
//
//   - application/json: one chain.Reading JSON object or an array of them
//     (json tags of chain.Reading; "time" RFC 3339 text or Unix
//     milliseconds; values as integers on the chain's scales). Every field
//     but image_hash is required; unknown fields are rejected, and so is a
//     field given twice (keys match ignoring case, as in encoding/json).
//   - application/senml+json: a SenML pack. Record names resolve (base
//     name + name) to urn:dev:wc:<device hex>:<field>; field is a measure
//     name, "seq" (vs: decimal text, or v up to 2^53), "sig" (vs: 128 hex
//     digits) or "image_hash" (vs: 64 hex digits). Records with the same
//     device and resolved time (bt + t, absolute Unix seconds) form one
//     reading; a pack may carry many readings of many devices. Each
//     measure needs a unit (u, or bu) from Units. bv is added to v as RFC
//     8428 says; vb, vd, s, bs and ut are rejected. Unknown labels are
//     ignored (RFC 8428 §4.4) unless they end in "_" (must-understand:
//     the pack is refused); a label given twice, or differing from a
//     defined one only in case, refuses the pack.
//   - no content type: Sniff decides (for MQTT 3.1.1, which has none).
//
// DecodeLimit bounds the readings per body (Decode: DefaultMaxReadings); a
// SenML pack may have at most 12 records per allowed reading. Numbers are
// parsed exactly as decimals (at most 40 significant digits, exponent
// within ±40), so no float rounding enters: value × unit factor is exact
// and then rounded once, half away from zero, to the chain's integer.
//
// # Units and signing
//
// A meter signs the canonical chain.Reading built from chain integers, so it
// must convert exactly as the node does: ToChain(measure, unit, value)
// (value × Factor of Units, rounded half away from zero; 0.0035 m3/s →
// 12,600,000 mL/h; 0.0005 l → 1 mL; -0.0005 l → -1 mL). Example_signReading
// is the worked example: values, canonical CBOR bytes, digest, signature.
// SenMLFromReading and EncodeSenML write packs in units whose factor is a
// power of ten, so the decimal text is exact and decodes back to the same
// reading; EncodeJSON writes the native array.
//
// # MQTT
//
// NewBroker(cfg, submitter, logger) builds the embedded broker
// (mochi-mqtt); Start binds cfg.Listen, Addr tells the bound address, Close
// stops it. A meter publishes to
//
//	waterchain/<chain id>/readings/<device hex>
//
// a native JSON or SenML payload (MQTT 5 content type, else sniffed),
// whose readings must all be of the topic's device (else ErrDeviceMismatch,
// nothing submitted). The broker decodes, calls Submit, and publishes one
// Result {"seq", "ok", "error", "code"} per reading (one without seq for a
// payload that does not decode) at QoS 1 on
//
//	waterchain/<chain id>/readings/<device hex>/result
//
// An MQTT 5 publisher at QoS 1 also gets the PUBACK reason code of a
// rejected message (no reading accepted): 0x99 payload format invalid,
// 0x90 topic name invalid (device mismatch), 0x87 not authorized (bad
// signature, unknown or revoked device), 0x83 otherwise, with the error as
// reason string (ReasonCode). Accepted messages are not relayed and
// nothing is retained.
//
// Authentication (mqttauth.go): a meter connects with username = its
// device key in hex and password = a token "UNIX-MILLISECONDS:SIG-HEX"
// (MQTTCredentials), an ed25519 signature in the domain MQTTAuthDomain over
// the chain id, device key and time. OnConnect checks it cheapest first:
// form, time within cfg.TokenWindow of cfg.Now, cfg.Devices.DeviceActive,
// not used before (one connection per token), and last the signature. It
// refuses clients without credentials unless cfg.AllowAnonymous. A meter
// may publish only to its own readings topic and subscribe only to its own
// result topic; a will must pass the same rule and is handled like a
// publish when it fires; session ids are kept as "<device hex>/<client id>"
// ("anonymous/<client id>"), so no client can take over another device's
// session. Anonymous clients, when allowed, keep the rules of before: any
// readings topic, any result topic or "+".
//
// # What callers must do
//
// The node implements Submitter (SubmitterFunc adapts a method) with every
// door check: ValidateBasic, signature, device registered and active,
// sequence above the last, time within the window, mempool room; it must be
// safe for concurrent use, since HTTP handlers and MQTT clients call it at
// once. The HTTP handler passes the Content-Type header and the body (with
// its own size limit) to Decode. Bad signatures seen at the door should be
// reported to the alerts engine (alerts.Engine.DoorReject).
package ingest
