package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/keys"
)

var readingCmd = &cobra.Command{
	Use:   "reading",
	Short: "Sign and submit meter readings",
}

// toChainUnits converts a human value of a measure to the chain's integer,
// rounding half away from zero.
func toChainUnits(name string, v float64) (int64, error) {
	for _, m := range chain.Measures {
		if m.Name != name {
			continue
		}
		x := math.Round(v * float64(m.Scale))
		if math.IsNaN(x) || math.IsInf(x, 0) || x > math.MaxInt64 || x < math.MinInt64 {
			return 0, fmt.Errorf("--%s %v is out of range", strings.ReplaceAll(name, "_", "-"), v)
		}
		return int64(x), nil
	}
	return 0, fmt.Errorf("unknown measure %q", name)
}

func init() {
	rootCmd.AddCommand(readingCmd)
	send := &cobra.Command{
		Use:   "send --key DEVICE-KEY [--seq N] [--time RFC3339] --flow-rate L/h --volume L ...",
		Short: "Sign one reading with a meter's key and submit it",
		Long: `Sign one reading with a meter's key and submit it to a node. Values are in
human units (L/h, L, µS/cm, mg/L, AU, NTU) and are converted to the chain's
integer scales, rounding half away from zero. The sequence number defaults to
the next after the last one the chain recorded for the device.`,
		Example: `  waterchain reading send --key meter-1.json --flow-rate 12500 --volume 12500 \
    --volume-total 905000 --conductivity 850 --suspended-solids 25 --absorbance 0.12 --turbidity 4.5`,
		Args: cobra.NoArgs,
	}
	node := addNodeFlag(send)
	keyFile := send.Flags().String("key", "", "the meter's key file (required)")
	seq := send.Flags().Uint64("seq", 0, "sequence number (default: next)")
	at := send.Flags().String("time", "", "reading time, RFC 3339 (default: now)")
	values := map[string]*float64{}
	for _, m := range chain.Measures {
		flag := strings.ReplaceAll(m.Name, "_", "-")
		values[m.Name] = send.Flags().Float64(flag, 0, fmt.Sprintf("%s, %s", m.Doc, m.Unit))
	}
	_ = send.MarkFlagRequired("key")
	send.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		key, err := keys.Load(*keyFile)
		if err != nil {
			return err
		}
		c, err := newAPIClient(*node)
		if err != nil {
			return err
		}
		var st api.Status
		if err := c.get(ctx, "/v1/status", &st); err != nil {
			return err
		}
		r := &chain.Reading{Device: key.Public(), Seq: *seq, Time: chain.TimeOf(time.Now())}
		if *at != "" {
			t, err := time.Parse(time.RFC3339Nano, *at)
			if err != nil {
				return fmt.Errorf("--time %q: want RFC 3339 such as 2026-11-29T10:00:00Z", *at)
			}
			r.Time = chain.TimeOf(t)
		}
		if r.Seq == 0 {
			var dev api.Device
			if err := c.get(ctx, "/v1/devices/"+key.Public().String(), &dev); err != nil {
				return fmt.Errorf("looking up device %s: %w", key.Public().Short(), err)
			}
			r.Seq = dev.LastSeq + 1
		}
		fields := map[string]*int64{
			"flow_rate": &r.FlowRate, "volume": &r.Volume, "volume_total": &r.VolumeTotal,
			"conductivity": &r.Conductivity, "suspended_solids": &r.SuspendedSolids,
			"absorbance": &r.Absorbance, "turbidity": &r.Turbidity,
		}
		for name, dst := range fields {
			if *dst, err = toChainUnits(name, *values[name]); err != nil {
				return err
			}
		}
		r.Sign(st.ChainID, key)
		if err := r.ValidateBasic(); err != nil {
			return err
		}
		var res api.SubmitReadingsResult
		if err := c.post(ctx, "/v1/readings", []*chain.Reading{r}, &res); err != nil {
			return err
		}
		if len(res.Results) == 1 && res.Results[0].Error != "" {
			return fmt.Errorf("reading refused (%s): %s", res.Results[0].Code, res.Results[0].Error)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "accepted reading %s (device %s seq %d)\n", r.Hash(), r.Device.Short(), r.Seq)
		return nil
	}
	readingCmd.AddCommand(send)
}
