package bench

import (
	"os/exec"
	"syscall"
)

// setHistoryDeathSignal makes the kernel kill a node process when the benchmark
// dies, so that an interrupted run leaves no node behind.
func setHistoryDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
