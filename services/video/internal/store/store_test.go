package store_test

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/outbox/outboxtest"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// newStore returns a store over db whose events go to an outboxtest.Table.
func newStore(t *testing.T, db *database.DB) *store.Store {
	t.Helper()
	return store.New(db, outboxtest.NewTable(t, db))
}

func ptr[T any](v T) *T { return &v }

// base is a fixed instant with a non-zero microsecond part, to prove that
// sub-second precision survives both backends.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

func movie(owner uuid.UUID, title string, created time.Time) domain.Video {
	return domain.Video{
		ID: uuid.Must(uuid.NewV7()), OwnerID: owner, Title: title, Description: "about " + title,
		Kind: domain.KindMovie, DurationSeconds: 5400, ReleaseYear: ptr(1999),
		Status: domain.StatusReady, CreatedAt: created, UpdatedAt: created,
	}
}

func episode(owner uuid.UUID, title string, created time.Time) domain.Video {
	return domain.Video{
		ID: uuid.Must(uuid.NewV7()), OwnerID: owner, Title: title,
		Kind: domain.KindEpisode, DurationSeconds: 1800, SeriesTitle: ptr("Series"), Season: ptr(1), Episode: ptr(2),
		Status: domain.StatusReady, CreatedAt: created, UpdatedAt: created,
	}
}

func insert(ctx context.Context, t *testing.T, s *store.Store, vs ...domain.Video) {
	t.Helper()
	err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
		for _, v := range vs {
			if err := tx.Insert(ctx, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
}

func equalVideo(t *testing.T, got, want domain.Video) {
	t.Helper()
	if got.ID != want.ID || got.OwnerID != want.OwnerID || got.Title != want.Title ||
		got.Description != want.Description || got.Kind != want.Kind || got.DurationSeconds != want.DurationSeconds ||
		!eq(got.SeriesTitle, want.SeriesTitle) || !eq(got.Season, want.Season) || !eq(got.Episode, want.Episode) ||
		!eq(got.ReleaseYear, want.ReleaseYear) || got.Status != want.Status || got.ViewCount != want.ViewCount ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("video mismatch:\n got %+v\nwant %+v", got, want)
	}
}

func eq[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func isKind(err error, k apperr.Kind) bool { return err != nil && apperr.KindOf(err) == k }

func TestStore(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		owner := uuid.New()

		t.Run("round trip and not found", func(t *testing.T) {
			s := newStore(t, db)
			m, e := movie(owner, "Roundtrip", base), episode(owner, "Pilot", base.Add(time.Microsecond))
			insert(ctx, t, s, m, e)
			for _, want := range []domain.Video{m, e} {
				got, err := s.Get(ctx, want.ID)
				if err != nil {
					t.Fatalf("get: %v", err)
				}
				equalVideo(t, got, want)
				if got.CreatedAt.Location() != time.UTC {
					t.Fatalf("created_at not UTC: %v", got.CreatedAt.Location())
				}
			}
			if _, err := s.Get(ctx, uuid.New()); !isKind(err, apperr.NotFound) {
				t.Fatalf("get unknown: want NotFound, got %v", err)
			}
			got, err := s.GetMany(ctx, []uuid.UUID{m.ID, uuid.New(), e.ID})
			if err != nil || len(got) != 2 {
				t.Fatalf("get many: %v %d", err, len(got))
			}
			if got, err := s.GetMany(ctx, nil); err != nil || len(got) != 0 {
				t.Fatalf("get many empty: %v %v", got, err)
			}
		})

		t.Run("duplicate id is a conflict", func(t *testing.T) {
			s := newStore(t, db)
			m := movie(owner, "Dup", base)
			insert(ctx, t, s, m)
			err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error { return tx.Insert(ctx, m) })
			if !isKind(err, apperr.Conflict) {
				t.Fatalf("want Conflict, got %v", err)
			}
		})

		t.Run("atomic rolls back on error", func(t *testing.T) {
			s := newStore(t, db)
			m := movie(owner, "Rolled back", base)
			boom := errors.New("boom")
			err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
				if err := tx.Insert(ctx, m); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("want boom, got %v", err)
			}
			if _, err := s.Get(ctx, m.ID); !isKind(err, apperr.NotFound) {
				t.Fatalf("rolled back insert visible: %v", err)
			}
		})

		t.Run("update delete increment", func(t *testing.T) {
			s := newStore(t, db)
			m := movie(owner, "Before", base)
			insert(ctx, t, s, m)
			err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
				cur, err := tx.GetForUpdate(ctx, m.ID)
				if err != nil {
					return err
				}
				cur.Title, cur.ReleaseYear, cur.UpdatedAt = "After", nil, base.Add(time.Hour)
				return tx.Update(ctx, cur)
			})
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			for range 3 {
				if err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
					return tx.IncrementViewCount(ctx, m.ID, 2)
				}); err != nil {
					t.Fatalf("increment: %v", err)
				}
			}
			got, err := s.Get(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := m
			want.Title, want.ReleaseYear, want.UpdatedAt, want.ViewCount = "After", nil, base.Add(time.Hour), 6
			equalVideo(t, got, want)

			unknown := uuid.New()
			for name, fn := range map[string]func(context.Context, domain.Tx) error{
				"update":    func(ctx context.Context, tx domain.Tx) error { v := m; v.ID = unknown; return tx.Update(ctx, v) },
				"delete":    func(ctx context.Context, tx domain.Tx) error { return tx.Delete(ctx, unknown) },
				"increment": func(ctx context.Context, tx domain.Tx) error { return tx.IncrementViewCount(ctx, unknown, 1) },
				"lock":      func(ctx context.Context, tx domain.Tx) error { _, err := tx.GetForUpdate(ctx, unknown); return err },
			} {
				if err := s.Atomic(ctx, fn); !isKind(err, apperr.NotFound) {
					t.Fatalf("%s unknown: want NotFound, got %v", name, err)
				}
			}
			err = s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error { return tx.IncrementViewCount(ctx, m.ID, -1) })
			if !isKind(err, apperr.Invalid) {
				t.Fatalf("negative increment: want Invalid, got %v", err)
			}
			if err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error { return tx.Delete(ctx, m.ID) }); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if _, err := s.Get(ctx, m.ID); !isKind(err, apperr.NotFound) {
				t.Fatalf("deleted video still there: %v", err)
			}
		})
	})
}

