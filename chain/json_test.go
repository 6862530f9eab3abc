package chain

import (
	"encoding/json"
	"math"
	"testing"
)

func jsonMarshal(v any) ([]byte, error)   { return json.Marshal(v) }
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestTimeJSONRoundTripsEveryInt64 checks that every Time, including those
// outside the years RFC 3339 can write, reads back from its JSON.
func TestTimeJSONRoundTripsEveryInt64(t *testing.T) {
	for _, ms := range []int64{math.MinInt64, -62167219200001, -62167219200000, -1, 0, 1, 253402300799999, 253402300800000, math.MaxInt64} {
		b, err := json.Marshal(Time(ms))
		if err != nil {
			t.Fatalf("%d: %v", ms, err)
		}
		var back Time
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%d encodes as %s, which does not read back: %v", ms, b, err)
		}
		if int64(back) != ms {
			t.Fatalf("%d encodes as %s, which reads back as %d", ms, b, back)
		}
	}
}
