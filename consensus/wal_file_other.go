//go:build !linux

package consensus

import "os"

// datasync is f.Sync where fdatasync is not at hand.
func datasync(f *os.File) error {
	return f.Sync()
}
