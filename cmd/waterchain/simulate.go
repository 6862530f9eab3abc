package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/ingest"
	"github.com/waterchain/waterchain/node/keys"
	"github.com/waterchain/waterchain/sim"
)

func init() { rootCmd.AddCommand(newSimulateCmd()) }

// simFault is one --fault: a meter (0-based), a fault, and the batch it
// starts at.
type simFault struct {
	meter int
	fault sim.Fault
	from  int
}

// simState is what --keys-dir remembers between runs besides the keys:
// each meter's last seq and totalizer, so a restarted simulation continues
// where the chain left off.
type simState struct {
	Meters map[string]simMeterState `json:"meters"`
}

type simMeterState struct {
	Seq         uint64 `json:"seq"`
	VolumeTotal int64  `json:"volume_total"`
}

const simStateFile = "simulate-state.json"

func newSimulateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "simulate [--node URL] [--devices N] [--interval 10s] [--fault METER:KIND[@BATCH]]... [--keys-dir DIR] [--register-key FILE] [--images [--image-scene [METER:]KIND[+N]]...]",
		Short: "Run a fleet of simulated meters against a node",
		Long: `Run a fleet of simulated meters: every --interval each meter measures (daily
and weekly flow curves, sensor noise, a totalizer, water quality under its
limits), signs, and the batch is posted to the node's POST /v1/readings.
Each batch prints its accepted and rejected counts.

Faults (switched on per meter, from the start or from batch N with @N):
  leak, stuck, missed, backwards, clock-skew, limit-breach, forged-sig
METER is the 1-based meter number or a prefix (4+ hex digits) of its key.

With --keys-dir the meters' keys are kept in DIR (meter-1.json, ...; made on
the first run) with their last seq and totalizer, so they can be registered
once and the simulation resumed. Without it the keys derive from --seed.
The public keys are printed; register them with "waterchain tx
register-device", or pass --register-key with an industry's account key to
have the simulator register the unregistered ones first.

With --images every reading carries the SHA-256 of a synthetic camera frame
(a JPEG drawn in code), set before the reading is signed; once the node has
accepted the reading the frame is uploaded with PUT /v1/images/{hash}.
Frames show clear water, or what --image-scene says: KIND[+N] for every
meter or METER:KIND[+N] for one, KIND clear, turbid, coloured or foamy and
N floating objects (0 to 16). A meter with the limit-breach fault and no
scene of its own shows turbid water with 3 floating objects.`,
		Example: `  waterchain simulate --devices 4 --interval 10s --keys-dir meters \
    --register-key accounts/industry-1.json --fault 2:leak --fault 3:forged-sig@30
  waterchain simulate --devices 3 --images --image-scene 2:coloured --image-scene 3:clear+4`,
		Args: cobra.NoArgs,
	}
	node := addNodeFlag(cmd)
	chainID := cmd.Flags().String("chain-id", "", "expected chain id (default: the node's)")
	devices := cmd.Flags().Int("devices", 2, "number of meters")
	interval := cmd.Flags().Duration("interval", 10*time.Second, "time between readings")
	faultArgs := cmd.Flags().StringArray("fault", nil, "METER:KIND[@BATCH] switches a fault on for a meter (repeatable)")
	keysDir := cmd.Flags().String("keys-dir", "", "directory for the meters' key files and state")
	registerKey := cmd.Flags().String("register-key", "", "industry account key file: register unregistered meters first")
	seed := cmd.Flags().Int64("seed", 1, "seed of keys (without --keys-dir), plant profiles and noise")
	count := cmd.Flags().Int("count", 0, "stop after this many batches (0: run until interrupted)")
	dayLength := cmd.Flags().Duration("day-length", 24*time.Hour, "length of a simulated day (shorter on devnets; alerts must use the same)")
	clockSkew := cmd.Flags().Duration("clock-skew", 20*time.Second, "what the clock-skew fault adds to reading times")
	timeout := cmd.Flags().Duration("timeout", 60*time.Second, "how long to wait for registrations to be final")
	images := cmd.Flags().Bool("images", false, "attach a synthetic camera frame to every reading and upload it")
	sceneArgs := cmd.Flags().StringArray("image-scene", nil, "[METER:]KIND[+N]: what the cameras (or one meter's) show, such as turbid+3 or 2:coloured (repeatable)")
	imageSize := cmd.Flags().String("image-size", "320x240", "WIDTHxHEIGHT of the frames")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt, syscall.SIGTERM)
		defer stop()
		out := cmd.OutOrStdout()
		if *devices < 1 || *devices > 100_000 {
			return fmt.Errorf("--devices %d: want 1 to 100000", *devices)
		}
		if *interval < time.Millisecond {
			return fmt.Errorf("--interval %s: want at least 1ms", *interval)
		}
		c, err := newAPIClient(*node)
		if err != nil {
			return err
		}
		var st api.Status
		if err := c.get(ctx, "/v1/status", &st); err != nil {
			return err
		}
		if *chainID != "" && *chainID != st.ChainID {
			return fmt.Errorf("--chain-id %q, but the node at %s is on %q", *chainID, *node, st.ChainID)
		}

		var meterKeys []*chain.PrivateKey
		if *keysDir != "" {
			if meterKeys, err = loadOrMakeMeterKeys(*keysDir, *devices); err != nil {
				return err
			}
		}
		simCfg := sim.Config{
			ChainID: st.ChainID, Seed: *seed, Devices: *devices, Interval: *interval,
			DayLength: *dayLength, ClockSkew: *clockSkew, Keys: meterKeys,
		}
		if *images {
			if simCfg.Images, err = parseImageSize(*imageSize); err != nil {
				return err
			}
		} else if len(*sceneArgs) > 0 {
			return errors.New("--image-scene needs --images")
		}
		fleet, err := sim.NewFleet(simCfg)
		if err != nil {
			return err
		}
		faults, err := parseSimFaults(*faultArgs, fleet)
		if err != nil {
			return err
		}
		if err := applyScenes(*sceneArgs, fleet); err != nil {
			return err
		}
		state := loadSimState(*keysDir)
		var unregistered []*sim.Meter
		for _, m := range fleet.Meters() {
			var dev api.Device
			err := c.get(ctx, "/v1/devices/"+m.Public().String(), &dev)
			var ae *apiError
			switch {
			case err == nil:
				saved := state.Meters[m.Public().String()]
				m.Resume(max(dev.LastSeq, saved.Seq), saved.VolumeTotal)
			case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
				unregistered = append(unregistered, m)
				if saved, ok := state.Meters[m.Public().String()]; ok {
					m.Resume(saved.Seq, saved.VolumeTotal)
				}
			default:
				return fmt.Errorf("looking up meter-%d: %w", m.Index()+1, err)
			}
			lim := m.Limits()
			fmt.Fprintf(out, "meter-%d %s (limits: conductivity %d, suspended_solids %d, absorbance %d, turbidity %d)\n",
				m.Index()+1, m.Public(), lim.Conductivity, lim.SuspendedSolids, lim.Absorbance, lim.Turbidity)
		}
		if *registerKey != "" && len(unregistered) > 0 {
			if err := registerMeters(ctx, c, out, st.ChainID, *registerKey, unregistered, *timeout); err != nil {
				return err
			}
		} else if len(unregistered) > 0 {
			fmt.Fprintf(out, "%d meters are not registered yet: their readings are refused until they are (use --register-key)\n", len(unregistered))
		}

		ticker := time.NewTicker(*interval)
		defer ticker.Stop()
		for batch := 0; *count == 0 || batch < *count; batch++ {
			for _, f := range faults {
				if f.from == batch {
					fleet.Meters()[f.meter].SetFault(f.fault, true)
					fmt.Fprintf(out, "batch %d: meter-%d fault %s on\n", batch, f.meter+1, f.fault)
				}
			}
			rs := fleet.Next(chain.TimeOf(time.Now()))
			if len(rs) > 0 {
				res, err := postReadingBatch(ctx, c, rs)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "batch %d: %s\n", batch, oneLine(err))
				} else {
					fmt.Fprintf(out, "batch %d: %d accepted, %d rejected%s%s\n", batch, res.Accepted, res.Rejected,
						firstRejects(fleet, rs, res, 3), uploadImages(ctx, c, fleet, rs, res))
				}
			}
			if err := saveSimState(*keysDir, fleet); err != nil {
				return err
			}
			if *count != 0 && batch+1 >= *count {
				break
			}
			select {
			case <-ctx.Done():
				return nil
			case <-ticker.C:
			}
		}
		return nil
	}
	return cmd
}

func contextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// parseSimFaults parses --fault METER:KIND[@BATCH].
func parseSimFaults(args []string, fleet *sim.Fleet) ([]simFault, error) {
	var out []simFault
	for _, a := range args {
		who, rest, ok := strings.Cut(a, ":")
		if !ok {
			return nil, fmt.Errorf("--fault %q: want METER:KIND[@BATCH], such as 2:leak or 2:leak@30", a)
		}
		kind, from, hasFrom := strings.Cut(rest, "@")
		f, err := sim.ParseFault(kind)
		if err != nil {
			return nil, fmt.Errorf("--fault %q: %w", a, err)
		}
		sf := simFault{fault: f, meter: -1}
		if hasFrom {
			if sf.from, err = strconv.Atoi(from); err != nil || sf.from < 0 {
				return nil, fmt.Errorf("--fault %q: @%s is not a batch number", a, from)
			}
		}
		if n, err := strconv.Atoi(who); err == nil {
			if n < 1 || n > len(fleet.Meters()) {
				return nil, fmt.Errorf("--fault %q: meter %d: want 1 to %d", a, n, len(fleet.Meters()))
			}
			sf.meter = n - 1
		} else if len(who) >= 4 {
			for _, m := range fleet.Meters() {
				if strings.HasPrefix(m.Public().String(), strings.ToLower(who)) {
					if sf.meter >= 0 {
						return nil, fmt.Errorf("--fault %q: key prefix %s matches several meters", a, who)
					}
					sf.meter = m.Index()
				}
			}
		}
		if sf.meter < 0 {
			return nil, fmt.Errorf("--fault %q: no meter %q (a number from 1 to %d, or 4+ hex digits of its key)", a, who, len(fleet.Meters()))
		}
		out = append(out, sf)
	}
	return out, nil
}

