package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const peerAddr = "/ip4/127.0.0.1/tcp/26601/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"

func TestDefaultIsValidAndRoundTrips(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default() invalid: %v", err)
	}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(Marshal(Default())): %v\n%s", err, data)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip changed the config:\n%+v\n%+v", back, c)
	}
	if c.API.Listen != "127.0.0.1:7070" || c.Images.MaxBytes != 4<<20 {
		t.Errorf("defaults differ from the documented ones: %+v", c)
	}
	if c.MQTT.AllowAnonymous || c.MQTT.TokenWindowSeconds != 120 {
		t.Errorf("mqtt defaults: allow_anonymous %v, token_window_seconds %d; want false and 120 (node/ingest/README.md)", c.MQTT.AllowAnonymous, c.MQTT.TokenWindowSeconds)
	}
}

func TestParseKeepsDefaultsForMissingKeys(t *testing.T) {
	c, err := Parse([]byte("[api]\nlisten = \"127.0.0.1:8080\"\n\n[p2p]\nbootstrap = [\"" + peerAddr + "\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.API.Listen = "127.0.0.1:8080"
	want.P2P.Bootstrap = []string{peerAddr}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	empty, err := Parse(nil)
	if err != nil || !reflect.DeepEqual(empty, Default()) {
		t.Fatalf("empty file: %v %+v", err, empty)
	}
}

// TestParseSeparateHosts: a node on a host of its own listens on IPv4 and
// IPv6, announces a DNS name and an address, and bootstraps by DNS names.
func TestParseSeparateHosts(t *testing.T) {
	doc := `[p2p]
listen = ["/ip4/0.0.0.0/tcp/26656", "/ip6/::/tcp/26656", "/ip4/0.0.0.0/udp/26656/quic-v1"]
external_addresses = ["/dns4/val2.example.org/tcp/26656", "/ip6/2001:db8::2/tcp/26656"]
bootstrap = ["/dns4/val1.example.org/tcp/26656/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"]
`
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.P2P.Listen) != 3 || len(c.P2P.ExternalAddresses) != 2 || c.P2P.ExternalAddresses[0] != "/dns4/val2.example.org/tcp/26656" {
		t.Fatalf("parsed %+v", c.P2P)
	}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "external_addresses = ") {
		t.Fatalf("config.toml does not list external_addresses:\n%s", data)
	}
}

