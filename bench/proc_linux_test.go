package bench

import (
	"os"
	"testing"
)

// TestProcessPeakRSS reads this process's peak resident memory after it
// has touched 64 MiB more than its peak before: the peak has grown by at
// least that much. A process that does not exist has none.
func TestProcessPeakRSS(t *testing.T) {
	before, ok := processPeakRSS(os.Getpid())
	if !ok || before <= 0 {
		t.Fatalf("peak RSS of this process: %d, %v", before, ok)
	}
	const touch = 64 << 20
	buf := make([]byte, before+touch)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	after, ok := processPeakRSS(os.Getpid())
	if !ok {
		t.Fatal("peak RSS unreadable after the allocation")
	}
	if after < before+touch {
		t.Errorf("peak RSS %d MiB after touching %d MiB more than the %d MiB before", after>>20, int64(len(buf))>>20, before>>20)
	}
	if _, ok := processPeakRSS(-1); ok {
		t.Error("a peak RSS for pid -1")
	}
}