// TestConcurrentIncrements checks that increments from concurrent
// transactions are never lost, as several consumer instances may apply views
// to one video at once.
func TestConcurrentIncrements(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		s := newStore(t, db)
		v := movie(uuid.New(), "Hot", base)
		insert(ctx, t, s, v)
		const workers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for range workers {
			wg.Go(func() {
				for range each {
					errs <- s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
						return tx.IncrementViewCount(ctx, v.ID, 1)
					})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("increment: %v", err)
			}
		}
		got, err := s.Get(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ViewCount != workers*each {
			t.Fatalf("view_count = %d, want %d", got.ViewCount, workers*each)
		}
	})
}

// TestListingOrder uses a fresh database per backend so earlier inserts do
// not disturb the expected order.
func TestListingOrder(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		owner := uuid.New()
		var all []domain.Video
		for i := range 25 {
			// Groups of three share a created_at so the id tie-break is exercised,
			// and the fractional digits vary so text order on SQLite is tested.
			created := base.Add(time.Duration(i/3) * 1100 * time.Microsecond)
			v := movie(owner, "m", created)
			if i%4 == 0 {
				v = episode(owner, "e", created)
			}
			v.ViewCount = int64(i % 5)
			all = append(all, v)
		}
		insert(ctx, t, s, all...)

		newestFirst := append([]domain.Video(nil), all...)
		sort.Slice(newestFirst, func(i, j int) bool {
			a, b := newestFirst[i], newestFirst[j]
			if !a.CreatedAt.Equal(b.CreatedAt) {
				return a.CreatedAt.After(b.CreatedAt)
			}
			return a.ID.String() > b.ID.String()
		})

		for _, kind := range []domain.Kind{"", domain.KindMovie, domain.KindEpisode} {
			var want []uuid.UUID
			for _, v := range newestFirst {
				if kind == "" || v.Kind == kind {
					want = append(want, v.ID)
				}
			}
			var got []uuid.UUID
			q := domain.ListQuery{Kind: kind, Limit: 4}
			for {
				page, err := s.List(ctx, q)
				if err != nil {
					t.Fatalf("list: %v", err)
				}
				for _, v := range page {
					got = append(got, v.ID)
				}
				if len(page) < q.Limit {
					break
				}
				c := domain.CursorAfter(page[len(page)-1])
				// Round-trip through the opaque form, as a client would.
				dc, err := domain.DecodeCursor(c.Encode())
				if err != nil {
					t.Fatal(err)
				}
				q.After = &dc
			}
			if len(got) != len(want) {
				t.Fatalf("kind %q: got %d items, want %d", kind, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("kind %q: item %d = %s, want %s", kind, i, got[i], want[i])
				}
			}
		}

		popular, err := s.Popular(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(popular) != len(all) {
			t.Fatalf("popular: %d items", len(popular))
		}
		for i := 1; i < len(popular); i++ {
			a, b := popular[i-1], popular[i]
			if a.ViewCount < b.ViewCount || (a.ViewCount == b.ViewCount && a.ID.String() >= b.ID.String()) {
				t.Fatalf("popular order broken at %d: %d/%s then %d/%s", i, a.ViewCount, a.ID, b.ViewCount, b.ID)
			}
		}
		top, err := s.Popular(ctx, 3)
		if err != nil || len(top) != 3 || top[0].ID != popular[0].ID {
			t.Fatalf("popular limit: %v %d", err, len(top))
		}
	})
}

