//go:build !linux

package bench

import "os/exec"

// setHistoryDeathSignal does nothing off Linux: stop the nodes of an interrupted
// run by hand.
func setHistoryDeathSignal(*exec.Cmd) {}
