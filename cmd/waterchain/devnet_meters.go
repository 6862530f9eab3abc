package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/keys"
	"github.com/waterchain/waterchain/sim"
)

// meterSwitch switches a fault of one simulated meter (0-based, in the
// network's device order) on or off from the next reading on.
type meterSwitch struct {
	meter int
	fault sim.Fault
	on    bool
}

// startDevnetMeters runs the devnet's simulated meters — the devices
// registered in its genesis — in the background until ctx ends: every
// reading interval each meter measures and signs, and the batch goes to one
// validator's POST /v1/readings, round robin. On a resumed devnet each meter
// continues after the last reading the chain holds. Simulated days last
// dayLength, the alert rules' day. faults switch faults on by meter number
// (1-based) from the start; switches (nil for none) switch them later: the
// meters' goroutine owns the fleet and applies them before each reading.
func startDevnetMeters(ctx context.Context, log io.Writer, nw *home.Network, dayLength time.Duration, faults []string, switches <-chan meterSwitch) error {
	if len(nw.Devices) == 0 {
		fmt.Fprintln(log, "meters: none (the devnet was made with --devices 0)")
		return nil
	}
	var meterKeys []*chain.PrivateKey
	for _, d := range nw.Devices {
		k, err := keys.Load(d.KeyFile)
		if err != nil {
			return err
		}
		meterKeys = append(meterKeys, k)
	}
	params := nw.Genesis.Params
	fleet, err := sim.NewFleet(sim.Config{
		ChainID: nw.Genesis.ChainID, Seed: devnetSeed, Devices: len(meterKeys), Interval: params.ReadingInterval.Std(),
		DayLength: dayLength, Keys: meterKeys,
	})
	if err != nil {
		return err
	}
	fs, err := parseSimFaults(faults, fleet)
	if err != nil {
		return err
	}
	for _, f := range fs {
		fleet.Meters()[f.meter].SetFault(f.fault, true)
	}
	var clients []*apiClient
	for _, n := range nw.Nodes {
		if n.Role == "validator" {
			c, err := newAPIClient(n.API)
			if err != nil {
				return err
			}
			clients = append(clients, c)
		}
	}
	// Resume each meter after what the chain holds.
	for _, m := range fleet.Meters() {
		var dev api.Device
		if err := clients[0].get(ctx, "/v1/devices/"+m.Public().String(), &dev); err != nil {
			return fmt.Errorf("meter %s: %w", m.Public().Short(), err)
		}
		if dev.LastSeq == 0 {
			continue
		}
		var rs api.Readings
		q := "/v1/readings?device=" + m.Public().String() + "&seq=" + strconv.FormatUint(dev.LastSeq, 10)
		total := int64(0)
		if clients[0].get(ctx, q, &rs) == nil && len(rs.Readings) == 1 {
			total = rs.Readings[0].VolumeTotal
		}
		m.Resume(dev.LastSeq, total)
	}
	fmt.Fprintf(log, "meters: %d simulated meters report every %s (day length %s)\n", len(meterKeys), params.ReadingInterval.Std(), dayLength)
	go func() {
		t := time.NewTicker(params.ReadingInterval.Std())
		defer t.Stop()
		for i := 0; ; i++ {
			for pending := true; pending; {
				select {
				case sw := <-switches:
					if sw.meter >= 0 && sw.meter < len(fleet.Meters()) {
						fleet.Meters()[sw.meter].SetFault(sw.fault, sw.on)
					}
				default:
					pending = false
				}
			}
			rs := fleet.Next(chain.TimeOf(time.Now()))
			if len(rs) > 0 {
				if res, err := postReadingBatch(ctx, clients[i%len(clients)], rs); err != nil && ctx.Err() == nil {
					fmt.Fprintf(log, "meters: %s\n", oneLine(err))
				} else if res.Rejected > 0 {
					fmt.Fprintf(log, "meters: %d of %d readings refused%s\n", res.Rejected, len(rs), firstRejects(fleet, rs, res, 2))
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// devnetSeed seeds the devnet's simulated plants.
const devnetSeed = 1

// devnetAllowancePermille varies the industries' allowances around their
// plants' mean use, so that a devnet shows one industry saving, one
// overusing, and the market between them.
var devnetAllowancePermille = []uint64{1200, 850, 1050, 900, 1150, 950, 1000}

// devnetPermit sizes each industry's genesis permit for its simulated
// meters: the allowance is the meters' mean flow over a settlement period
// (varied per industry), the limits 1.6 times their typical quality, so the
// limit-breach fault exceeds them and normal readings do not.
func devnetPermit(devicesPerIndustry int) func(int, int, *chain.Params) genesis.Permit {
	return func(industry, first int, params *chain.Params) genesis.Permit {
		var meanFlow uint64 // mL/h
		var lim chain.Limits
		for i := first; i < first+devicesPerIndustry; i++ {
			p := sim.ProfileFor(devnetSeed, i)
			meanFlow += uint64(p.MeanFlow())
			l := p.Limits()
			lim.Conductivity = max(lim.Conductivity, l.Conductivity)
			lim.SuspendedSolids = max(lim.SuspendedSolids, l.SuspendedSolids)
			lim.Absorbance = max(lim.Absorbance, l.Absorbance)
			lim.Turbidity = max(lim.Turbidity, l.Turbidity)
		}
		period, err := params.PeriodLength()
		if err != nil || period == 0 || devicesPerIndustry == 0 {
			return genesis.Permit{Allowance: 1_000_000, Limits: home.NetworkLimits}
		}
		// Litres per period = mL/h × period hours / 1000.
		litres := meanFlow * uint64(period.Std().Milliseconds()) / uint64(time.Hour.Milliseconds()) / 1000
		litres = litres * devnetAllowancePermille[industry%len(devnetAllowancePermille)] / 1000
		return genesis.Permit{Allowance: max(litres, 1), Limits: lim}
	}
}
