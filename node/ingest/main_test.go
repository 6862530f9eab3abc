package ingest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the broker (and the MQTT clients of the tests)
// leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
