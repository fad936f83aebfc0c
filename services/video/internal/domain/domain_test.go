package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

func ptr[T any](v T) *T { return &v }

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func validMovie() Video {
	return Video{Title: "Metropolis", Kind: KindMovie, DurationSeconds: 9000, ReleaseYear: ptr(1927)}
}

func validEpisode() Video {
	return Video{Title: "Pilot", Kind: KindEpisode, DurationSeconds: 1800, SeriesTitle: ptr("Show"), Season: ptr(1), Episode: ptr(1)}
}

// fields returns the names of the offending fields, in order.
func fields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.Invalid {
		t.Fatalf("want an Invalid apperr, got %v", err)
	}
	var names []string
	for _, f := range e.Fields {
		names = append(names, f.Field)
	}
	return names
}

func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*Video)
		base   func() Video
		want   string
	}{
		"movie ok":                  {base: validMovie, mutate: func(*Video) {}},
		"episode ok":                {base: validEpisode, mutate: func(*Video) {}},
		"empty title":               {base: validMovie, mutate: func(v *Video) { v.Title = "  " }, want: "title"},
		"title 200 runes ok":        {base: validMovie, mutate: func(v *Video) { v.Title = strings.Repeat("é", 200) }},
		"title 201 runes":           {base: validMovie, mutate: func(v *Video) { v.Title = strings.Repeat("é", 201) }, want: "title"},
		"title with NUL":            {base: validMovie, mutate: func(v *Video) { v.Title = "a\x00b" }, want: "title"},
		"title with newline":        {base: validMovie, mutate: func(v *Video) { v.Title = "a\nb" }, want: "title"},
		"description with newline":  {base: validMovie, mutate: func(v *Video) { v.Description = "line\nline\ttab" }},
		"description with NUL":      {base: validMovie, mutate: func(v *Video) { v.Description = "a\x00" }, want: "description"},
		"series with escape":        {base: validEpisode, mutate: func(v *Video) { v.SeriesTitle = ptr("a\x1bb") }, want: "series_title"},
		"description too long":      {base: validMovie, mutate: func(v *Video) { v.Description = strings.Repeat("x", 5001) }, want: "description"},
		"zero duration":             {base: validMovie, mutate: func(v *Video) { v.DurationSeconds = 0 }, want: "duration_seconds"},
		"huge duration":             {base: validMovie, mutate: func(v *Video) { v.DurationSeconds = MaxDurationSeconds + 1 }, want: "duration_seconds"},
		"bad kind":                  {base: validMovie, mutate: func(v *Video) { v.Kind = "short" }, want: "kind"},
		"year too early":            {base: validMovie, mutate: func(v *Video) { v.ReleaseYear = ptr(1869) }, want: "release_year"},
		"year five ahead ok":        {base: validMovie, mutate: func(v *Video) { v.ReleaseYear = ptr(2031) }},
		"year six ahead":            {base: validMovie, mutate: func(v *Video) { v.ReleaseYear = ptr(2032) }, want: "release_year"},
		"movie with season":         {base: validMovie, mutate: func(v *Video) { v.Season = ptr(1) }, want: "season"},
		"movie with series":         {base: validMovie, mutate: func(v *Video) { v.SeriesTitle = ptr("S") }, want: "series_title"},
		"episode without episode":   {base: validEpisode, mutate: func(v *Video) { v.Episode = nil }, want: "episode"},
		"episode season zero":       {base: validEpisode, mutate: func(v *Video) { v.Season = ptr(0) }, want: "season"},
		"episode empty series":      {base: validEpisode, mutate: func(v *Video) { v.SeriesTitle = ptr(" ") }, want: "series_title"},
		"episode missing all three": {base: validEpisode, mutate: func(v *Video) { v.SeriesTitle, v.Season, v.Episode = nil, nil, nil }, want: "series_title,season,episode"},
	} {
		t.Run(name, func(t *testing.T) {
			v := tc.base()
			tc.mutate(&v)
			normalize(&v)
			got := strings.Join(fields(t, validate(v, now)), ",")
			if got != tc.want {
				t.Fatalf("fields = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestApplyMergePatch(t *testing.T) {
	v := validEpisode()
	v.Description = "d"
	v.ReleaseYear = ptr(2001)

	got, err := apply(v, Patch{})
	if err != nil || !sameContent(got, v) {
		t.Fatalf("empty patch changed the video: %v", err)
	}

	got, err = apply(v, Patch{Title: SetTo("New"), Description: Clear[string](), ReleaseYear: Clear[int](), Season: SetTo(3)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "New" || got.Description != "" || got.ReleaseYear != nil || *got.Season != 3 || *got.Episode != 1 {
		t.Fatalf("patch applied wrongly: %+v", got)
	}
	if *v.Season != 1 {
		t.Fatal("apply mutated its input")
	}

	_, err = apply(v, Patch{Title: Clear[string](), DurationSeconds: Clear[int](), Kind: SetTo("movie")})
	if got := strings.Join(fields(t, err), ","); got != "kind,title,duration_seconds" {
		t.Fatalf("fields = %q", got)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := Cursor{CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), ID: uuid.New()}
	got, err := DecodeCursor(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(c.CreatedAt) || got.ID != c.ID {
		t.Fatalf("round trip: %+v != %+v", got, c)
	}
	for _, bad := range []string{"", "!!", "AAAA", c.Encode() + "A", strings.Repeat("A", 34)} {
		_, err := DecodeCursor(bad)
		if got := fields(t, err); len(got) != 1 || got[0] != "cursor" {
			t.Fatalf("DecodeCursor(%q) fields = %v", bad, got)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(Cursor{CreatedAt: now, ID: uuid.New()}.Encode())
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := DecodeCursor(s)
		if err != nil {
			if apperr.KindOf(err) != apperr.Invalid {
				t.Fatalf("non-Invalid error %v", err)
			}
			return
		}
		// Anything accepted must re-encode to an equivalent cursor.
		again, err := DecodeCursor(c.Encode())
		if err != nil || !again.CreatedAt.Equal(c.CreatedAt) || again.ID != c.ID {
			t.Fatalf("re-encode of %q failed: %v", s, err)
		}
	})
}
