// Package bench measures what a Waterchain network sustains on this
// machine: it starts validators in this process (real badger stores in a
// temporary directory, real libp2p hosts on loopback), drives pre-signed
// readings through each node's ingestion path (node.SubmitReadings, the
// door HTTP and MQTT use) at rising offered rates, and records for every
// reading when it was submitted and when validator-1 finalized it.
//
// In the same run, before the network starts and again after it stops, it
// measures this machine's raw ed25519 verification rate on all cores
// (crypto/ed25519.Verify on GOMAXPROCS goroutines; the mean of the two is
// used, since the machine may be shared). That is the bound the network is
// held to: every reading is verified once per node and all nodes share the
// cores, so the network can finalize at most verify_per_s ÷ validators
// readings per second; Result.Ratio is the fraction of that bound reached.
//
// With Options.Processes the validators are instead OS processes of the
// waterchain binary ("waterchain run --home DIR", each with the config
// waterchain testnet writes), and the bench is their client as meters and
// gateways are: each step's readings, pre-signed and pre-encoded as JSON,
// are POSTed in batches to /v1/readings of the validator running the
// meter's industry, one request at a time per gateway (one gateway per
// validator unless Options.Gateways says more); finality comes
// from validator-1's block events on GET /v1/events and its blocks from
// GET /v1/blocks/data/{height}, as CBOR. Each step also counts the batches refused
// whole (429 or 503) and reads each node's CPU time from /proc/PID/stat.
// The nodes are put in their own process group with Pdeathsig (Linux), so
// the kernel kills them if the bench dies; otherwise they get SIGTERM when
// the run ends, and SIGKILL 10 s later. Both modes share the network
// setup (home.WriteNetwork with meters registered in genesis, as
// waterchain testnet --devices does; reading window 1 h), the step logic
// and the tracker, behind the cluster and chainFeed interfaces.
//
// Run does everything; Options has defaults for every zero field. The
// waterchain bench command prints a table of steps and the Result as one
// line of JSON (DESIGN.md, Interfaces).
//
// How a step is measured. Before the step's clock starts, its readings are
// signed (round-robin over the meters, each meter always sent to the same
// validator, so its readings enter the network in order at one node;
// gossip may still reorder them on the way to the others, and
// Step.Skipped counts any reading lost that way). The step
// then submits them in batches every Options.Tick at the offered rate, to
// every validator concurrently, and waits up to Options.Drain after the
// last submission for them to be final. One gateway per validator sends
// its batches in order, one request at a time; readings the node refuses
// as overload (429/503, a full mempool, a busy door) are sent again, in
// order, after the answer's retry_after_ms (the Retry-After header, in
// whole seconds, when it has none), for at most Options.Drain after
// the step (Options.NoRetry counts them lost instead). Latency is taken
// twice, both to the block event of validator-1 that carries the reading:
// from its first request (Step.LatencyP50Ms: what a meter waits, a
// refused reading's Retry-After and later requests included) and from
// the request that got it accepted (Step.AcceptedP50Ms: what the node's
// admission bounds, since it promises a wait of about mempool.admit_wait
// to the readings it accepts, not to those it refuses). A step's finalized rate is its
// readings finalized divided by the time from its first submission to its
// last finalization, so a step the network keeps up with scores a little
// under its offered rate (by latency ÷ duration), and one it cannot keep up
// with scores what it drained at.
//
// Auto-rising rates double from Options.StartRate while a step finalizes at
// least 90% of its offered rate with a p99 under Options.MaxP99, and once
// more after the first step that does not (riseAgain: past its knee a
// network finalizes what it drains at, in larger blocks, often more than
// at the knee); the peak is the best finalized rate of any step. A last
// step at half the peak gives the latency figures of the Result.
//
// Measuring at a fraction of the peak on a warm network. The node admits
// readings by what the network finalized recently (mempool.Admission),
// so a first step starts from the admission floor and a rate estimate of
// zero, and says little of what a running network does at that rate.
// Options.Warmup runs a step of that length at the first rate before the
// measured ones ("warmup", counted in no figure). Options.OfPeak runs,
// after the other steps (the half-peak step included, so that it does
// not start on their backlog), steps at multiples of the peak they found
// ("of-peak", Step.OfPeak; 0.8, 2, 4 are issue 16's 80%, 2× and 4×), on
// the network they warmed; they change no headline figure. With
// Options.Binary two builds' nodes can be measured with one bench client
// (waterchain bench --node-binary), so that a comparison measures the
// nodes, not the client.
//
// Validators: the same rate on networks of several sizes. RunScaling
// (waterchain bench scaling) runs the process bench at one offered rate on
// a fresh network of each of ScalingOptions.Sizes validators in turn,
// with the same meters at every size and a warmup step in which each of
// them reads once, and compares each size's latency from acceptance with
// the first size's scaled by n ÷ n₀ (issue 16's "no faster than n"). The
// plain bench registers meters per validator, so at 16 validators and
// 500/s every reading was a meter's first, and a meter's first reading
// adds its record to the state, the costlier kind of block.
//
// The package is a client of the node, beside cmd rather than under node/:
// it starts nodes and drives their ingestion path as a meter fleet would,
// and no node package imports it. Package bench/verifyrate, the raw
// verification rate, is also what the node's own benchmarks compare with.
package bench
