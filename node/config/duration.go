package config

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written in config.toml as a string such as
// "30s" or "1m30s".
type Duration time.Duration

// Std is d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// MarshalText writes d as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a duration such as "30s", "1m30s" or "500ms".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration; write such as \"30s\" or \"1m30s\"", b)
	}
	*d = Duration(v)
	return nil
}