// parseImageSize parses --image-size WIDTHxHEIGHT into the fleet's image
// config (NewFleet checks the bounds).
func parseImageSize(v string) (*sim.ImageConfig, error) {
	w, h, ok := strings.Cut(v, "x")
	width, err1 := strconv.Atoi(w)
	height, err2 := strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil || width < 64 || height < 64 || width > 4096 || height > 4096 {
		return nil, fmt.Errorf("--image-size %q: want WIDTHxHEIGHT, 64 to 4096 a side, such as 640x480", v)
	}
	return &sim.ImageConfig{Width: width, Height: height}, nil
}

// applyScenes applies --image-scene [METER:]KIND[+N], in order: a scene
// without a meter applies to every meter.
func applyScenes(args []string, fleet *sim.Fleet) error {
	for _, a := range args {
		who, spec, one := strings.Cut(a, ":")
		if !one {
			who, spec = "", a
		}
		sc, err := sim.ParseScene(spec)
		if err != nil {
			return fmt.Errorf("--image-scene %q: %w", a, err)
		}
		meters := fleet.Meters()
		if one {
			i, err := strconv.Atoi(who)
			if err != nil || i < 1 || i > len(meters) {
				return fmt.Errorf("--image-scene %q: meter %q: want 1 to %d", a, who, len(meters))
			}
			meters = meters[i-1 : i]
		}
		for _, m := range meters {
			if err := m.SetScene(sc); err != nil {
				return fmt.Errorf("--image-scene %q: %w", a, err)
			}
		}
	}
	return nil
}

// uploadImages PUTs the frames of the accepted readings of a batch and
// describes the outcome for the batch line ("" without images).
func uploadImages(ctx context.Context, c *apiClient, fleet *sim.Fleet, rs []*chain.Reading, res api.SubmitReadingsResult) string {
	stored, failed := 0, 0
	var firstErr error
	for i, r := range rs {
		if r.ImageHash == nil || i >= len(res.Results) || res.Results[i].Error != "" {
			continue
		}
		data, ok := fleet.Image(*r.ImageHash)
		if !ok {
			continue
		}
		if err := putImage(ctx, c, *r.ImageHash, data); err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		stored++
	}
	switch {
	case stored+failed == 0:
		return ""
	case failed == 0:
		return fmt.Sprintf("; %d images stored", stored)
	}
	return fmt.Sprintf("; %d images stored, %d refused (%s)", stored, failed, oneLine(firstErr))
}

// putImage uploads one JPEG frame.
func putImage(ctx context.Context, c *apiClient, h chain.Hash, data []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+"/v1/images/"+h.String(), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "image/jpeg")
	resp, err := c.http.Do(req)
	if err != nil {
		return describeDialError(c.base, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	e := &apiError{Status: resp.StatusCode}
	if json.Unmarshal(raw, e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(raw))
	}
	return e
}

