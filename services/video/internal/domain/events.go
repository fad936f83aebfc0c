package domain

import (
	"time"

	"github.com/google/uuid"
)

// Event is a fact the video service announces to other services. The store
// writes events to the transactional outbox in the same transaction as the
// change they describe, so an event is published if and only if its change
// commits.
//
// The set is closed: only this package's types implement Event.
type Event interface{ event() }

// VideoPublished is emitted when a video is created.
type VideoPublished struct {
	VideoID         uuid.UUID
	OwnerID         uuid.UUID
	Title           string
	Kind            Kind
	DurationSeconds int
	PublishedAt     time.Time
}

// VideoUpdated is emitted when an update changed a video. It carries the
// new state of the fields other services copy, and UpdatedAt orders it
// against other updates of the same video.
type VideoUpdated struct {
	VideoID         uuid.UUID
	Title           string
	Description     string
	DurationSeconds int
	UpdatedAt       time.Time
}

// VideoDeleted is emitted when a video is deleted.
type VideoDeleted struct {
	VideoID   uuid.UUID
	DeletedAt time.Time
}

func (VideoPublished) event() {}
func (VideoUpdated) event()   {}
func (VideoDeleted) event()   {}
