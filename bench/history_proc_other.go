//go:build !linux

package bench

import (
	"os/exec"
	"time"
)

// setHistoryDeathSignal does nothing off Linux: stop the nodes of an interrupted
// run by hand.
func setHistoryDeathSignal(*exec.Cmd) {}

// historyProcCPU is unknown off Linux.
func historyProcCPU(int) (time.Duration, bool) { return 0, false }
