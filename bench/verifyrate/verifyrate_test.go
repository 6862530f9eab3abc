package verifyrate

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRates(t *testing.T) {
	for name, measure := range map[string]func(context.Context, time.Duration) (float64, error){
		"ed25519": Ed25519, "batch": Batch,
	} {
		rate, err := measure(context.Background(), 50*time.Millisecond)
		if err != nil || rate <= 0 {
			t.Errorf("%s: %v/s, %v", name, rate, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Ed25519(ctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
