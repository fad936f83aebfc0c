// Package apperr is the vocabulary of failures shared by domain code and
// transports. Domain code says what went wrong (a Kind); each transport adapter
// decides how to say it on its wire: httpx maps a Kind to an HTTP status and a
// problem+json body, grpcx to a gRPC status code, so the domain never imports
// either.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it.
type Kind int

const (
	// Internal is the zero Kind: anything not classified is the server's fault.
	Internal Kind = iota
	Invalid
	Unauthenticated
	Forbidden
	NotFound
	Conflict
	TooManyRequests
	Unavailable
)

func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case Unauthenticated:
		return "unauthenticated"
	case Forbidden:
		return "forbidden"
	case NotFound:
		return "not_found"
	case Conflict:
		return "conflict"
	case TooManyRequests:
		return "too_many_requests"
	case Unavailable:
		return "unavailable"
	default:
		return "internal"
	}
}

// FieldError names one offending input field, so clients can point at it.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Error is a classified error. Message is safe to show to callers; Err, if
// set, is the underlying cause and is only logged.
type Error struct {
	Kind    Kind
	Message string
	Fields  []FieldError
	// RetryAfterSeconds, when > 0, tells a throttled caller when to come back.
	RetryAfterSeconds int
	Err               error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of the given kind with a caller-safe message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// InvalidField reports one bad input field.
func InvalidField(field, detail string) *Error {
	return &Error{Kind: Invalid, Message: "invalid " + field + ": " + detail, Fields: []FieldError{{Field: field, Detail: detail}}}
}

// KindOf returns the Kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
