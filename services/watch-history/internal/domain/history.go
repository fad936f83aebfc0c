// Package domain holds watch history: where each user is in each video, and
// the rules for moving that position. Every transport (REST, gRPC, the Kafka
// consumers) calls the same Service. It knows nothing about HTTP, gRPC, SQL
// or Kafka: failures are apperr kinds that each adapter translates for its
// own wire, and events are plain values the store hands to the outbox.
//
// # Completion
//
// An entry becomes completed when a reported position reaches 90% of the
// video's duration, and then stays completed: a user who finished a film and
// scrubs back to a favorite scene has still watched it, and a "continue
// watching" row must not resurface it. WatchedAt records that first moment,
// and VideoWatched is emitted exactly then — never again for the same user
// and video, even if the position is rewound and reaches 90% once more —
// because the video service counts views from it.
package domain

import (
	"time"

	"github.com/google/uuid"
)

// Entry is one user's progress in one video. Title and DurationSeconds are a
// local copy of the catalog's, so a listing needs no call to the video
// service; the VideoUpdated consumer keeps them fresh.
type Entry struct {
	UserID          uuid.UUID
	VideoID         uuid.UUID
	Title           string
	DurationSeconds int
	PositionSeconds int
	// WatchedAt is when the position first reached the completion threshold;
	// nil until then. It never changes afterwards (see the package doc).
	WatchedAt *time.Time
	// VideoUpdatedAt is the catalog version (the video's updated_at) that
	// Title and DurationSeconds were copied from. Comparing versions lets a
	// late or redelivered VideoUpdated, or a lagging catalog read, be
	// recognized as older than what is stored and ignored.
	VideoUpdatedAt time.Time
	// UpdatedAt is when the user last reported progress; listings sort by it.
	UpdatedAt time.Time
	// Version counts writes to the entry. Tx.Put uses it as a compare-and-set
	// token so two concurrent reports for the same video cannot both decide
	// they were the first to complete it.
	Version int64
}

// Completed reports whether the user has (at some point) watched at least 90%
// of the video.
func (e Entry) Completed() bool { return e.WatchedAt != nil }

// Video is what the service needs to know about a catalog entry.
type Video struct {
	ID              uuid.UUID
	Title           string
	DurationSeconds int
	// UpdatedAt versions the catalog entry; see Entry.VideoUpdatedAt.
	UpdatedAt time.Time
}

// reachesCompletion reports whether position is at least 90% of duration.
// Integer arithmetic keeps the boundary exact (9 of 10 seconds counts) where
// a float comparison could land either side of it.
func reachesCompletion(position, duration int) bool {
	return duration > 0 && position*10 >= duration*9
}

// Page is one slice of a user's history. Next is nil on the last page.
type Page struct {
	Items []Entry
	Next  *Cursor
}

// ListQuery selects a page of a user's history, most recently updated first.
type ListQuery struct {
	// Limit is the page size: 1..MaxPageSize, or 0 for DefaultPageSize.
	Limit int
	// After, when set, starts the page strictly after that position.
	After *Cursor
}

// Listing limits shared by every transport.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)