// loadOrMakeMeterKeys loads DIR/meter-1.json ... DIR/meter-N.json, making
// the missing ones.
func loadOrMakeMeterKeys(dir string, n int) ([]*chain.PrivateKey, error) {
	out := make([]*chain.PrivateKey, n)
	for i := range out {
		path := filepath.Join(dir, fmt.Sprintf("meter-%d.json", i+1))
		var err error
		if _, statErr := os.Stat(path); statErr == nil {
			out[i], err = keys.Load(path)
		} else {
			out[i], err = keys.New(path)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func loadSimState(dir string) simState {
	st := simState{Meters: map[string]simMeterState{}}
	if dir == "" {
		return st
	}
	raw, err := os.ReadFile(filepath.Join(dir, simStateFile))
	if err != nil {
		return st
	}
	if json.Unmarshal(raw, &st) != nil || st.Meters == nil {
		return simState{Meters: map[string]simMeterState{}} // damaged: the node's last seq still applies
	}
	return st
}

// saveSimState writes the state atomically (temporary file, rename).
func saveSimState(dir string, fleet *sim.Fleet) error {
	if dir == "" {
		return nil
	}
	st := simState{Meters: map[string]simMeterState{}}
	for _, m := range fleet.Meters() {
		st.Meters[m.Public().String()] = simMeterState{Seq: m.Seq(), VolumeTotal: m.VolumeTotal()}
	}
	raw, _ := json.MarshalIndent(st, "", "  ")
	tmp := filepath.Join(dir, simStateFile+".tmp")
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("saving the simulator state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, simStateFile)); err != nil {
		return fmt.Errorf("saving the simulator state: %w", err)
	}
	return nil
}

// registerMeters submits a register-device transaction per meter, signed
// by the industry key, and waits until each is final.
func registerMeters(ctx context.Context, c *apiClient, out io.Writer, chainID, keyFile string, meters []*sim.Meter, timeout time.Duration) error {
	key, err := keys.Load(keyFile)
	if err != nil {
		return err
	}
	var acct api.Account
	if err := c.get(ctx, "/v1/accounts/"+key.Public().Address().String(), &acct); err != nil {
		return fmt.Errorf("looking up the nonce of %s: %w", key.Public().Address(), err)
	}
	nonce := acct.Nonce
	var hashes []chain.Hash
	for _, m := range meters {
		nonce++
		tx := &chain.Tx{From: key.Public(), Nonce: nonce, RegisterDevice: &chain.RegisterDevice{Device: m.Public(), Label: fmt.Sprintf("sim meter-%d", m.Index()+1)}}
		tx.Sign(chainID, key)
		if err := tx.ValidateBasic(); err != nil {
			return err
		}
		var res api.SubmitTxResult
		if err := c.post(ctx, "/v1/txs", tx, &res); err != nil {
			return fmt.Errorf("registering meter-%d: %w", m.Index()+1, err)
		}
		hashes = append(hashes, res.Hash)
		fmt.Fprintf(out, "registering meter-%d (tx %s, nonce %d)\n", m.Index()+1, res.Hash.Short(), nonce)
	}
	deadline := time.Now().Add(timeout)
	for _, h := range hashes {
		for {
			var ts api.TxStatus
			if err := c.get(ctx, "/v1/txs/"+h.String(), &ts); err != nil {
				return err
			}
			if ts.Status == "final" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("register-device %s is still %s after %s; check with: waterchain query tx %s", h.Short(), ts.Status, timeout, h)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	fmt.Fprintf(out, "registered %d meters\n", len(meters))
	return nil
}

// postReadingBatch posts readings as a native JSON array and returns the
// node's per-reading results, also when it rejected all of them.
func postReadingBatch(ctx context.Context, c *apiClient, rs []*chain.Reading) (api.SubmitReadingsResult, error) {
	var res api.SubmitReadingsResult
	body, err := ingest.EncodeJSON(rs)
	if err != nil {
		return res, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/readings", bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", ingest.ContentTypeJSON)
	resp, err := c.http.Do(req)
	if err != nil {
		return res, describeDialError(c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return res, fmt.Errorf("reading the answer of %s: %w", c.base, err)
	}
	if json.Unmarshal(raw, &res) == nil && len(res.Results) == len(rs) {
		return res, nil
	}
	e := &apiError{Status: resp.StatusCode}
	if json.Unmarshal(raw, e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(raw))
	}
	return res, e
}

// firstRejects describes up to n rejected readings.
func firstRejects(fleet *sim.Fleet, rs []*chain.Reading, res api.SubmitReadingsResult, n int) string {
	names := map[chain.PubKey]int{}
	for _, m := range fleet.Meters() {
		names[m.Public()] = m.Index() + 1
	}
	var parts []string
	for i, r := range res.Results {
		if r.Error == "" || i >= len(rs) {
			continue
		}
		if len(parts) == n {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("meter-%d seq %d: %s", names[rs[i].Device], rs[i].Seq, r.Error))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}
