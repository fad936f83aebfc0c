package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

// Limits on client input. They are part of the public contract (documented
// in openapi.json), so change them together.
const (
	MaxTitleLen       = 200
	MaxDescriptionLen = 5000
	// MaxDurationSeconds (48 h) rejects obvious unit mistakes such as
	// milliseconds while leaving room for very long recordings.
	MaxDurationSeconds = 2 * 86400
	MinReleaseYear     = 1870 // the earliest surviving motion pictures
	// releaseYearLookahead allows announced titles a few years ahead.
	releaseYearLookahead = 5
	MaxSeason            = 1000
	MaxEpisode           = 10000
)

// fieldErrors collects every problem with an input so a client can fix them
// all in one round trip.
type fieldErrors []apperr.FieldError

func (fe *fieldErrors) add(field, format string, args ...any) {
	*fe = append(*fe, apperr.FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

func (fe fieldErrors) err() error {
	if len(fe) == 0 {
		return nil
	}
	names := make([]string, len(fe))
	for i, f := range fe {
		names[i] = f.Field
	}
	return &apperr.Error{
		Kind:    apperr.Invalid,
		Message: "invalid video: check " + strings.Join(names, ", "),
		Fields:  fe,
	}
}

// normalize trims surrounding whitespace from free-text fields so " " cannot
// pass as a title and stored values compare predictably.
func normalize(v *Video) {
	v.Title = strings.TrimSpace(v.Title)
	v.Description = strings.TrimSpace(v.Description)
	if v.SeriesTitle != nil {
		s := strings.TrimSpace(*v.SeriesTitle)
		v.SeriesTitle = &s
	}
}

// validate checks a complete video (after creation input or a patch has been
// applied), so create and update share one set of rules.
//
// Episode rule: an episode must name its series_title, season and episode;
// a movie must not carry any of the three. Rejecting rather than ignoring
// stray series fields on a movie keeps clients from believing they stored
// data that was dropped.
func validate(v Video, now time.Time) error {
	var fe fieldErrors
	switch n := utf8.RuneCountInString(v.Title); {
	case n == 0:
		fe.add("title", "must not be empty")
	case n > MaxTitleLen:
		fe.add("title", "must be at most %d characters", MaxTitleLen)
	case hasControl(v.Title, false):
		fe.add("title", "must not contain control characters")
	}
	switch {
	case utf8.RuneCountInString(v.Description) > MaxDescriptionLen:
		fe.add("description", "must be at most %d characters", MaxDescriptionLen)
	case hasControl(v.Description, true):
		fe.add("description", "must not contain control characters other than tab and line breaks")
	}
	if v.DurationSeconds <= 0 || v.DurationSeconds > MaxDurationSeconds {
		fe.add("duration_seconds", "must be between 1 and %d", MaxDurationSeconds)
	}
	if v.ReleaseYear != nil {
		maxYear := now.Year() + releaseYearLookahead
		if *v.ReleaseYear < MinReleaseYear || *v.ReleaseYear > maxYear {
			fe.add("release_year", "must be between %d and %d", MinReleaseYear, maxYear)
		}
	}
	switch v.Kind {
	case KindEpisode:
		if v.SeriesTitle == nil {
			fe.add("series_title", "is required for an episode")
		} else if n := utf8.RuneCountInString(*v.SeriesTitle); n == 0 || n > MaxTitleLen {
			fe.add("series_title", "must be 1 to %d characters", MaxTitleLen)
		} else if hasControl(*v.SeriesTitle, false) {
			fe.add("series_title", "must not contain control characters")
		}
		if v.Season == nil {
			fe.add("season", "is required for an episode")
		} else if *v.Season < 1 || *v.Season > MaxSeason {
			fe.add("season", "must be between 1 and %d", MaxSeason)
		}
		if v.Episode == nil {
			fe.add("episode", "is required for an episode")
		} else if *v.Episode < 1 || *v.Episode > MaxEpisode {
			fe.add("episode", "must be between 1 and %d", MaxEpisode)
		}
	case KindMovie:
		if v.SeriesTitle != nil {
			fe.add("series_title", "must be absent for a movie")
		}
		if v.Season != nil {
			fe.add("season", "must be absent for a movie")
		}
		if v.Episode != nil {
			fe.add("episode", "must be absent for a movie")
		}
	default:
		fe.add("kind", "must be %q or %q", KindMovie, KindEpisode)
	}
	return fe.err()
}

// hasControl reports control characters. Besides keeping titles printable,
// this rejects NUL, which PostgreSQL cannot store in TEXT: without the check
// the same input would be accepted on SQLite and fail as a 500 on PostgreSQL.
func hasControl(s string, allowLineBreaks bool) bool {
	for _, r := range s {
		if allowLineBreaks && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// apply returns v with p merged in (JSON merge-patch semantics). Fields that
// cannot be null report an error instead of being cleared.
func apply(v Video, p Patch) (Video, error) {
	var fe fieldErrors
	if p.Kind.Set {
		fe.add("kind", "is immutable; delete the video and create it again to change it")
	}
	if p.Title.Set {
		if p.Title.Value == nil {
			fe.add("title", "must not be null")
		} else {
			v.Title = *p.Title.Value
		}
	}
	if p.Description.Set {
		// null clears the description: an empty description is its natural
		// "absent" value.
		v.Description = ""
		if p.Description.Value != nil {
			v.Description = *p.Description.Value
		}
	}
	if p.DurationSeconds.Set {
		if p.DurationSeconds.Value == nil {
			fe.add("duration_seconds", "must not be null")
		} else {
			v.DurationSeconds = *p.DurationSeconds.Value
		}
	}
	if p.SeriesTitle.Set {
		v.SeriesTitle = clone(p.SeriesTitle.Value)
	}
	if p.Season.Set {
		v.Season = clone(p.Season.Value)
	}
	if p.Episode.Set {
		v.Episode = clone(p.Episode.Value)
	}
	if p.ReleaseYear.Set {
		v.ReleaseYear = clone(p.ReleaseYear.Value)
	}
	return v, fe.err()
}

// clone copies a pointed-to value so a stored Video never aliases caller memory.
func clone[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
