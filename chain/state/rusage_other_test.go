//go:build !unix

package state

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
