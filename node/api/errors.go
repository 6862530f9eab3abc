package api

import (
	"errors"
	"fmt"
	"net/http"
)

// HTTPError is an error a Backend returns to choose the HTTP status and the
// error code of the answer. Any other error is answered 500 "internal".
type HTTPError struct {
	Status int
	Code   string
	Err    error
	// RetryAfter, when positive, is sent as a Retry-After header (seconds).
	RetryAfter int
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
func statusOf(err error) (int, string, int) {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status, he.Code, he.RetryAfter
	}
	return http.StatusInternalServerError, CodeInternal, 0
}
