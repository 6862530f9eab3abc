package chain

import (
	"fmt"
)

// Lane names one of the two chains.
type Lane uint8

const (
	// LaneData is the data chain: meter readings.
	LaneData Lane = 1
	// LaneTx is the transaction chain: transfers, trades, devices, permits,
	// governance and evidence.
	LaneTx Lane = 2
)

// Lanes lists both lanes in a fixed order.
var Lanes = []Lane{LaneData, LaneTx}

// Valid reports whether l is one of the two lanes.
func (l Lane) Valid() bool { return l == LaneData || l == LaneTx }

// Other returns the lane that l anchors to.
func (l Lane) Other() Lane {
	if l == LaneData {
		return LaneTx
	}
	return LaneData
}

func (l Lane) String() string {
	switch l {
	case LaneData:
		return "data"
	case LaneTx:
		return "tx"
	}
	return fmt.Sprintf("lane(%d)", uint8(l))
}

// ParseLane parses "data" or "tx".
func ParseLane(s string) (Lane, error) {
	switch s {
	case "data":
		return LaneData, nil
	case "tx":
		return LaneTx, nil
	}
	return 0, fmt.Errorf("lane %q: want \"data\" or \"tx\"", s)
}

func (l Lane) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

func (l *Lane) UnmarshalText(b []byte) error {
	p, err := ParseLane(string(b))
	if err != nil {
		return err
	}
	*l = p
	return nil
}
