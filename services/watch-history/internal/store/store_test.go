package store_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/outbox/outboxtest"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
	"github.com/vidstream/vidstream/services/watch-history/internal/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

func entry(user, video uuid.UUID, updated time.Time) domain.Entry {
	return domain.Entry{
		UserID: user, VideoID: video, Title: "Night Train", DurationSeconds: 100, PositionSeconds: 10,
		VideoUpdatedAt: t0.Add(-time.Hour), UpdatedAt: updated, Version: 1,
	}
}

// put writes entries in one transaction each, failing the test on error.
func put(t *testing.T, s *store.Store, entries ...domain.Entry) {
	t.Helper()
	for _, e := range entries {
		if err := s.Atomic(t.Context(), func(ctx context.Context, tx domain.Tx) error { return tx.Put(ctx, e) }); err != nil {
			t.Fatalf("Put(%+v): %v", e, err)
		}
	}
}

func find(t *testing.T, s *store.Store, user, video uuid.UUID) (domain.Entry, bool) {
	t.Helper()
	var (
		e  domain.Entry
		ok bool
	)
	err := s.Atomic(t.Context(), func(ctx context.Context, tx domain.Tx) error {
		var err error
		e, ok, err = tx.Find(ctx, user, video)
		return err
	})
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	return e, ok
}

func TestStore(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ob := outboxtest.NewTable(t, db)
		s := store.New(db, ob)
		// Sub-tests share the database and use fresh ids, so they do not see
		// each other's rows.
		t.Run("PutFindRoundTrip", putFind(s))
		t.Run("PutIsCompareAndSet", compareAndSet(s))
		t.Run("AtomicRollsBack", rollback(s, ob))
		t.Run("Delete", deleteOne(s))
		t.Run("DeleteUserAndVideo", deleteUserAndVideo(s))
		t.Run("RefreshVideo", refreshVideo(s))
		t.Run("ListKeyset", listKeyset(s))
		t.Run("EmitMapsEvents", emit(db))
		t.Run("ConcurrentReportsWatchOnce", concurrentReports(db))
		t.Run("DeletedVideoRefusesNewEntries", deletedVideo(s))
		if db.Dialect == database.Postgres {
			// SQLite serializes writing transactions, so the two cannot
			// interleave there.
			t.Run("ReportRacingDeletion", reportRacingDeletion(db, s))
		}
	})
}

func deletedVideo(s *store.Store) func(t *testing.T) {
	return func(t *testing.T) {
		user, video, other := uuid.New(), uuid.New(), uuid.New()
		put(t, s, entry(user, video, t0))
		deleteVideo := func() {
			t.Helper()
			if err := s.Atomic(t.Context(), func(ctx context.Context, tx domain.Tx) error { return tx.DeleteVideo(ctx, video) }); err != nil {
				t.Fatalf("DeleteVideo: %v", err)
			}
		}
		deleteVideo()
		deleteVideo() // a redelivered VideoDeleted is harmless
		err := s.Atomic(t.Context(), func(ctx context.Context, tx domain.Tx) error { return tx.Put(ctx, entry(uuid.New(), video, t0)) })
		if !errors.Is(err, domain.ErrVideoDeleted) {
			t.Fatalf("Put of a new entry for a deleted video: %v, want ErrVideoDeleted", err)
		}
		if _, ok := find(t, s, user, video); ok {
			t.Error("the deleted video's entry is still there")
		}
		put(t, s, entry(user, other, t0)) // other videos are unaffected
	}
}

