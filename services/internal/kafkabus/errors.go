package kafkabus

import (
	"errors"

	"github.com/vidstream/vidstream/services/internal/permanent"
)

// Permanent marks err as one that retrying cannot fix: an undecodable payload,
// an event type the handler does not know, a missing field. The consumer then
// dead-letters the record at once instead of retrying it MaxAttempts times.
// Permanent(nil) is nil.
func Permanent(err error) error { return permanent.Mark(err) }

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool { return permanent.Is(err) }

// Skip tells the consumer that the handler deliberately did not apply the
// record, for reason: typically an event type newer than the consumer (a
// producer added it; the topic's contract allows additive changes). The
// record is acknowledged, logged and counted (outcome "skipped"), never
// retried or dead-lettered: the dead-letter topic is for records someone
// must look at, and a type this consumer does not know yet is not one.
// Nothing the handler wrote in the transaction is kept.
func Skip(reason string) error { return &skipError{reason: reason} }

// IsSkipped reports whether err, or an error it wraps, came from Skip.
func IsSkipped(err error) bool {
	var s *skipError
	return errors.As(err, &s)
}

type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }
