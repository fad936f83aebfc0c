package domain

import (
	"time"

	"github.com/google/uuid"
)

// Event is a fact the service announces to other services. The store writes
// events to the transactional outbox in the same transaction as the change
// they describe, so an event is published if and only if its change commits.
//
// The set is closed: only this package's types implement Event.
type Event interface{ event() }

// WatchProgressed is emitted on every saved playback position.
type WatchProgressed struct {
	UserID          uuid.UUID
	VideoID         uuid.UUID
	PositionSeconds int
	DurationSeconds int
	Completed       bool
	OccurredAt      time.Time
}

// VideoWatched is emitted once per user and video: the first time the
// position reaches 90% of the duration. The video service counts views from
// it, so emitting it twice would count a view twice.
type VideoWatched struct {
	UserID    uuid.UUID
	VideoID   uuid.UUID
	WatchedAt time.Time
}

func (WatchProgressed) event() {}
func (VideoWatched) event()    {}
