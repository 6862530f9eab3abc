package genesis

import (
	"time"

	"github.com/waterchain/waterchain/chain"
)

// Bounds that Validate enforces on the parameters. They are wide: they
// reject values that would stop a network or make its timers meaningless,
// not values that are merely unusual.
const (
	MinIdleInterval    = 10 * time.Millisecond
	MaxIdleInterval    = 24 * time.Hour
	MinReadingInterval = time.Second
	MaxReadingInterval = 24 * time.Hour
	MaxReadingWindow   = 24 * time.Hour
	MinTimeoutPropose  = 50 * time.Millisecond
	MaxTimeout         = 10 * time.Minute
	MinTimeoutDelta    = time.Millisecond
)

// DefaultReward are the reward rules of both DefaultParams and DevnetParams,
// in smallest drop units (chain.DropUnit = one drop):
//
//   - Base: 100 drops per settled period to an industry that keeps its
//     discharge limits, delivers its readings and stays within its
//     allowance.
//   - PerLitreSaved: 1 drop per m³ (1,000 L) of allowance left unused, so
//     saving water pays about as much as it costs to buy allowance on the
//     market at 1 drop per m³.
//   - MaxSavedPermille: at most half the allowance counts as saved: a plant
//     that stopped for the month earns for saving half, not for all of it.
//   - MinCompliancePermille: nothing is minted when fewer than 95% of the
//     readings keep the discharge limits.
//   - MinDeliveryPermille: nothing is minted when fewer than 90% of the
//     expected readings arrived (a meter that goes silent must not pay).
//   - PenaltyPerLitreOver: 2 drops per m³ used above the allowance are
//     taken off the reward: overuse costs twice what saving earns, so
//     buying unused allowance from a neighbour is cheaper than overusing.
var DefaultReward = chain.RewardRules{
	Base:                  100 * chain.DropUnit,
	PerLitreSaved:         chain.DropUnit / 1000,
	MaxSavedPermille:      500,
	MinCompliancePermille: 950,
	MinDeliveryPermille:   900,
	PenaltyPerLitreOver:   2 * chain.DropUnit / 1000,
}

// DefaultParams are the production parameters: settlement per calendar
// month, a reading per meter per hour, an empty block every 10 minutes on
// an idle lane (6 an hour instead of the 720 of the former 5 s heartbeat;
// a month's boundary adds three), a reading accepted up to 30 minutes from
// its block's time (meters behind a gateway that buffers), and round
// timeouts of 3 s + 1 s per round.
func DefaultParams() chain.Params {
	return chain.Params{
		IdleInterval:     chain.Duration(10 * time.Minute),
		ReadingInterval:  chain.Duration(time.Hour),
		SettlementPeriod: "month",
		ReadingWindow:    chain.Duration(30 * time.Minute),
		TimeoutPropose:   chain.Duration(3 * time.Second),
		TimeoutDelta:     chain.Duration(time.Second),
		Reward:           DefaultReward,
	}
}

// DevnetParams are for a network on one machine or a LAN where people watch
// things happen: settlement every 5 minutes, a reading every 10 s, an empty
// block every 3 s on an idle lane (quiet enough to see the rule at work,
// short enough that a test waiting for a few blocks of an idle network
// waits seconds), readings accepted 30 s from their block's time, and round
// timeouts of 1 s + 500 ms per round.
func DevnetParams() chain.Params {
	return chain.Params{
		IdleInterval:     chain.Duration(3 * time.Second),
		ReadingInterval:  chain.Duration(10 * time.Second),
		SettlementPeriod: "5m",
		ReadingWindow:    chain.Duration(30 * time.Second),
		TimeoutPropose:   chain.Duration(time.Second),
		TimeoutDelta:     chain.Duration(500 * time.Millisecond),
		Reward:           DefaultReward,
	}
}
