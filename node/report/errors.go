package report

import "errors"

var (
	// ErrBadPeriod is wrapped when a report's period is not a period label
	// (or number) of the chain.
	ErrBadPeriod = errors.New("bad period")
	// ErrPeriodNotStarted is wrapped when a report asks for a period that
	// begins after the last finalized block of the tx chain.
	ErrPeriodNotStarted = errors.New("period has not started on this chain")
)
