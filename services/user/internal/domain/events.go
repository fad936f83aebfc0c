package domain

import (
	"time"

	"github.com/google/uuid"
)

// Event is a fact the user service announces to other services. The store
// writes events to the transactional outbox in the same transaction as the
// change they describe, so an event is published if and only if its change
// commits.
//
// The set is closed: only this package's types implement Event.
type Event interface{ event() }

// UserCreated is emitted when an account is created. It carries no e-mail
// address: the event log is replayable and kept for days, a poor place for
// personal data that must be erasable on request.
type UserCreated struct {
	UserID      uuid.UUID
	DisplayName string
	CreatedAt   time.Time
}

// UserDeleted is emitted when an account is deleted. Consumers forget what
// they hold about the user.
type UserDeleted struct {
	UserID    uuid.UUID
	DeletedAt time.Time
}

func (UserCreated) event() {}
func (UserDeleted) event() {}