// Emitted events are written in the transaction of the change, in their wire
// format: kept when it commits, gone when it rolls back; the relay is woken
// only after a commit of Atomic's own.
func TestEmit(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ob := outboxtest.NewTable(t, db)
		s := store.New(db, ob)
		ctx := t.Context()
		owner := uuid.New()

		m := movie(owner, "Emitted", base)
		err := s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
			if err := tx.Insert(ctx, m); err != nil {
				return err
			}
			return tx.Emit(ctx, domain.VideoPublished{VideoID: m.ID, OwnerID: owner, Title: m.Title, Kind: m.Kind,
				DurationSeconds: m.DurationSeconds, PublishedAt: m.CreatedAt})
		})
		if err != nil {
			t.Fatalf("insert and emit: %v", err)
		}
		got := ob.Events(t, m.ID)
		if len(got) != 1 || got[0].Topic != events.VideosTopic || got[0].Type != "VideoPublished" {
			t.Fatalf("events of %s = %+v, want one VideoPublished on %s", m.ID, got, events.VideosTopic)
		}
		var published eventsv1.VideoPublished
		if err := proto.Unmarshal(got[0].Payload, &published); err != nil {
			t.Fatal(err)
		}
		want := &eventsv1.VideoPublished{VideoId: m.ID.String(), OwnerId: owner.String(), Title: m.Title,
			Kind: eventsv1.VideoKind_VIDEO_KIND_MOVIE, DurationSeconds: int32(m.DurationSeconds), PublishedAt: timestamppb.New(m.CreatedAt)}
		if !proto.Equal(&published, want) {
			t.Errorf("VideoPublished = %v, want %v", &published, want)
		}
		if n := ob.Notified(); n != 1 {
			t.Errorf("Notify called %d times after one committed emit, want 1", n)
		}

		updated := base.Add(time.Hour)
		err = s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
			return tx.Emit(ctx,
				domain.VideoUpdated{VideoID: m.ID, Title: "New", Description: "d", DurationSeconds: 60, UpdatedAt: updated},
				domain.VideoDeleted{VideoID: m.ID, DeletedAt: updated})
		})
		if err != nil {
			t.Fatalf("emit two: %v", err)
		}
		for _, e := range ob.Events(t, m.ID) {
			var msg, want proto.Message
			switch e.Type {
			case "VideoUpdated":
				msg = &eventsv1.VideoUpdated{}
				want = &eventsv1.VideoUpdated{VideoId: m.ID.String(), Title: "New", Description: "d", DurationSeconds: 60, UpdatedAt: timestamppb.New(updated)}
			case "VideoDeleted":
				msg = &eventsv1.VideoDeleted{}
				want = &eventsv1.VideoDeleted{VideoId: m.ID.String(), DeletedAt: timestamppb.New(updated)}
			default:
				continue
			}
			if err := proto.Unmarshal(e.Payload, msg); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(msg, want) {
				t.Errorf("%s = %v, want %v", e.Type, msg, want)
			}
		}
		if got := ob.Events(t, m.ID); len(got) != 3 {
			t.Errorf("%d events after two transactions, want 3", len(got))
		}

		// A failing transaction takes its events with it.
		rolledBack := movie(owner, "Never", base)
		boom := errors.New("boom")
		err = s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
			if err := tx.Insert(ctx, rolledBack); err != nil {
				return err
			}
			if err := tx.Emit(ctx, domain.VideoDeleted{VideoID: rolledBack.ID, DeletedAt: base}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("want boom, got %v", err)
		}
		if got := ob.Events(t, rolledBack.ID); len(got) != 0 {
			t.Errorf("rolled-back transaction left events %+v", got)
		}

		// A kind without a wire value is refused, not published as
		// "unspecified".
		err = s.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
			return tx.Emit(ctx, domain.VideoPublished{VideoID: uuid.New(), Kind: "documentary", PublishedAt: base})
		})
		if err == nil {
			t.Error("emitting a VideoPublished of an unknown kind succeeded")
		}
		if n := ob.Notified(); n != 2 {
			t.Errorf("Notify called %d times after two committed emits, want 2", n)
		}
	})
}

// Bind runs the domain's operations in a transaction the caller owns, as
// the view counter's consumer does.
func TestBind(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ob := outboxtest.NewTable(t, db)
		s := store.New(db, ob)
		ctx := t.Context()
		m := movie(uuid.New(), "Bound", base)
		insert(ctx, t, s, m)

		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if err := s.Bind(tx).IncrementViewCount(ctx, m.ID, 1); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("want boom, got %v", err)
		}
		if got, _ := s.Get(ctx, m.ID); got.ViewCount != 0 {
			t.Fatalf("view count %d after the owner rolled back, want 0", got.ViewCount)
		}
		err = db.InTx(ctx, func(tx *sql.Tx) error { return s.Bind(tx).IncrementViewCount(ctx, m.ID, 1) })
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, m.ID); got.ViewCount != 1 {
			t.Fatalf("view count %d after the owner committed, want 1", got.ViewCount)
		}
	})
}
