// Package domain holds the video catalog's entities and the Service every
// transport (REST, gRPC, and the Kafka view counter) calls. It knows
// nothing about HTTP, gRPC or SQL: failures are apperr kinds that each
// adapter translates for its own wire.
package domain

import (
	"time"

	"github.com/google/uuid"
)

// Kind says whether a video stands alone or belongs to a series.
type Kind string

const (
	KindMovie   Kind = "movie"
	KindEpisode Kind = "episode"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool { return k == KindMovie || k == KindEpisode }

// Status is where a video is in its processing pipeline. With transcoding
// on (WithTranscoding), a new video is processing until the transcoder
// reports its outcome, which makes it ready or failed for good; without it
// a video is ready as soon as it is created.
type Status string

const (
	StatusProcessing Status = "processing"
	StatusReady      Status = "ready"
	StatusFailed     Status = "failed"
)

// Finished reports whether s is a final status: nothing changes it again.
func (s Status) Finished() bool { return s == StatusReady || s == StatusFailed }

// Video is one catalog entry.
type Video struct {
	ID              uuid.UUID
	Title           string
	Description     string
	Kind            Kind
	DurationSeconds int
	// SeriesTitle, Season and Episode are set exactly when Kind is episode.
	SeriesTitle *string
	Season      *int
	Episode     *int
	ReleaseYear *int
	OwnerID     uuid.UUID
	Status      Status
	ViewCount   int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// NewVideo is what a client supplies to publish a video.
type NewVideo struct {
	Title           string
	Description     string
	Kind            Kind
	DurationSeconds int
	SeriesTitle     *string
	Season          *int
	Episode         *int
	ReleaseYear     *int
}

// Change is one field of a partial update with JSON merge-patch meaning:
// the zero value leaves the field alone; Set with a nil Value clears it
// (null); Set with a Value replaces it.
type Change[T any] struct {
	Set   bool
	Value *T
}

// SetTo returns a Change that replaces the field with v.
func SetTo[T any](v T) Change[T] { return Change[T]{Set: true, Value: &v} }

// Clear returns a Change that clears the field (JSON null).
func Clear[T any]() Change[T] { return Change[T]{Set: true} }

// Patch is a partial update of the mutable fields. Kind is present only so a
// client that tries to change it gets a precise error instead of "unknown
// field": kind is immutable because switching between movie and episode would
// silently change which other fields are required.
type Patch struct {
	Title           Change[string]
	Description     Change[string]
	Kind            Change[string]
	DurationSeconds Change[int]
	SeriesTitle     Change[string]
	Season          Change[int]
	Episode         Change[int]
	ReleaseYear     Change[int]
}

// Page is one slice of a keyset-paginated listing. Next is nil on the last page.
type Page struct {
	Items []Video
	Next  *Cursor
}

// ListQuery selects a page of the catalog, newest first.
type ListQuery struct {
	// Kind filters by kind when non-empty.
	Kind  Kind
	Limit int
	// After, when set, starts the page strictly after that position.
	After *Cursor
}
