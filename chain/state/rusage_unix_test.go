//go:build unix

package state

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) this process has used, and
// whether it is known: on a shared machine a benchmark's CPU time per
// operation moves less with the load than its wall time does.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
