// Package permanent marks errors that retrying cannot fix (an undecodable
// payload, a missing field, a reference to something that does not exist),
// so that a message consumer, of Kafka records or of work-queue jobs,
// dead-letters the message at once instead of retrying it until its
// attempts run out.
package permanent

import "errors"

// Mark marks err as permanent. Mark(nil) is nil.
func Mark(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Is reports whether err, or an error it wraps, was marked with Mark.
func Is(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }
