// Package domain holds the user service's accounts and sessions: the rules
// every transport (REST, gRPC) shares. It knows nothing about HTTP, gRPC or
// SQL; transports translate its apperr errors, and the store implements the
// Store interface declared here.
package domain

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// User is an account. PasswordHash is an argon2id PHC string and never leaves
// the service.
type User struct {
	ID           uuid.UUID
	Email        string
	DisplayName  string
	PasswordHash string
	CreatedAt    time.Time
}

// Session is a login. Only the SHA-256 of the bearer token is kept, so a
// leaked database does not hand out working tokens.
type Session struct {
	TokenHash []byte
	UserID    uuid.UUID
	CreatedAt time.Time
	ExpiresAt time.Time
}

// NewSession is what a successful login returns: the only time the plain
// token exists on the server side.
type NewSession struct {
	Token     string
	UserID    uuid.UUID
	ExpiresAt time.Time
}

// Principal is the caller a token resolves to.
type Principal struct {
	UserID    uuid.UUID
	ExpiresAt time.Time
}

// Errors a Store reports so the domain can tell expected outcomes from
// failures without knowing the database.
var (
	ErrNotFound  = errors.New("not found")
	ErrDuplicate = errors.New("duplicate")
)

// Reader is the read side of the store, usable inside and outside a
// transaction.
type Reader interface {
	// UserByID returns ErrNotFound when there is no such user.
	UserByID(ctx context.Context, id uuid.UUID) (User, error)
	// UserByEmail looks up a normalised address; ErrNotFound when unknown.
	UserByEmail(ctx context.Context, email string) (User, error)
	// UsersByIDs returns the users that exist, in no particular order.
	UsersByIDs(ctx context.Context, ids []uuid.UUID) ([]User, error)
	// SessionByTokenHash returns ErrNotFound for unknown (or deleted) tokens;
	// expiry is the caller's business.
	SessionByTokenHash(ctx context.Context, hash []byte) (Session, error)
	// RecentLoginFailures returns up to limit failure times for key that are
	// after since, newest first.
	RecentLoginFailures(ctx context.Context, key string, since time.Time, limit int) ([]time.Time, error)
}

// Tx is one store transaction. Every domain write goes through it so that
// the events of a change (see Emit) commit or roll back with it.
type Tx interface {
	Reader
	// CreateUser returns ErrDuplicate when the email is taken.
	CreateUser(ctx context.Context, u User) error
	// DeleteUser removes the user and all of their sessions; ErrNotFound when
	// there is no such user.
	DeleteUser(ctx context.Context, id uuid.UUID) error
	CreateSession(ctx context.Context, s Session) error
	// DeleteSession reports whether a session was deleted.
	DeleteSession(ctx context.Context, hash []byte) (bool, error)
	// DeleteExpiredSessions removes a user's sessions that expired at or
	// before now, so abandoned logins don't pile up.
	DeleteExpiredSessions(ctx context.Context, userID uuid.UUID, now time.Time) error
	// RecordLoginFailure records one failure at `at` under each key and
	// forgets every failure (of any key) at or before pruneBefore.
	RecordLoginFailure(ctx context.Context, keys []string, at, pruneBefore time.Time) error
	// ClearLoginFailures forgets the failures recorded under key.
	ClearLoginFailures(ctx context.Context, key string) error
	// Emit stores events for publication once the transaction commits;
	// they are discarded with it if it rolls back.
	Emit(ctx context.Context, events ...Event) error
}

// Store is the user service's persistence.
type Store interface {
	Reader
	// Atomic runs fn in one transaction: committed when fn returns nil,
	// rolled back otherwise. fn may be retried (serialization failures), so
	// it must not have side effects outside tx.
	Atomic(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
}
