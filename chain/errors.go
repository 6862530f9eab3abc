package chain

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error of a ValidateBasic method: the value
// is malformed whatever the state of the chain.
var ErrInvalid = errors.New("invalid")

// FieldError names the field of a value that is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
