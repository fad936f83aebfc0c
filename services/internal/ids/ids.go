// Package ids parses the UUIDs that name users and videos as they arrive in
// requests, REST and gRPC alike.
//
// Only the canonical 36-character form is accepted, although uuid.Parse
// also takes braces, "urn:uuid:" and bare hex: one resource has one id
// spelling everywhere (URLs, logs, caches, the database).
package ids

import (
	"context"
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

// Lookup answers a batch lookup as the BatchGet RPCs promise: at most limit
// ids; each distinct id asked once, in the order first asked; found in that
// order and the others listed as missing. fetch returns those of the ids
// it knows, in any order; idOf names a result's id.
func Lookup[T any](ctx context.Context, want []uuid.UUID, limit int,
	fetch func(context.Context, []uuid.UUID) ([]T, error), idOf func(T) uuid.UUID,
) (found []T, missing []uuid.UUID, err error) {
	if len(want) > limit {
		return nil, nil, apperr.InvalidField("ids", fmt.Sprintf("at most %d ids per call, got %d", limit, len(want)))
	}
	unique := make([]uuid.UUID, 0, len(want))
	seen := make(map[uuid.UUID]bool, len(want))
	for _, id := range want {
		if !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	if len(unique) == 0 {
		return []T{}, []uuid.UUID{}, nil
	}
	got, err := fetch(ctx, unique)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[uuid.UUID]T, len(got))
	for _, v := range got {
		byID[idOf(v)] = v
	}
	found = make([]T, 0, len(got))
	missing = []uuid.UUID{}
	for _, id := range unique {
		if v, ok := byID[id]; ok {
			found = append(found, v)
		} else {
			missing = append(missing, id)
		}
	}
	return found, missing, nil
}
