package bench

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// TestProcessesFailToStart: nodes whose process exits at once fail the run
// with ErrNetwork naming the node and quoting its log, and nothing stays
// running.
func TestProcessesFailToStart(t *testing.T) {
	bin := "/bin/false"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no /bin/false here")
	}
	res, err := Run(context.Background(), Options{
		Validators: 2, Processes: true, Binary: bin, Rates: []int{10}, Duration: time.Second, Devices: 2,
		VerifyDuration: 10 * time.Millisecond,
	})
	t.Log(err)
	if !errors.Is(err, ErrNetwork) || !strings.Contains(err.Error(), "validator-") || !strings.Contains(err.Error(), "exited") || res != nil {
		t.Fatalf("got %v, %v; want ErrNetwork naming the validator that exited", res, err)
	}
}