func TestParseRejectsUnknownKeysNamingThem(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"misspelt key", "[p2p]\nmdns = true\nlistn = []\n", "unknown key p2p.listn (line 3)"},
		{"unknown section", "[api]\nlisten = \"127.0.0.1:1\"\n[metrics]\nport = 9\n", "unknown key metrics"},
		{"top-level key", "debug = true\n", "unknown key debug (line 1)"},
		{"wrong type", "[mempool]\nmax_txs = \"many\"\n", "mempool.max_txs"},
		{"syntax", "[api\nlisten = 1\n", "line 1"},
		{"bad duration", "[api.limits]\nread_timeout = \"soon\"\n", "api.limits.read_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

// TestValidateNamesTheBadField starts from Default and breaks one field.
func TestValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(c *Config)
		field  string
	}{
		{"no listen address", func(c *Config) { c.P2P.Listen = nil }, "p2p.listen"},
		{"bad listen multiaddr", func(c *Config) { c.P2P.Listen = append(c.P2P.Listen, "/ip4/300.0.0.1/tcp/1") }, "p2p.listen[1]"},
		{"listen with a peer id", func(c *Config) { c.P2P.Listen = []string{peerAddr} }, "p2p.listen[0]"},
		{"listen without a port", func(c *Config) { c.P2P.Listen = []string{"/ip4/127.0.0.1"} }, "p2p.listen[0]"},
		{"bootstrap without peer id", func(c *Config) { c.P2P.Bootstrap = []string{"/ip4/127.0.0.1/tcp/1"} }, "p2p.bootstrap[0]"},
		{"bootstrap garbage", func(c *Config) { c.P2P.Bootstrap = []string{peerAddr, "localhost:1"} }, "p2p.bootstrap[1]"},
		{"bootstrap twice", func(c *Config) { c.P2P.Bootstrap = []string{peerAddr, peerAddr} }, "p2p.bootstrap[1]"},
		{"mesh of one", func(c *Config) { c.P2P.MeshDegree = 1 }, "p2p.mesh_degree"},
		{"negative mesh", func(c *Config) { c.P2P.MeshDegree = -1 }, "p2p.mesh_degree"},
		{"mesh too wide", func(c *Config) { c.P2P.MeshDegree = MaxMeshDegree + 1 }, "p2p.mesh_degree"},
		{"relay for 3 validators", func(c *Config) { c.P2P.RelayVotesFrom = MinRelayVotesFrom - 1 }, "p2p.relay_votes_from"},
		{"negative relay", func(c *Config) { c.P2P.RelayVotesFrom = -1 }, "p2p.relay_votes_from"},
		{"negative direct readings", func(c *Config) { c.P2P.DirectReadingsFrom = -1 }, "p2p.direct_readings_from"},
		{"negative direct proposals", func(c *Config) { c.P2P.DirectProposalsFrom = -1 }, "p2p.direct_proposals_from"},
		{"external on every interface", func(c *Config) { c.P2P.ExternalAddresses = []string{"/ip4/0.0.0.0/tcp/26656"} }, "p2p.external_addresses[0]"},
		{"external with a peer id", func(c *Config) { c.P2P.ExternalAddresses = []string{"/dns4/a.example.org/tcp/1", peerAddr} }, "p2p.external_addresses[1]"},
		{"external without a port", func(c *Config) { c.P2P.ExternalAddresses = []string{"/dns4/a.example.org"} }, "p2p.external_addresses[0]"},
		{"external host:port", func(c *Config) { c.P2P.ExternalAddresses = []string{"a.example.org:26656"} }, "p2p.external_addresses[0]"},
		{"external twice", func(c *Config) {
			c.P2P.ExternalAddresses = []string{"/dns4/a.example.org/tcp/1", "/dns4/a.example.org/tcp/1"}
		}, "p2p.external_addresses[1]"},
		{"api listen without port", func(c *Config) { c.API.Listen = "127.0.0.1" }, "api.listen"},
		{"api listen bad port", func(c *Config) { c.API.Listen = "127.0.0.1:70000" }, "api.listen"},
		{"api listen empty", func(c *Config) { c.API.Listen = "" }, "api.listen"},
		{"mqtt listen bad", func(c *Config) { c.MQTT.Listen = "mqtt" }, "mqtt.listen"},
		{"mqtt on the api port", func(c *Config) { c.MQTT.Enabled = true; c.MQTT.Listen = c.API.Listen }, "mqtt.listen"},
		{"mqtt token window zero", func(c *Config) { c.MQTT.TokenWindowSeconds = 0 }, "mqtt.token_window_seconds"},
		{"mqtt token window huge", func(c *Config) { c.MQTT.TokenWindowSeconds = MaxMQTTTokenWindowSeconds + 1 }, "mqtt.token_window_seconds"},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "log.level"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
		{"mempool readings zero", func(c *Config) { c.Mempool.MaxReadings = 0 }, "mempool.max_readings"},
		{"mempool readings huge", func(c *Config) { c.Mempool.MaxReadings = MaxMempoolReadings + 1 }, "mempool.max_readings"},
		{"mempool txs negative", func(c *Config) { c.Mempool.MaxTxs = -1 }, "mempool.max_txs"},
		{"admit wait zero", func(c *Config) { c.Mempool.AdmitWait = 0 }, "mempool.admit_wait"},
		{"admit wait an hour", func(c *Config) { c.Mempool.AdmitWait = Duration(time.Hour) }, "mempool.admit_wait"},
		{"admit wait over the peak zero", func(c *Config) { c.Mempool.AdmitWaitOverPeak = 0 }, "mempool.admit_wait_over_peak"},
		{"admit wait over the peak above admit wait", func(c *Config) { c.Mempool.AdmitWaitOverPeak = c.Mempool.AdmitWait + 1 }, "mempool.admit_wait_over_peak"},
		{"admit floor zero", func(c *Config) { c.Mempool.AdmitFloor = 0 }, "mempool.admit_floor"},
		{"admit floor above the max", func(c *Config) { c.Mempool.AdmitFloor = c.Mempool.MaxReadings + 1 }, "mempool.admit_floor"},
		{"rate window too short", func(c *Config) { c.Mempool.RateWindow = Duration(time.Millisecond) }, "mempool.rate_window"},
		{"rate window a day", func(c *Config) { c.Mempool.RateWindow = Duration(24 * time.Hour) }, "mempool.rate_window"},
		{"images zero", func(c *Config) { c.Images.MaxBytes = 0 }, "images.max_bytes"},
		{"images huge", func(c *Config) { c.Images.MaxBytes = MaxImageBytes + 1 }, "images.max_bytes"},
		{"read timeout zero", func(c *Config) { c.API.Limits.ReadTimeout = 0 }, "api.limits.read_timeout"},
		{"write timeout huge", func(c *Config) { c.API.Limits.WriteTimeout = MaxAPITimeout + 1 }, "api.limits.write_timeout"},
		{"idle timeout negative", func(c *Config) { c.API.Limits.IdleTimeout = -1 }, "api.limits.idle_timeout"},
		{"header timeout over read timeout", func(c *Config) { c.API.Limits.ReadHeaderTimeout = c.API.Limits.ReadTimeout + 1 }, "api.limits.read_header_timeout"},
		{"no connections", func(c *Config) { c.API.Limits.MaxConns = 0 }, "api.limits.max_conns"},
		{"per client over total", func(c *Config) { c.API.Limits.MaxConnsPerClient = c.API.Limits.MaxConns + 1 }, "api.limits.max_conns_per_client"},
		{"reserve takes all", func(c *Config) { c.API.Limits.ReservedConns = c.API.Limits.MaxConns }, "api.limits.reserved_conns"},
		{"body zero", func(c *Config) { c.API.Limits.MaxBodyBytes = 0 }, "api.limits.max_body_bytes"},
		{"body huge", func(c *Config) { c.API.Limits.MaxBodyBytes = MaxAPIBodyBytes + 1 }, "api.limits.max_body_bytes"},
		{"client budget under a body", func(c *Config) { c.API.Limits.BodyBytesPerClient = c.API.Limits.MaxBodyBytes - 1 }, "api.limits.body_bytes_per_client"},
		{"total budget under a client's", func(c *Config) { c.API.Limits.BodyBytes = c.API.Limits.BodyBytesPerClient - 1 }, "api.limits.body_bytes"},
		{"client budget under an image", func(c *Config) {
			c.API.Limits.BodyBytesPerClient = c.API.Limits.MaxBodyBytes
			c.Images.MaxBytes = c.API.Limits.MaxBodyBytes + 1
		}, "api.limits.body_bytes_per_client"},
		{"no verification", func(c *Config) { c.Door.VerifyInFlight = 0 }, "door.verify_in_flight"},
		{"negative workers", func(c *Config) { c.Door.VerifyWorkers = -1 }, "door.verify_workers"},
		{"data dir empty", func(c *Config) { c.Storage.DataDir = " " }, "storage.data_dir"},
		{"wal dir empty", func(c *Config) { c.Storage.WALDir = "" }, "storage.wal_dir"},
		{"wal dir is data dir", func(c *Config) { c.Storage.WALDir = "./data" }, "storage.wal_dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.break_(c)
			err := c.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want an error naming %s", err, tt.field)
			}
			// The same value in a file is refused by Parse.
			data, merr := c.Marshal()
			if merr != nil {
				t.Fatal(merr)
			}
			if _, perr := Parse(data); perr == nil || !strings.Contains(perr.Error(), tt.field) {
				t.Errorf("Parse: %v, want an error naming %s", perr, tt.field)
			}
		})
	}
}

func TestSaveAndLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	c := Default()
	c.P2P.Bootstrap = []string{peerAddr}
	c.Log.Format = "json"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	c.Log.Level = "debug"
	if err := c.Save(path); err != nil { // replaces
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("loaded %+v, saved %+v", got, c)
	}
	if got.Log.SlogLevel().String() != "DEBUG" {
		t.Errorf("SlogLevel = %v", got.Log.SlogLevel())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("Save left files behind: %v", entries)
	}
	bad := Default()
	bad.Log.Level = "loud"
	if err := bad.Save(path); !errors.Is(err, ErrInvalid) {
		t.Errorf("Save of an invalid config: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "none.toml")); err == nil || !strings.Contains(err.Error(), "waterchain init") {
		t.Errorf("Load(missing) = %v", err)
	}
	if err := os.WriteFile(path, []byte("[log]\nlevel = \"loud\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "log.level") {
		t.Errorf("Load(bad) = %v; want the path and the key", err)
	}
}

func FuzzParse(f *testing.F) {
	def, err := Default().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(def)
	f.Add([]byte("[p2p]\nbootstrap = [\"" + peerAddr + "\"]\n"))
	f.Add([]byte("[a.b.c]\nd = 1\n"))
	f.Add([]byte("x = [[[[1]]]]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		again, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(again)
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func TestAPILimitsParseDurations(t *testing.T) {
	c, err := Parse([]byte("[api.limits]\nread_timeout = \"1m30s\"\nidle_timeout = \"500ms\"\n[door]\nverify_workers = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Limits.ReadTimeout.Std() != 90*time.Second || c.API.Limits.IdleTimeout.Std() != 500*time.Millisecond || c.Door.VerifyWorkers != 3 {
		t.Fatalf("got %+v %+v", c.API.Limits, c.Door)
	}
	if c.API.Limits.WriteTimeout != DefaultAPILimits().WriteTimeout {
		t.Fatalf("write_timeout %s, want the default", c.API.Limits.WriteTimeout.Std())
	}
}
