//go:build !linux

package e2e

import "os/exec"

// setDeathSignal has no portable equivalent outside Linux: the cleanup of
// each test kills its processes.
func setDeathSignal(*exec.Cmd) {}
