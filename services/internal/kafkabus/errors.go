package kafkabus

import "errors"

// Permanent marks err as one that retrying cannot fix: an undecodable payload,
// an event type the handler does not know, a missing field. The consumer then
// dead-letters the record at once instead of retrying it MaxAttempts times.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }
