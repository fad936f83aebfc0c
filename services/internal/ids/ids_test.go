package ids_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/ids"
)

func TestParseAcceptsOnlyTheCanonicalForm(t *testing.T) {
	const canonical = "123e4567-e89b-12d3-a456-426614174000"
	if id, err := ids.Parse("id", canonical); err != nil || id.String() != canonical {
		t.Fatalf("Parse(%q) = %v, %v", canonical, id, err)
	}
	for _, raw := range []string{
		"", "x", "{" + canonical + "}", "urn:uuid:" + canonical, strings.ReplaceAll(canonical, "-", ""),
		canonical + " ", "123e4567-e89b-12d3-a456-42661417400g",
	} {
		_, err := ids.Parse("video_id", raw)
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Kind != apperr.Invalid || !strings.Contains(err.Error(), "video_id") {
			t.Errorf("Parse(%q): %v; want an Invalid error naming video_id", raw, err)
		}
	}
}

func TestParseBatch(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	got, err := ids.ParseBatch("ids", []string{a.String(), b.String()}, 2)
	if err != nil || !slices.Equal(got, []uuid.UUID{a, b}) {
		t.Fatalf("ParseBatch = %v, %v", got, err)
	}
	if slices.Compare(ids.Strings(got), []string{a.String(), b.String()}) != 0 {
		t.Errorf("Strings = %v", ids.Strings(got))
	}
	if _, err := ids.ParseBatch("ids", []string{a.String(), "nope"}, 2); err == nil || !strings.Contains(err.Error(), "ids[1]") {
		t.Errorf("a bad second id: %v; want an error naming ids[1]", err)
	}
	// Over the limit: refused whatever the ids are.
	if _, err := ids.ParseBatch("ids", []string{"x", "y", "z"}, 2); err == nil || !strings.Contains(err.Error(), "at most 2") {
		t.Errorf("three ids with limit 2: %v; want the limit named", err)
	}
}

func TestLookup(t *testing.T) {
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	type item struct{ id uuid.UUID }
	var asked []uuid.UUID
	fetch := func(_ context.Context, want []uuid.UUID) ([]item, error) {
		asked = want
		// The store answers in its own order, and knows only a and c.
		return []item{{c}, {a}}, nil
	}
	idOf := func(i item) uuid.UUID { return i.id }

	found, missing, err := ids.Lookup(t.Context(), []uuid.UUID{c, b, a, c}, 4, fetch, idOf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(asked, []uuid.UUID{c, b, a}) {
		t.Errorf("fetch asked for %v, want each id once in request order", asked)
	}
	if !slices.Equal(found, []item{{c}, {a}}) || !slices.Equal(missing, []uuid.UUID{b}) {
		t.Errorf("found %v, missing %v; want [c a] in request order and [b]", found, missing)
	}

	found, missing, err = ids.Lookup(t.Context(), nil, 4, fetch, idOf)
	if err != nil || found == nil || missing == nil || len(found)+len(missing) != 0 {
		t.Errorf("no ids: %v, %v, %v; want empty, non-nil lists", found, missing, err)
	}
	if _, _, err := ids.Lookup(t.Context(), []uuid.UUID{a, b, c}, 2, fetch, idOf); apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("over the limit: %v, want Invalid", err)
	}
	boom := errors.New("database down")
	if _, _, err := ids.Lookup(t.Context(), []uuid.UUID{a}, 2, func(context.Context, []uuid.UUID) ([]item, error) { return nil, boom }, idOf); !errors.Is(err, boom) {
		t.Errorf("fetch error: %v, want it returned", err)
	}
}