// reportRacingDeletion orders a progress report and a VideoDeleted both
// ways on PostgreSQL, with the second one waiting on the first's lock, and
// checks that no entry for the deleted video survives either order.
func reportRacingDeletion(db *database.DB, s *store.Store) func(t *testing.T) {
	return func(t *testing.T) {
		// waitBlocked returns once a transaction waits for a video lock.
		waitBlocked := func() {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for {
				var waiting int
				err := db.QueryRowContext(t.Context(), `
					SELECT count(*) FROM pg_locks
					WHERE locktype = 'advisory' AND NOT granted AND classid = $1`, store.VideoLockSpace).Scan(&waiting)
				if err != nil {
					t.Fatal(err)
				}
				if waiting > 0 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatal("no transaction waits for the video lock after 30s")
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		// first runs fn in a transaction that stays open until release is
		// closed, and reports when fn has run.
		first := func(fn func(ctx context.Context, tx domain.Tx) error) (ran, release chan struct{}, done chan error) {
			ran, release, done = make(chan struct{}), make(chan struct{}), make(chan error, 1)
			go func() {
				done <- s.Atomic(t.Context(), func(ctx context.Context, tx domain.Tx) error {
					if err := fn(ctx, tx); err != nil {
						return err
					}
					close(ran)
					<-release
					return nil
				})
			}()
			return ran, release, done
		}
		second := func(fn func(ctx context.Context, tx domain.Tx) error) chan error {
			done := make(chan error, 1)
			go func() { done <- s.Atomic(t.Context(), fn) }()
			return done
		}

		t.Run("report first", func(t *testing.T) {
			user, video := uuid.New(), uuid.New()
			ran, release, reported := first(func(ctx context.Context, tx domain.Tx) error { return tx.Put(ctx, entry(user, video, t0)) })
			<-ran
			deleted := second(func(ctx context.Context, tx domain.Tx) error { return tx.DeleteVideo(ctx, video) })
			waitBlocked()
			close(release)
			if err := <-reported; err != nil {
				t.Fatalf("report: %v", err)
			}
			if err := <-deleted; err != nil {
				t.Fatalf("DeleteVideo: %v", err)
			}
			if _, ok := find(t, s, user, video); ok {
				t.Error("the report's entry survived the deletion that waited for it")
			}
		})

		t.Run("deletion first", func(t *testing.T) {
			user, video := uuid.New(), uuid.New()
			ran, release, deleted := first(func(ctx context.Context, tx domain.Tx) error { return tx.DeleteVideo(ctx, video) })
			<-ran
			reported := second(func(ctx context.Context, tx domain.Tx) error { return tx.Put(ctx, entry(user, video, t0)) })
			waitBlocked()
			close(release)
			if err := <-deleted; err != nil {
				t.Fatalf("DeleteVideo: %v", err)
			}
			if err := <-reported; !errors.Is(err, domain.ErrVideoDeleted) {
				t.Fatalf("report after the deletion committed: %v, want ErrVideoDeleted", err)
			}
			if _, ok := find(t, s, user, video); ok {
				t.Error("an entry was written for the deleted video")
			}
		})
	}
}

func putFind(s *store.Store) func(t *testing.T) {
	return func(t *testing.T) {
		user, video := uuid.New(), uuid.New()
		if _, ok := find(t, s, user, video); ok {
			t.Fatal("Find on an empty history reported an entry")
		}
		watched := t0.Add(time.Minute)
		want := entry(user, video, t0)
		want.WatchedAt = &watched
		put(t, s, want)
		got, ok := find(t, s, user, video)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("Find = %+v, %v; want %+v", got, ok, want)
		}
	}
}

func compareAndSet(s *store.Store) func(t *testing.T) {
	return func(t *testing.T) {
		user, video := uuid.New(), uuid.New()
		e := entry(user, video, t0)
		put(t, s, e)
		tryPut := func(e domain.Entry) error {
			return s.Atomic(t.Context(), func(ctx context.Context, tx domain.Tx) error { return tx.Put(ctx, e) })
		}
		if err := tryPut(e); !errors.Is(err, domain.ErrConcurrentUpdate) {
			t.Fatalf("second insert: err = %v, want ErrConcurrentUpdate", err)
		}
		e.PositionSeconds, e.Version = 50, 3
		if err := tryPut(e); !errors.Is(err, domain.ErrConcurrentUpdate) {
			t.Fatalf("update skipping a version: err = %v, want ErrConcurrentUpdate", err)
		}
		e.Version = 2
		if err := tryPut(e); err != nil {
			t.Fatalf("update on top of version 1: %v", err)
		}
		if got, _ := find(t, s, user, video); got.PositionSeconds != 50 || got.Version != 2 {
			t.Fatalf("after update: %+v", got)
		}
	}
}

func rollback(s *store.Store, ob *outboxtest.Table) func(t *testing.T) {
	return func(t *testing.T) {
		user, video := uuid.New(), uuid.New()
		boom := errors.New("boom")
		err := s.Atomic(t.Context(), func(ctx context.Context, tx domain.Tx) error {
			if err := tx.Put(ctx, entry(user, video, t0)); err != nil {
				return err
			}
			if err := tx.Emit(ctx, domain.VideoWatched{UserID: user, VideoID: video, WatchedAt: t0}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Atomic: err = %v, want fn's error", err)
		}
		if _, ok := find(t, s, user, video); ok {
			t.Fatal("entry survived a rolled-back transaction")
		}
		if got := ob.Types(t, user); len(got) != 0 {
			t.Fatalf("events of a rolled-back transaction were kept: %v", got)
		}
	}
}

func deleteOne(s *store.Store) func(t *testing.T) {
	return func(t *testing.T) {
		user, video := uuid.New(), uuid.New()
		put(t, s, entry(user, video, t0))
		del := func() bool {
			var found bool
			if err := s.Atomic(t.Context(), func(ctx context.Context, tx domain.Tx) error {
				var err error
				found, err = tx.Delete(ctx, user, video)
				return err
			}); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			return found
		}
		if !del() {
			t.Fatal("Delete of an existing entry reported none")
		}
		if del() {
			t.Fatal("second Delete reported an entry")
		}
	}
}

func deleteUserAndVideo(s *store.Store) func(t *testing.T) {
	return func(t *testing.T) {
		alice, bob := uuid.New(), uuid.New()
		film, show := uuid.New(), uuid.New()
		put(t, s, entry(alice, film, t0), entry(alice, show, t0), entry(bob, film, t0), entry(bob, show, t0))

		atomic := func(fn func(ctx context.Context, tx domain.Tx) error) {
			t.Helper()
			if err := s.Atomic(t.Context(), fn); err != nil {
				t.Fatal(err)
			}
		}
		atomic(func(ctx context.Context, tx domain.Tx) error { return tx.DeleteUser(ctx, alice) })
		// Deleting again (a redelivered event) is a no-op, not an error.
		atomic(func(ctx context.Context, tx domain.Tx) error { return tx.DeleteUser(ctx, alice) })
		atomic(func(ctx context.Context, tx domain.Tx) error { return tx.DeleteVideo(ctx, show) })

		for _, c := range []struct {
			user, video uuid.UUID
			want        bool
		}{{alice, film, false}, {alice, show, false}, {bob, film, true}, {bob, show, false}} {
			if _, ok := find(t, s, c.user, c.video); ok != c.want {
				t.Errorf("entry (%s, %s) present = %v, want %v", c.user, c.video, ok, c.want)
			}
		}
	}
}

func refreshVideo(s *store.Store) func(t *testing.T) {
	return func(t *testing.T) {
		alice, bob := uuid.New(), uuid.New()
		video, other := uuid.New(), uuid.New()
		a := entry(alice, video, t0)
		a.PositionSeconds = 90
		b := entry(bob, video, t0)
		b.PositionSeconds = 30
		put(t, s, a, b, entry(alice, other, t0))

		refresh := func(v domain.Video) {
			t.Helper()
			if err := s.Atomic(t.Context(), func(ctx context.Context, tx domain.Tx) error { return tx.RefreshVideo(ctx, v) }); err != nil {
				t.Fatalf("RefreshVideo: %v", err)
			}
		}
		newer := domain.Video{ID: video, Title: "Night Train (Remastered)", DurationSeconds: 60, UpdatedAt: t0}
		refresh(newer)
		// An update older than what is stored (redelivered, or overtaken) changes nothing.
		refresh(domain.Video{ID: video, Title: "Stale", DurationSeconds: 100, UpdatedAt: t0.Add(-time.Minute)})

		gotA, _ := find(t, s, alice, video)
		wantA := a
		wantA.Title, wantA.DurationSeconds, wantA.VideoUpdatedAt = newer.Title, 60, t0
		wantA.PositionSeconds = 60 // clamped to the new duration
		wantA.Version = 2
		if !reflect.DeepEqual(gotA, wantA) {
			t.Fatalf("alice's entry = %+v\nwant %+v", gotA, wantA)
		}
		if gotB, _ := find(t, s, bob, video); gotB.Title != newer.Title || gotB.PositionSeconds != 30 || !gotB.UpdatedAt.Equal(t0) {
			t.Fatalf("bob's entry = %+v, want renamed with position and updated_at kept", gotB)
		}
		if gotOther, _ := find(t, s, alice, other); gotOther.Title != "Night Train" || gotOther.Version != 1 {
			t.Fatalf("another video's entry changed: %+v", gotOther)
		}
	}
}

func listKeyset(s *store.Store) func(t *testing.T) {
	return func(t *testing.T) {
		user := uuid.New()
		// Six entries, in pairs sharing an updated_at, so that the video_id
		// tie-break decides the order within each pair.
		var want []domain.Entry
		for i := range 6 {
			want = append(want, entry(user, uuid.New(), t0.Add(time.Duration(i/2)*time.Second)))
		}
		// Fractions of different lengths within one second: SQLite keeps
		// times as text, which must still sort as time.
		whole := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
		for _, d := range []time.Duration{0, 500 * time.Millisecond, 50 * time.Millisecond, 51 * time.Millisecond, time.Microsecond} {
			want = append(want, entry(user, uuid.New(), whole.Add(d)))
		}
		put(t, s, want...)
		put(t, s, entry(uuid.New(), uuid.New(), t0.Add(time.Hour))) // someone else's
		sortNewestFirst(want)

		var got []domain.Entry
		var after *domain.Cursor
		for {
			page, err := s.List(t.Context(), user, after, 4)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			got = append(got, page...)
			if len(page) < 4 {
				break
			}
			c := domain.CursorAfter(page[len(page)-1])
			after = &c
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("List pages:\n got %v\nwant %v", ids(got), ids(want))
		}
		// A page that ends between two entries sharing a timestamp must resume
		// at the second one, not skip or repeat it.
		c := domain.CursorAfter(want[2])
		page, err := s.List(t.Context(), user, &c, 1)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(page) != 1 || page[0].VideoID != want[3].VideoID {
			t.Fatalf("page after %s = %v, want [%s]", want[2].VideoID, ids(page), want[3].VideoID)
		}
	}
}

func sortNewestFirst(es []domain.Entry) {
	less := func(a, b domain.Entry) bool {
		if !a.UpdatedAt.Equal(b.UpdatedAt) {
			return a.UpdatedAt.After(b.UpdatedAt)
		}
		return a.VideoID.String() > b.VideoID.String()
	}
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && less(es[j], es[j-1]); j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

func ids(es []domain.Entry) []uuid.UUID {
	out := make([]uuid.UUID, len(es))
	for i, e := range es {
		out[i] = e.VideoID
	}
	return out
}

func emit(db *database.DB) func(t *testing.T) {
	return func(t *testing.T) {
		rec := &recordingOutbox{}
		s := store.New(db, rec)
		user, video := uuid.New(), uuid.New()
		err := s.Atomic(t.Context(), func(ctx context.Context, tx domain.Tx) error {
			return tx.Emit(ctx,
				domain.WatchProgressed{UserID: user, VideoID: video, PositionSeconds: 95, DurationSeconds: 100, Completed: true, OccurredAt: t0},
				domain.VideoWatched{UserID: user, VideoID: video, WatchedAt: t0},
			)
		})
		if err != nil {
			t.Fatalf("Emit: %v", err)
		}
		if len(rec.events) != 2 {
			t.Fatalf("enqueued %d events, want 2", len(rec.events))
		}
		if rec.notified != 1 {
			t.Errorf("relay notified %d times after the commit, want once", rec.notified)
		}
		if err := s.Atomic(t.Context(), func(ctx context.Context, tx domain.Tx) error { return tx.DeleteUser(ctx, user) }); err != nil {
			t.Fatal(err)
		}
		if rec.notified != 1 {
			t.Errorf("relay notified after a transaction without events")
		}
		for _, e := range rec.events {
			if e.Topic != events.WatchTopic || e.Key != user.String() {
				t.Errorf("event %T on %s keyed %s, want %s keyed by user", e.Payload, e.Topic, e.Key, events.WatchTopic)
			}
		}
		wantProgress := &eventsv1.WatchProgressed{UserId: user.String(), VideoId: video.String(), PositionSeconds: 95, DurationSeconds: 100, Completed: true}
		if p, ok := rec.events[0].Payload.(*eventsv1.WatchProgressed); !ok || !p.GetOccurredAt().AsTime().Equal(t0) ||
			p.GetUserId() != wantProgress.GetUserId() || p.GetVideoId() != wantProgress.GetVideoId() ||
			p.GetPositionSeconds() != 95 || p.GetDurationSeconds() != 100 || !p.GetCompleted() {
			t.Errorf("first payload = %v, want %v at %v", rec.events[0].Payload, wantProgress, t0)
		}
		if w, ok := rec.events[1].Payload.(*eventsv1.VideoWatched); !ok || w.GetVideoId() != video.String() || !w.GetWatchedAt().AsTime().Equal(t0) {
			t.Errorf("second payload = %v, want VideoWatched", rec.events[1].Payload)
		}
	}
}

type recordingOutbox struct {
	events   []outbox.Event
	notified int
}

func (r *recordingOutbox) Notify() { r.notified++ }

func (r *recordingOutbox) Enqueue(_ context.Context, tx *sql.Tx, events ...outbox.Event) error {
	if tx == nil {
		return errors.New("Enqueue outside a transaction")
	}
	r.events = append(r.events, events...)
	return nil
}

type oneVideo domain.Video

func (v oneVideo) Video(_ context.Context, id uuid.UUID) (domain.Video, error) {
	if id != v.ID {
		return domain.Video{}, apperr.New(apperr.NotFound, "video %s not found", id)
	}
	return domain.Video(v), nil
}

// testConcurrentReports sends many reports for one entry at once. Whatever
// the interleaving, every report must succeed and exactly one VideoWatched
// must be committed: this is what the compare-and-set in Put is for.
func concurrentReports(db *database.DB) func(t *testing.T) {
	return func(t *testing.T) {
		ob := outboxtest.NewTable(t, db)
		s := store.New(db, ob)
		video := domain.Video{ID: uuid.New(), Title: "Night Train", DurationSeconds: 100, UpdatedAt: t0}
		svc := domain.NewService(s, oneVideo(video))
		user := uuid.New()

		const reports = 8
		var wg sync.WaitGroup
		errs := make(chan error, reports)
		for i := range reports {
			wg.Go(func() {
				_, err := svc.RecordProgress(t.Context(), user, video.ID, 90+i)
				if apperr.KindOf(err) == apperr.Conflict {
					// Losing maxAttempts races in a row is allowed by the
					// contract (the client retries); it must not corrupt state.
					err = nil
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("RecordProgress: %v", err)
			}
		}
		var watched, progressed int
		for _, typ := range ob.Types(t, user) {
			switch typ {
			case "VideoWatched":
				watched++
			case "WatchProgressed":
				progressed++
			}
		}
		if watched != 1 || progressed == 0 {
			t.Fatalf("committed %d VideoWatched and %d WatchProgressed, want exactly 1 VideoWatched", watched, progressed)
		}
	}
}
