//go:build !linux

package bench

import (
	"os"
	"os/exec"
)

// setProcAttr: without Linux's Pdeathsig, the nodes are stopped by close
// only.
func setProcAttr(*exec.Cmd) {}

func terminate(p *os.Process) { p.Kill() }

// processCPU, selfCPU and processPeakRSS read /proc, which only Linux
// has.
func processCPU(int) (float64, bool)   { return 0, false }
func selfCPU() (float64, bool)         { return 0, false }
func processPeakRSS(int) (int64, bool) { return 0, false }
