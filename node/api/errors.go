package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// HTTPError is an error a Backend returns to choose the HTTP status and the
// error code of the answer. Any other error is answered 500 "internal".
type HTTPError struct {
	Status int
	Code   string
	Err    error
	// RetryAfter, when positive, is how long the client should wait
	// before it tries again: the answer's Retry-After header, in whole
	// seconds rounded up, and its retry_after_ms.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string { return e.Err.Error() }
func (e *HTTPError) Unwrap() error { return e.Err }

// Errorf makes an HTTPError.
func Errorf(status int, code, format string, args ...any) *HTTPError {
	return &HTTPError{Status: status, Code: code, Err: fmt.Errorf(format, args...)}
}

// Wrap attaches a status and code to err.
func Wrap(status int, code string, err error) *HTTPError {
	return &HTTPError{Status: status, Code: code, Err: err}
}

// NotFound is a 404 naming what was not found.
func NotFound(format string, args ...any) *HTTPError {
	return Errorf(http.StatusNotFound, CodeNotFound, format, args...)
}

// BadRequest is a 400 saying what is wrong with the request.
func BadRequest(format string, args ...any) *HTTPError {
	return Errorf(http.StatusBadRequest, CodeBadRequest, format, args...)
}

// statusOf returns the status, code and retry-after of err.
func statusOf(err error) (int, string, time.Duration) {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status, he.Code, he.RetryAfter
	}
	return http.StatusInternalServerError, CodeInternal, 0
}

// setRetryAfter sets h's Retry-After to d in whole seconds, rounded up
// (the header counts no less), and returns d in milliseconds for the
// answer's retry_after_ms, which tells a client that reads it when room
// is expected to the millisecond; 0 and no header when d is not
// positive.
func setRetryAfter(h http.Header, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	h.Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	return max(d.Milliseconds(), 1)
}
