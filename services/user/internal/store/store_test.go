package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/outbox/outboxtest"
	"github.com/vidstream/vidstream/services/user/internal/domain"
	"github.com/vidstream/vidstream/services/user/internal/store"
)

// newStore returns a store over db whose events go to an outboxtest.Table.
func newStore(t *testing.T, db *database.DB) *store.Store {
	t.Helper()
	return store.New(db, outboxtest.NewTable(t, db))
}

// base is a fixed instant with sub-microsecond noise, to prove the store
// round-trips exactly what the domain writes after truncation.
var base = time.Date(2030, 5, 17, 10, 30, 0, 123456789, time.UTC)

func newUser(email string) domain.User {
	return domain.User{
		ID:           uuid.Must(uuid.NewV7()),
		Email:        email,
		DisplayName:  "Ann " + email,
		PasswordHash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$a2V5",
		CreatedAt:    base.Truncate(time.Microsecond),
	}
}

func createUser(t *testing.T, s *store.Store, u domain.User) {
	t.Helper()
	err := s.Atomic(context.Background(), func(ctx context.Context, tx domain.Tx) error {
		return tx.CreateUser(ctx, u)
	})
	if err != nil {
		t.Fatalf("create user %s: %v", u.Email, err)
	}
}

func tokenHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// Every test runs against a fresh SQLite database and, when
// VIDSTREAM_TEST_POSTGRES_URL is set, a fresh PostgreSQL one: one suite,
// every backend.
func TestUserRoundTrip(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		u := newUser("roundtrip@example.com")
		createUser(t, s, u)

		got, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		if got != u {
			t.Errorf("UserByID = %+v, want %+v", got, u)
		}
		got, err = s.UserByEmail(ctx, u.Email)
		if err != nil {
			t.Fatalf("UserByEmail: %v", err)
		}
		if got != u {
			t.Errorf("UserByEmail = %+v, want %+v", got, u)
		}
		if _, err := s.UserByID(ctx, uuid.New()); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("UserByID(unknown) error = %v, want ErrNotFound", err)
		}
		if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("UserByEmail(unknown) error = %v, want ErrNotFound", err)
		}
	})
}

func TestDuplicateEmail(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		s := newStore(t, db)
		createUser(t, s, newUser("dup@example.com"))
		err := s.Atomic(context.Background(), func(ctx context.Context, tx domain.Tx) error {
			return tx.CreateUser(ctx, newUser("dup@example.com"))
		})
		if !errors.Is(err, domain.ErrDuplicate) {
			t.Fatalf("second CreateUser error = %v, want ErrDuplicate", err)
		}
	})
}

func TestUsersByIDs(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		a, b := newUser("batch-a@example.com"), newUser("batch-b@example.com")
		createUser(t, s, a)
		createUser(t, s, b)

		got, err := s.UsersByIDs(ctx, []uuid.UUID{a.ID, uuid.New(), b.ID})
		if err != nil {
			t.Fatalf("UsersByIDs: %v", err)
		}
		byID := map[uuid.UUID]domain.User{}
		for _, u := range got {
			byID[u.ID] = u
		}
		if len(got) != 2 || byID[a.ID] != a || byID[b.ID] != b {
			t.Errorf("UsersByIDs = %+v, want exactly %s and %s", got, a.ID, b.ID)
		}
		got, err = s.UsersByIDs(ctx, nil)
		if err != nil || len(got) != 0 {
			t.Errorf("UsersByIDs(nil) = %v, %v; want nothing", got, err)
		}
	})
}

func TestSessions(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		u := newUser("sessions@example.com")
		createUser(t, s, u)
		now := base.Truncate(time.Microsecond)
		live := domain.Session{TokenHash: tokenHash("live"), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		expired := domain.Session{TokenHash: tokenHash("expired"), UserID: u.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
		err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
			if err := tx.CreateSession(ctx, live); err != nil {
				return err
			}
			return tx.CreateSession(ctx, expired)
		})
		if err != nil {
			t.Fatalf("create sessions: %v", err)
		}

		got, err := s.SessionByTokenHash(ctx, live.TokenHash)
		if err != nil {
			t.Fatalf("SessionByTokenHash: %v", err)
		}
		if !bytes.Equal(got.TokenHash, live.TokenHash) || got.UserID != live.UserID ||
			!got.CreatedAt.Equal(live.CreatedAt) || got.ExpiresAt != live.ExpiresAt {
			t.Errorf("SessionByTokenHash = %+v, want %+v", got, live)
		}
		if _, err := s.SessionByTokenHash(ctx, tokenHash("unknown")); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("SessionByTokenHash(unknown) error = %v, want ErrNotFound", err)
		}

		// Expiry is inclusive: a session expiring exactly now is gone.
		err = s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
			return tx.DeleteExpiredSessions(ctx, u.ID, expired.ExpiresAt)
		})
		if err != nil {
			t.Fatalf("DeleteExpiredSessions: %v", err)
		}
		if _, err := s.SessionByTokenHash(ctx, expired.TokenHash); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("expired session still there after DeleteExpiredSessions: %v", err)
		}
		if _, err := s.SessionByTokenHash(ctx, live.TokenHash); err != nil {
			t.Errorf("live session gone after DeleteExpiredSessions: %v", err)
		}

		for i, want := range []bool{true, false} {
			var deleted bool
			err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
				var err error
				deleted, err = tx.DeleteSession(ctx, live.TokenHash)
				return err
			})
			if err != nil || deleted != want {
				t.Errorf("DeleteSession #%d = %v, %v; want %v, nil", i+1, deleted, err, want)
			}
		}
	})
}

func TestDeleteUser(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		u := newUser("delete@example.com")
		createUser(t, s, u)
		sess := domain.Session{TokenHash: tokenHash("delete-me"), UserID: u.ID, CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
		if err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error { return tx.CreateSession(ctx, sess) }); err != nil {
			t.Fatalf("create session: %v", err)
		}

		if err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error { return tx.DeleteUser(ctx, u.ID) }); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		if _, err := s.UserByID(ctx, u.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("user still there after DeleteUser: %v", err)
		}
		if _, err := s.SessionByTokenHash(ctx, sess.TokenHash); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("session outlived its user: %v", err)
		}
		err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error { return tx.DeleteUser(ctx, u.ID) })
		if !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("second DeleteUser error = %v, want ErrNotFound", err)
		}
		// The email is free again.
		createUser(t, s, newUser(u.Email))
	})
}

func TestLoginFailures(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		record := func(at time.Time, keys ...string) {
			t.Helper()
			err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
				return tx.RecordLoginFailure(ctx, keys, at, at.Add(-time.Hour))
			})
			if err != nil {
				t.Fatalf("RecordLoginFailure: %v", err)
			}
		}
		recent := func(key string, since time.Time, limit int) []time.Time {
			t.Helper()
			times, err := s.RecentLoginFailures(ctx, key, since, limit)
			if err != nil {
				t.Fatalf("RecentLoginFailures: %v", err)
			}
			return times
		}
		t0 := base.Truncate(time.Microsecond)
		for i := range 4 {
			record(t0.Add(time.Duration(i)*time.Minute), "email:a@example.com", "ip:192.0.2.1")
		}
		record(t0.Add(4*time.Minute), "email:b@example.com", "ip:192.0.2.1")

		got := recent("email:a@example.com", t0, 10)
		want := []time.Time{t0.Add(3 * time.Minute), t0.Add(2 * time.Minute), t0.Add(time.Minute)}
		if !equalTimes(got, want) {
			t.Errorf("failures after t0 (exclusive), newest first = %v, want %v", got, want)
		}
		if got := recent("ip:192.0.2.1", t0.Add(-time.Second), 2); !equalTimes(got, []time.Time{t0.Add(4 * time.Minute), t0.Add(3 * time.Minute)}) {
			t.Errorf("limited ip failures = %v", got)
		}

		// A failure an hour later prunes everything at or before its cutoff.
		record(t0.Add(3*time.Minute+time.Hour), "email:c@example.com")
		if got := recent("email:a@example.com", t0.Add(-time.Hour), 10); !equalTimes(got, []time.Time{}) {
			t.Errorf("after prune, failures of a = %v, want none", got)
		}
		if got := recent("email:b@example.com", t0.Add(-time.Hour), 10); len(got) != 1 {
			t.Errorf("after prune, failures of b = %v, want the one newer than the cutoff", got)
		}

		err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
			return tx.ClearLoginFailures(ctx, "email:b@example.com")
		})
		if err != nil {
			t.Fatalf("ClearLoginFailures: %v", err)
		}
		if got := recent("email:b@example.com", t0.Add(-time.Hour), 10); len(got) != 0 {
			t.Errorf("after clear, failures of b = %v", got)
		}
		if got := recent("ip:192.0.2.1", t0.Add(-time.Hour), 10); len(got) != 1 {
			t.Errorf("clearing an email must not clear the ip: %v", got)
		}
	})
}

