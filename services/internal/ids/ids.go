// Package ids parses the UUIDs that name users and videos as they arrive in
// requests, REST and gRPC alike.
//
// Only the canonical 36-character form is accepted, although uuid.Parse
// also takes braces, "urn:uuid:" and bare hex: one resource has one id
// spelling everywhere (URLs, logs, caches, the database).
package ids

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

// Parse parses raw, the value of field, or returns an apperr Invalid error
// naming field.
func Parse(field, raw string) (uuid.UUID, error) {
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		e := apperr.InvalidField(field, "must be a UUID like 123e4567-e89b-12d3-a456-426614174000")
		e.Err = err
		return uuid.Nil, e
	}
	return id, nil
}

// ParseBatch parses the ids of a batch request, naming field[i] in the
// error. More than limit ids are refused before any is parsed, so an
// oversized request costs no work.
func ParseBatch(field string, raw []string, limit int) ([]uuid.UUID, error) {
	if len(raw) > limit {
		return nil, apperr.InvalidField(field, fmt.Sprintf("at most %d ids per call, got %d", limit, len(raw)))
	}
	out := make([]uuid.UUID, len(raw))
	for i, r := range raw {
		id, err := Parse(fmt.Sprintf("%s[%d]", field, i), r)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}

// Strings returns ids in canonical form.
func Strings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}
