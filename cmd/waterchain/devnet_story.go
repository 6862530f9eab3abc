package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/keys"
	"github.com/waterchain/waterchain/sim"
)

// The devnet's story: what the default devnet plays on top of its
// simulated meters so that every dashboard page has something to show
// within the first settlement period (devnetSettlementPeriod):
//
//   - Market: from the first tx blocks on, every period, the industries
//     whose allowance exceeds their plants' use offer a tenth of it, and
//     the others buy part of the cheapest offer — signed with their
//     account keys and submitted through the node's API, as `waterchain
//     tx offer` and `tx accept` do.
//   - Alerts: storyBreachAfter genesis, one meter discharges over its
//     limits for storyBreachFor (limit_exceeded); and once the leak rule
//     has learnt a night of another meter, that meter leaks through the
//     next night (leak, raised when the night ends).
//   - Industry: the period settles and drops are minted — except to the
//     industry that broke its limits.
//
// Every step is decided from the chain's state, never from a record of
// what the story did: an industry offers only when it has no open offer
// and sold nothing this period, buys only when it bought nothing, and a
// fault plays only while the chain holds no alert of its kind for its
// meter. Nonces come from the account's final state. So a devnet resumed on
// the same directory continues the story where it stands instead of
// replaying it, and transactions a user sends with the same keys in
// between do not upset it (a refused step is retried on the next round).

// devnetSettlementPeriod is the devnet's settlement period. The first
// period settles in the first tx block a reading window (30 s) after its
// end; 4 minutes puts that within 5 minutes of the start, with time for
// the delivery rule (a meter missing more than a tenth of the period's
// readings earns nothing) to be met by meters that start a second or two
// after genesis.
const devnetSettlementPeriod = "4m"

const (
	storyBreachAfter = 30 * time.Second // after genesis
	storyBreachFor   = time.Minute
	// storyPrice is the cheapest offer's price, smallest units per litre
	// (2 drops per m³); each further seller asks storyPriceStep more.
	storyPrice     = chain.DropUnit / 500
	storyPriceStep = chain.DropUnit / 2000
	// storyPoll is how often the market script looks at the state when
	// it has nothing to do.
	storyPoll = 5 * time.Second
	// storyTxTimeout bounds the wait for one of the story's transactions.
	storyTxTimeout = 30 * time.Second
)

// storyIndustry is an industry of the devnet as the story casts it.
type storyIndustry struct {
	name   string
	addr   chain.Address
	key    *chain.PrivateKey
	seller bool   // its allowance exceeds its plants' mean use
	price  uint64 // what it asks, smallest units per litre (sellers)
}

// storyMeter is a simulated meter the story gives a fault.
type storyMeter struct {
	index    int // in the network's device order, the fleet's
	key      chain.PubKey
	industry string
	label    string
}

func (m *storyMeter) String() string { return fmt.Sprintf("%s's %s", m.industry, m.label) }

// devnetStory plays the story against one validator's API.
type devnetStory struct {
	c          *apiClient
	log        io.Writer
	logMu      sync.Mutex // serializes the three scripts' lines
	genesis    time.Time
	periods    chain.Period
	interval   time.Duration
	window     time.Duration
	th         alerts.Thresholds
	industries []storyIndustry
	// breach and leak are nil without meters; switches reaches the
	// meters' goroutine.
	breach, leak *storyMeter
	switches     chan<- meterSwitch
}

// newDevnetStory casts the story for nw, whose nodes use the alert
// thresholds th. switches is nil when no meters run.
func newDevnetStory(nw *home.Network, th alerts.Thresholds, log io.Writer, switches chan<- meterSwitch) (*devnetStory, error) {
	var api string
	for _, n := range nw.Nodes {
		if n.Role == "validator" {
			api = n.API
			break
		}
	}
	c, err := newAPIClient(api)
	if err != nil {
		return nil, err
	}
	g := nw.Genesis
	length, err := g.Params.PeriodLength()
	if err != nil {
		return nil, err
	}
	s := &devnetStory{
		c: c, log: log, genesis: g.GenesisTime.Std(), th: th, switches: switches,
		periods:  chain.Period{Genesis: g.GenesisTime, Length: length},
		interval: g.Params.ReadingInterval.Std(), window: g.Params.ReadingWindow.Std(),
	}
	keyFiles := map[chain.PubKey]string{}
	for _, a := range nw.Accounts {
		keyFiles[a.PubKey] = a.KeyFile
	}
	sellers := 0
	for i, ind := range g.Industries {
		file, ok := keyFiles[ind.Account]
		if !ok {
			continue // its key is not in DIR/accounts: the story leaves it be
		}
		key, err := keys.Load(file)
		if err != nil {
			return nil, err
		}
		si := storyIndustry{name: ind.Name, addr: ind.Account.Address(), key: key,
			seller: devnetAllowancePermille[i%len(devnetAllowancePermille)] >= 1000}
		if si.seller {
			si.price = storyPrice + uint64(sellers)*storyPriceStep
			sellers++
		}
		s.industries = append(s.industries, si)
	}
	if switches != nil && len(nw.Devices) > 0 {
		s.breach, s.leak = storyMeters(nw)
	}
	return s, nil
}

// storyMeters picks the meter that breaches its limits (the first of the
// second industry) and the one that leaks (the last of the third), or
// others when the devnet has fewer.
func storyMeters(nw *home.Network) (breach, leak *storyMeter) {
	var names []string
	first, last := map[string]int{}, map[string]int{}
	for i, d := range nw.Devices {
		if _, ok := first[d.Industry]; !ok {
			first[d.Industry] = i
			names = append(names, d.Industry)
		}
		last[d.Industry] = i
	}
	meter := func(i int) *storyMeter {
		d := nw.Devices[i]
		return &storyMeter{index: i, key: d.PubKey, industry: d.Industry, label: d.Label}
	}
	breach = meter(first[names[1%len(names)]])
	l := last[names[2%len(names)]]
	if l == breach.index {
		l = (l + 1) % len(nw.Devices)
	}
	return breach, meter(l)
}

// logf writes one line of the story.
func (s *devnetStory) logf(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.log, "story: "+format+"\n", args...)
}

// play runs the story's scripts in the background until ctx ends.
func (s *devnetStory) play(ctx context.Context) {
	go s.playMarket(ctx)
	if s.breach != nil {
		go s.playBreach(ctx)
		go s.playLeak(ctx)
	}
}

// sleepUntil waits until t or the end of ctx, and says which.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// hasAlert says whether the node holds an alert of kind for meter m.
func (s *devnetStory) hasAlert(ctx context.Context, m *storyMeter, kind alerts.Kind) (bool, error) {
	var as []struct {
		ID chain.Hash `json:"id"`
	}
	q := url.Values{"device": {m.key.String()}, "kind": {string(kind)}, "limit": {"1"}}
	if err := s.c.get(ctx, "/v1/alerts?"+q.Encode(), &as); err != nil {
		return false, err
	}
	return len(as) > 0, nil
}

// played says whether meter m's fault has played already (the chain has
// its alert), retrying while the node does not answer.
func (s *devnetStory) played(ctx context.Context, m *storyMeter, kind alerts.Kind) (bool, bool) {
	for {
		done, err := s.hasAlert(ctx, m, kind)
		if err == nil {
			return done, true
		}
		if !sleepUntil(ctx, time.Now().Add(storyPoll)) {
			return false, false
		}
	}
}

// switchFault asks the meters' goroutine to switch a fault.
func (s *devnetStory) switchFault(ctx context.Context, m *storyMeter, f sim.Fault, on bool) bool {
	select {
	case s.switches <- meterSwitch{meter: m.index, fault: f, on: on}:
		return true
	case <-ctx.Done():
		return false
	}
}

// playBreach: one meter discharges over its limits for a minute, once.
func (s *devnetStory) playBreach(ctx context.Context) {
	m := s.breach
	done, ok := s.played(ctx, m, alerts.KindLimitExceeded)
	if !ok || done {
		return
	}
	if !sleepUntil(ctx, s.genesis.Add(storyBreachAfter)) || !s.switchFault(ctx, m, sim.FaultLimitBreach, true) {
		return
	}
	s.logf("%s discharges over its limits (suspended solids and turbidity ×2.5) for %.0f s: see Alerts", m, storyBreachFor.Seconds())
	if !sleepUntil(ctx, time.Now().Add(storyBreachFor)) || !s.switchFault(ctx, m, sim.FaultLimitBreach, false) {
		return
	}
	s.logf("%s is back within its limits", m)
}

// playLeak: once the leak rule has learnt enough nights of the leak meter
// (nights the chain holds enough of its readings for), the meter leaks
// through the next night and is repaired when it ends; the rule raises the
// alert with the first reading after the night.
func (s *devnetStory) playLeak(ctx context.Context) {
	m := s.leak
	done, ok := s.played(ctx, m, alerts.KindLeak)
	if !ok || done {
		return
	}
	n := s.nightFrom(time.Now())
	for learnt := 0; learnt < s.th.LeakLearnNights; n++ {
		start, end := s.th.NightBounds(n)
		// The night's last readings are final a few seconds after it.
		if !sleepUntil(ctx, end.Std().Add(5*time.Second)) {
			return
		}
		count, err := s.nightReadings(ctx, m, n, start, end)
		if err != nil {
			s.logf("counting the night readings of %s: %s", m, oneLine(err))
			continue
		}
		if count >= s.th.LeakMinNightReadings {
			learnt++
		}
	}
	start, end := s.th.NightBounds(n)
	if !sleepUntil(ctx, start.Std().Add(-5*time.Second)) || !s.switchFault(ctx, m, sim.FaultLeak, true) {
		return
	}
	s.logf("a pipe bursts at %s tonight: its night flow rises; the leak alert comes when the night ends (~%s)", m, clock(end.Std().Add(s.interval)))
	if !sleepUntil(ctx, end.Std()) || !s.switchFault(ctx, m, sim.FaultLeak, false) {
		return
	}
	if !sleepUntil(ctx, end.Std().Add(s.interval+5*time.Second)) {
		return
	}
	if done, err := s.hasAlert(ctx, m, alerts.KindLeak); err == nil && done {
		s.logf("%s is repaired in the morning; the leak alert is on Alerts", m)
	} else {
		s.logf("%s is repaired in the morning", m)
	}
}

// nightFrom is the night that t is in, or the next one.
func (s *devnetStory) nightFrom(t time.Time) int64 {
	n, in := s.th.Night(chain.TimeOf(t))
	if in {
		return n
	}
	if start, _ := s.th.NightBounds(n); start.Std().After(t) {
		return n
	}
	return n + 1
}

// nightReadings counts meter m's final readings in night n, as the leak
// rule counts them.
func (s *devnetStory) nightReadings(ctx context.Context, m *storyMeter, n int64, start, end chain.Time) (int, error) {
	var rs api.Readings
	q := url.Values{"device": {m.key.String()}, "from": {start.Std().Format(time.RFC3339Nano)},
		"to": {end.Std().Format(time.RFC3339Nano)}, "limit": {"1000"}}
	if err := s.c.get(ctx, "/v1/readings?"+q.Encode(), &rs); err != nil {
		return 0, err
	}
	count := 0
	for _, r := range rs.Readings {
		if id, in := s.th.Night(r.Time); in && id == n && r.FlowRate >= 0 {
			count++
		}
	}
	return count, nil
}

// playMarket runs the market every period: sellers offer, buyers accept.
func (s *devnetStory) playMarket(ctx context.Context) {
	if len(s.industries) < 2 {
		return
	}
	lastErr := ""
	for {
		wait := storyPoll
		if err := s.marketStep(ctx); err != nil {
			if msg := oneLine(err); msg != lastErr && ctx.Err() == nil {
				s.logf("market: %s (trying again)", msg)
				lastErr = msg
			}
		} else {
			lastErr = ""
		}
		if !sleepUntil(ctx, time.Now().Add(wait)) {
			return
		}
	}
}

