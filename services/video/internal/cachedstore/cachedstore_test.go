package cachedstore_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/readcache"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/internal/cachedstore"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// announcer stands in for the Redis bus: it drops the keys here, as the
// bus does before publishing, and records each announcement.
type announcer struct {
	cache *readcache.Cache[string, domain.Video]
	mu    sync.Mutex
	got   [][]string
}

func (a *announcer) Publish(ctx context.Context, keys ...string) {
	a.cache.Invalidate(ctx, keys...)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, keys)
}

func (a *announcer) take() [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	got := a.got
	a.got = nil
	return got
}

// countingStore counts the reads that reach the database.
type countingStore struct {
	*store.Store
	gets atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, id uuid.UUID) (domain.Video, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, id)
}

func TestAnnouncesCommittedChanges(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		if err := outbox.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		inner := &countingStore{Store: store.New(db, outbox.New(db, "/services/video", telemetry.Noop()))}
		cache, err := readcache.New[string, domain.Video](readcache.Options{Size: 10}, telemetry.Noop())
		if err != nil {
			t.Fatal(err)
		}
		cache.SetEnabled(true)
		ann := &announcer{cache: cache}
		cs := cachedstore.New(inner, cache, ann)
		svc := domain.NewService(cs)
		owner := uuid.New()

		v, err := svc.Create(ctx, owner, domain.NewVideo{Title: "Nosferatu", Kind: domain.KindMovie, DurationSeconds: 5640})
		if err != nil {
			t.Fatal(err)
		}
		if got := ann.take(); len(got) != 0 {
			t.Fatalf("create announced %v; nothing can have cached a new video", got)
		}
		for range 2 {
			if _, err := svc.Get(ctx, v.ID); err != nil {
				t.Fatal(err)
			}
		}
		if n := inner.gets.Load(); n != 1 {
			t.Fatalf("two reads reached the database %d times, want 1", n)
		}
		// The cached value is not shared with callers.
		got, _ := svc.Get(ctx, v.ID)
		got.Title = "scribbled"
		if again, _ := svc.Get(ctx, v.ID); again.Title != "Nosferatu" {
			t.Fatal("a caller's change leaked into the cache")
		}

		if _, err := svc.Update(ctx, owner, v.ID, domain.Patch{Title: domain.SetTo("Nosferatu (1922)")}); err != nil {
			t.Fatal(err)
		}
		if got := ann.take(); !slices.EqualFunc(got, [][]string{{v.ID.String()}}, slices.Equal) {
			t.Fatalf("update announced %v", got)
		}
		if got, _ := svc.Get(ctx, v.ID); got.Title != "Nosferatu (1922)" {
			t.Fatalf("read after update = %q", got.Title)
		}

		// A view counted in a transaction someone else owns (the Kafka
		// consumer's) is announced after that transaction commits, never
		// before, and never for one that rolls back.
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := svc.RecordView(ctx, cs.Bind(tx), v.ID); err != nil {
				return err
			}
			if _, err := svc.RecordView(ctx, cs.Bind(tx), v.ID); err != nil {
				return err
			}
			if got := ann.take(); len(got) != 0 {
				t.Errorf("announced %v before the commit", got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := ann.take(); len(got) != 2 || got[0][0] != v.ID.String() {
			t.Fatalf("views announced %v, want the video once per bound Tx", got)
		}
		if got, _ := svc.Get(ctx, v.ID); got.ViewCount != 2 {
			t.Fatalf("view_count after views = %d, want 2", got.ViewCount)
		}
		errNo := errors.New("rolled back")
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := svc.RecordView(ctx, cs.Bind(tx), v.ID); err != nil {
				return err
			}
			return errNo
		})
		if !errors.Is(err, errNo) {
			t.Fatal(err)
		}
		if got := ann.take(); len(got) != 0 {
			t.Fatalf("rolled-back view announced %v", got)
		}

		if err := svc.Delete(ctx, owner, v.ID); err != nil {
			t.Fatal(err)
		}
		if got := ann.take(); len(got) != 1 {
			t.Fatalf("delete announced %v", got)
		}
		if _, err := svc.Get(ctx, v.ID); err == nil {
			t.Fatal("deleted video still served")
		}
	})
}
