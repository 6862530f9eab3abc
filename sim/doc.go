// Package sim simulates a fleet of water meters for devnets, the
// `waterchain simulate` command and tests: deterministic device keys,
// realistic industrial flow over the day and the week, sensor noise, a
// totalizer, water quality under the plant's limits, and faults that can
// be switched on per meter.
//
// # Model
//
// NewFleet(Config{ChainID, Seed, Devices, Interval, DayLength, ClockSkew,
// Keys}) makes Devices meters. Keys derive from Seed unless given (for
// keys loaded from files); each meter's plant Profile derives from Seed:
// night flow 2–6 m³/h, weekday production 15–50 m³/h above it from a shift
// start at 05–07 h (one-hour ramp) to a shift end at 17–20 h (1.5-hour
// ramp) with a lunch dip; weekend days run at 10–35% of the weekday
// production; nights are the same every day. Conductivity 800–1,500
// µS/cm, suspended solids 20–60 mg/L, UV absorbance 0.1–0.3 AU and
// turbidity 5–20 NTU rise by up to 10% with production. Noise is Gaussian
// (2% on flow, 2–4% on quality, clipped at 3σ), a deterministic function
// of the seed, the meter and the time. Volume is flow × Interval; the
// totalizer adds it up. Meter.Limits are permit limits that suit the
// meter (1.6 × its typical quality values): a healthy meter stays under
// them. DayLength shortens the simulated day (the clock is scaled, the
// week is 7 such days, day 0 = the Unix epoch, a Thursday) so that a
// devnet sees nights and weekends in minutes.
//
// Fleet.Next(t) returns every meter's signed reading measured at t (the
// nominal time: call it every Interval); Meter.Next(t) one meter's. Both
// are deterministic given the seed, the faults and the sequence of calls.
// Meter.Resume continues a meter's seq and totalizer after a restart.
//
// # Faults and how soon the alerts catch them
//
// Meter.SetFault(f, on) switches a fault. With the default alert
// thresholds (alerts.DefaultThresholds, DayLength set to the fleet's) the
// rules raise the alert within this many readings after the onset, the
// onset reading counting as the first; TestFaultsDetected checks them at
// production timing (hourly readings, 30 min window) and at devnet timing
// (10 s readings, 10 min days, 30 s window):
//
//	fault          what the meter does                         alert               within
//	leak           adds half its night flow + 1 m³/h            leak                one day of readings + 1 (once 3 nights are learnt)
//	stuck          repeats the previous flow and quality        flat_line           6 (FlatLineCount)
//	missed         loses 2 of every 3 readings (seq used up)    missed_readings     3
//	backwards      totalizer runs backwards                     counter_backwards   1
//	clock-skew     stamps readings ClockSkew late(r)            clock_skew          1 (ClockSkew between window/2 and window)
//	limit-breach   suspended solids and turbidity × 2.5         limit_exceeded      1 (with Meter.Limits as the permit)
//	forged-sig     signs with a key that is not its own         bad_signature       1 (at the door; the chain never sees it)
//
// # Camera frames
//
// With Config.Images set, every delivered reading carries ImageHash, the
// SHA-256 of a synthetic JPEG frame (package sim/scenes) drawn from the
// seed, the meter and the reading's time, set before the reading is
// signed. The frame shows ImageConfig.Scene (clear water by default),
// FaultScene (turbid, with floating solids) under limit-breach, or what
// Meter.SetScene chose. Fleet.Image and Meter.LastImage return the file,
// for the caller to upload after the reading (PUT /v1/images/{hash}).
//
// # What callers must do
//
// Call Next with increasing times, one Interval apart; register the
// meters' keys (Meter.Public) before their readings can be accepted; set
// the industries' permits to Meter.Limits (or others) to exercise the
// limit rule. A Fleet is not safe for concurrent use.
//
// # Where it sits
//
// The package is a client of the node, beside cmd rather than under node/:
// it imports only chain and sim/scenes, and the node imports neither
// (node tests do, to drive meters and draw camera frames).
package sim