// errStoryStep is wrapped by a market step the node refused.
var errStoryStep = errors.New("story step refused")

// marketStep makes at most the transactions the market still lacks this
// period, each final before the next is decided.
func (s *devnetStory) marketStep(ctx context.Context) error {
	for {
		var inds []storyIndustryState
		if err := s.c.get(ctx, "/v1/industries", &inds); err != nil {
			return err
		}
		var offers []storyOffer
		if err := s.c.get(ctx, "/v1/market/offers", &offers); err != nil {
			return err
		}
		tx, who, what := s.nextMarketTx(inds, offers)
		if tx == nil {
			return nil
		}
		hash, err := signAndSubmit(ctx, s.c, who.key, tx, 0)
		if err != nil {
			return fmt.Errorf("%w: %s %s: %w", errStoryStep, who.name, what, err)
		}
		height, err := waitFinal(ctx, s.c, hash, storyTxTimeout)
		if err != nil {
			return fmt.Errorf("%w: %s %s: %w", errStoryStep, who.name, what, err)
		}
		s.logf("%s %s (tx block %d): see Market", who.name, what, height)
	}
}

// storyIndustryState is what the market script reads of GET
// /v1/industries (state.IndustryInfo).
type storyIndustryState struct {
	Address   chain.Address `json:"address"`
	Name      string        `json:"name"`
	Period    int64         `json:"period"`
	Allowance uint64        `json:"allowance"`
	Bought    uint64        `json:"bought"`
	Sold      uint64        `json:"sold"`
	Unoffered uint64        `json:"unoffered"`
}

// storyOffer is what it reads of GET /v1/market/offers (state.Offer, whose
// status is written as text).
type storyOffer struct {
	ID        chain.Hash    `json:"id"`
	Seller    chain.Address `json:"seller"`
	Period    int64         `json:"period"`
	Price     uint64        `json:"price"`
	Remaining uint64        `json:"remaining"`
	Status    string        `json:"status"`
}

// nextMarketTx is the market's next transaction this period, its sender
// and what it does in words; nil when the market is complete.
func (s *devnetStory) nextMarketTx(inds []storyIndustryState, offers []storyOffer) (*chain.Tx, *storyIndustry, string) {
	byAddr := map[chain.Address]*storyIndustryState{}
	for i := range inds {
		byAddr[inds[i].Address] = &inds[i]
	}
	open := map[chain.Address]bool{}
	for _, o := range offers {
		if o.Status == state.OfferOpen.String() {
			open[o.Seller] = true
		}
	}
	for i := range s.industries {
		si := &s.industries[i]
		info := byAddr[si.addr]
		if !si.seller || info == nil || info.Sold > 0 || open[si.addr] {
			continue
		}
		vol := info.Allowance / 10
		if vol == 0 || vol > info.Unoffered {
			continue
		}
		return &chain.Tx{OfferAllowance: &chain.OfferAllowance{Volume: vol, Price: si.price}}, si,
			fmt.Sprintf("offers %d L of its allowance at %s per m³", vol, state.FormatDrops(si.price*1000))
	}
	for i := range s.industries {
		si := &s.industries[i]
		info := byAddr[si.addr]
		if si.seller || info == nil || info.Bought > 0 {
			continue
		}
		var best *storyOffer
		for j := range offers {
			o := &offers[j]
			if o.Status != state.OfferOpen.String() || o.Seller == si.addr || o.Period != info.Period || o.Remaining < 2 {
				continue
			}
			if best == nil || o.Price < best.Price {
				best = o
			}
		}
		if best == nil {
			continue
		}
		vol := max(min(info.Allowance/10, best.Remaining/2), 1)
		seller := best.Seller.String()
		if ind := byAddr[best.Seller]; ind != nil {
			seller = ind.Name
		}
		return &chain.Tx{AcceptOffer: &chain.AcceptOffer{Offer: best.ID, Volume: vol}}, si,
			fmt.Sprintf("buys %d L of allowance from %s at %s per m³", vol, seller, state.FormatDrops(best.Price*1000))
	}
	return nil, nil, ""
}

