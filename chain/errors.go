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
	// Err is the sentinel behind Reason, when there is one (such as
	// ErrSmallOrderKey), for errors.Is; may be nil.
	Err error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FieldError an ErrInvalid, and also its Err when set.
func (e *FieldError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// keyFieldErr checks a key that enters the chain, naming its field.
func keyFieldErr(field string, k PubKey) error {
	if err := k.Check(); err != nil {
		return &FieldError{Field: field, Reason: err.Error(), Err: err}
	}
	return nil
}
