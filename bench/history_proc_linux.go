package bench

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill a node process when the benchmark
// dies, so that an interrupted run leaves no node behind.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