// clock formats a time for the guide and the story's lines.
func clock(t time.Time) string { return t.Local().Format("15:04:05") }

// printGuide prints what to look at, where and when. It asks the node
// which faults have played already (a resumed devnet).
func (s *devnetStory) printGuide(ctx context.Context, out io.Writer, dashboard string) {
	now := time.Now()
	at := func(t time.Time) string {
		if !t.After(now) {
			return "now      "
		}
		return "~" + clock(t)
	}
	p := s.periods.Index(chain.TimeOf(now))
	settles := s.periods.End(p).Std().Add(s.window)
	var b strings.Builder
	fmt.Fprintf(&b, "\nWhat to look at, on the dashboard %s (times are this machine's):\n", dashboard)
	fmt.Fprintf(&b, "  %s  Network   #/network       both lanes finalizing blocks, validators voting\n", at(now))
	if len(s.industries) >= 2 {
		var sellers, buyers []string
		for _, si := range s.industries {
			if si.seller {
				sellers = append(sellers, si.name)
			} else {
				buyers = append(buyers, si.name)
			}
		}
		fmt.Fprintf(&b, "  %s  Market    #/market        %s offer allowance; %s buy some (again every period)\n",
			at(now.Add(20*time.Second)), strings.Join(sellers, " and "), strings.Join(buyers, " and "))
	}
	if s.breach != nil {
		when := at(s.genesis.Add(storyBreachAfter + s.interval))
		if done, err := s.hasAlert(ctx, s.breach, alerts.KindLimitExceeded); err == nil && done {
			when = "played   "
		}
		fmt.Fprintf(&b, "  %s  Alerts    #/alerts        %s exceeds its discharge limits for a minute (limit_exceeded)\n", when, s.breach)
		when = at(s.predictLeakAlert(now))
		if done, err := s.hasAlert(ctx, s.leak, alerts.KindLeak); err == nil && done {
			when = "played   "
		}
		fmt.Fprintf(&b, "  %s  Alerts    #/alerts        %s leaks through a night (leak, raised when the night ends)\n", when, s.leak)
	}
	industry := "#/industry/ADDRESS"
	name := "each industry"
	if len(s.industries) > 0 {
		industry, name = "#/industry/"+s.industries[0].addr.String(), s.industries[0].name
	}
	fmt.Fprintf(&b, "  %s  Industry  %s\n                                       period %s settles: drops minted to %s (none to an industry that broke its limits); again every %s\n",
		at(settles), industry, s.periods.Label(p), name, s.periods.Length.Std())
	fmt.Fprintf(&b, "A night is %s of every %s simulated day; the story's steps are logged as \"story:\" lines. --quiet runs the meters alone.\n",
		s.nightLength(), time.Duration(s.th.DayLength)*time.Millisecond)
	fmt.Fprint(out, b.String())
}

// nightLength is how long the leak rule's night lasts.
func (s *devnetStory) nightLength() time.Duration {
	start, end := s.th.NightBounds(0)
	return end.Std().Sub(start.Std()).Round(time.Second)
}

// predictLeakAlert is when the leak alert should come if meters report
// every interval from a couple of seconds after now: the nights playLeak
// waits for, with the readings they would hold.
func (s *devnetStory) predictLeakAlert(now time.Time) time.Time {
	first := chain.TimeOf(now.Add(2 * time.Second))
	step := chain.Time(s.interval.Milliseconds())
	n := s.nightFrom(first.Std())
	for learnt := 0; learnt < s.th.LeakLearnNights && step > 0; n++ {
		start, end := s.th.NightBounds(n)
		from := max(start, first)
		// Readings at first + k·step within [from, end).
		k0 := (from - first + step - 1) / step
		count := 0
		if t := first + k0*step; t < end {
			count = int((end-1-t)/step) + 1
		}
		if count >= s.th.LeakMinNightReadings {
			learnt++
		}
	}
	_, end := s.th.NightBounds(n)
	return end.Std().Add(s.interval)
}
