//go:build !linux

package bench

import "os/exec"

// setDeathSignal does nothing off Linux: stop the nodes of an interrupted
// run by hand.
func setDeathSignal(*exec.Cmd) {}
