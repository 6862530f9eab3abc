package consensus

import (
	"os"
	"syscall"
)

// datasync flushes f's data and the metadata needed to read it back, not
// its times: over the preallocated tail an append changes no size, so
// this is all it needs.
func datasync(f *os.File) error {
	return syscall.Fdatasync(int(f.Fd()))
}