func TestAtomicRollback(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		s := newStore(t, db)
		ctx := context.Background()
		u := newUser("rollback@example.com")
		boom := errors.New("boom")
		err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			if _, err := tx.UserByID(ctx, u.ID); err != nil {
				t.Errorf("transaction does not see its own write: %v", err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Atomic error = %v, want the callback's", err)
		}
		if _, err := s.UserByID(ctx, u.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("rolled back user is visible: %v", err)
		}
	})
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// Emitted events are written in the transaction of the change: kept when it
// commits, gone when it rolls back; the relay is woken only after a commit.
func TestEmit(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ob := outboxtest.NewTable(t, db)
		s := store.New(db, ob)
		ctx := t.Context()

		u := newUser("emit@example.com")
		err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			return tx.Emit(ctx, domain.UserCreated{UserID: u.ID, DisplayName: u.DisplayName, CreatedAt: u.CreatedAt})
		})
		if err != nil {
			t.Fatalf("create and emit: %v", err)
		}
		got := ob.Events(t, u.ID)
		if len(got) != 1 || got[0].Topic != events.UsersTopic || got[0].Type != "UserCreated" {
			t.Fatalf("events of %s = %+v, want one UserCreated on %s", u.ID, got, events.UsersTopic)
		}
		var created eventsv1.UserCreated
		if err := proto.Unmarshal(got[0].Payload, &created); err != nil {
			t.Fatalf("decode UserCreated: %v", err)
		}
		want := &eventsv1.UserCreated{UserId: u.ID.String(), DisplayName: u.DisplayName, CreatedAt: timestamppb.New(u.CreatedAt)}
		if !proto.Equal(&created, want) {
			t.Errorf("UserCreated = %v, want %v", &created, want)
		}
		if ob.Notified() != 1 {
			t.Errorf("Notify called %d times after one committed emit, want 1", ob.Notified())
		}

		// The duplicate e-mail fails the transaction after the event was
		// emitted: the event must vanish with the row.
		dup := newUser("emit@example.com")
		err = s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
			if err := tx.Emit(ctx, domain.UserCreated{UserID: dup.ID, DisplayName: dup.DisplayName, CreatedAt: dup.CreatedAt}); err != nil {
				return err
			}
			return tx.CreateUser(ctx, dup)
		})
		if !errors.Is(err, domain.ErrDuplicate) {
			t.Fatalf("duplicate create: %v, want ErrDuplicate", err)
		}
		if got := ob.Events(t, dup.ID); len(got) != 0 {
			t.Errorf("rolled-back transaction left events %+v", got)
		}

		deletedAt := base.Add(time.Hour).Truncate(time.Microsecond)
		err = s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
			if err := tx.DeleteUser(ctx, u.ID); err != nil {
				return err
			}
			return tx.Emit(ctx, domain.UserDeleted{UserID: u.ID, DeletedAt: deletedAt})
		})
		if err != nil {
			t.Fatalf("delete and emit: %v", err)
		}
		var deleted *eventsv1.UserDeleted
		for _, e := range ob.Events(t, u.ID) {
			if e.Type != "UserDeleted" {
				continue
			}
			deleted = &eventsv1.UserDeleted{}
			if err := proto.Unmarshal(e.Payload, deleted); err != nil {
				t.Fatalf("decode UserDeleted: %v", err)
			}
		}
		if want := (&eventsv1.UserDeleted{UserId: u.ID.String(), DeletedAt: timestamppb.New(deletedAt)}); !proto.Equal(deleted, want) {
			t.Errorf("UserDeleted = %v, want %v", deleted, want)
		}

		// Transactions without events do not wake the relay.
		createUser(t, s, newUser("quiet@example.com"))
		if ob.Notified() != 2 {
			t.Errorf("Notify called %d times after two committed emits, want 2", ob.Notified())
		}
	})
}
