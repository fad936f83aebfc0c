// Package cachedstore puts a read cache in front of the video store's
// single-video reads (GetVideo over gRPC, GET /v1/videos/{id} over REST:
// both are domain.Service.Get) and announces every committed change of a
// video so that each replica drops its copy. The domain knows nothing of
// it: this is a decorator of its Store port.
//
// What counts as a change: any video a committed transaction updated,
// deleted, counted a view of, or locked for update (a write
// through a Tx method added later reads the row with GetForUpdate first, as
// every write of an existing video does). The cached value includes
// view_count, so a counted view invalidates too; see docs/decisions.md.
// An insert announces nothing: a miss is never cached, so no replica can
// hold a copy of a video that did not exist.
package cachedstore

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/readcache"
	"github.com/vidstream/vidstream/services/video/internal/domain"
)

// Inner is the store being decorated; *store.Store is the production one.
type Inner interface {
	domain.Store
	// Bind gives domain operations over a transaction the caller owns (the
	// Kafka view counter's); that transaction must be one database.InTx
	// runs, so that the changes are announced once it commits.
	Bind(tx *sql.Tx) domain.Tx
}

// Announcer tells every replica, this one included, to drop keys; it is
// called after the change committed. *cacheinval.Bus is the production one.
type Announcer interface {
	Publish(ctx context.Context, keys ...string)
}

// Store is a domain.Store with cached Get.
type Store struct {
	Inner
	cache    *readcache.Cache[string, domain.Video]
	announce Announcer
}

var _ domain.Store = (*Store)(nil)

// New decorates inner with cache; changes are announced through announce.
func New(inner Inner, cache *readcache.Cache[string, domain.Video], announce Announcer) *Store {
	return &Store{Inner: inner, cache: cache, announce: announce}
}

// Get serves a video from the cache or the database. A missing video is
// not cached: the error goes back as is and the next read asks again.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (domain.Video, error) {
	v, err := s.cache.Get(ctx, id.String(), func(ctx context.Context) (domain.Video, error) {
		return s.Inner.Get(ctx, id)
	})
	if err != nil {
		return domain.Video{}, err
	}
	// The cached value is shared: hand out a copy of what its pointers hold.
	return clone(v), nil
}

// Atomic runs fn as the inner store does and, once the transaction has
// committed, announces the videos it changed.
func (s *Store) Atomic(ctx context.Context, fn func(ctx context.Context, tx domain.Tx) error) error {
	var changed *changes
	err := s.Inner.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
		// A new set per attempt: only the attempt that commits counts.
		changed = &changes{}
		return fn(ctx, &recordingTx{Tx: tx, changed: changed})
	})
	if err != nil {
		return err
	}
	if keys := changed.keys(); len(keys) > 0 {
		s.announce.Publish(ctx, keys...)
	}
	return nil
}

// Bind returns operations over tx whose changes are announced when tx
// commits.
func (s *Store) Bind(tx *sql.Tx) domain.Tx {
	changed := &changes{}
	return &recordingTx{Tx: s.Inner.Bind(tx), changed: changed, onFirst: func(ctx context.Context) {
		database.AfterCommit(tx, func() { s.announce.Publish(ctx, changed.keys()...) })
	}}
}

// changes is the set of videos one transaction touched.
type changes struct {
	mu  sync.Mutex
	ids []uuid.UUID
}

// add records id and reports whether it is the transaction's first.
func (c *changes) add(id uuid.UUID) (first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, have := range c.ids {
		if have == id {
			return false
		}
	}
	c.ids = append(c.ids, id)
	return len(c.ids) == 1
}

func (c *changes) keys() []string {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, len(c.ids))
	for i, id := range c.ids {
		keys[i] = id.String()
	}
	return keys
}

// recordingTx records the videos a transaction touches. Embedding keeps
// methods added to domain.Tx compiling; see the package comment for why
// they are still covered.
type recordingTx struct {
	domain.Tx
	changed *changes
	onFirst func(context.Context)
}

func (t *recordingTx) touch(ctx context.Context, id uuid.UUID) {
	if t.changed.add(id) && t.onFirst != nil {
		t.onFirst(ctx)
	}
}

func (t *recordingTx) GetForUpdate(ctx context.Context, id uuid.UUID) (domain.Video, error) {
	t.touch(ctx, id)
	return t.Tx.GetForUpdate(ctx, id)
}

func (t *recordingTx) Update(ctx context.Context, v domain.Video) error {
	t.touch(ctx, v.ID)
	return t.Tx.Update(ctx, v)
}

func (t *recordingTx) Delete(ctx context.Context, id uuid.UUID) error {
	t.touch(ctx, id)
	return t.Tx.Delete(ctx, id)
}

func (t *recordingTx) SetStatus(ctx context.Context, id uuid.UUID, status domain.Status, updatedAt time.Time) error {
	t.touch(ctx, id)
	return t.Tx.SetStatus(ctx, id, status, updatedAt)
}

func (t *recordingTx) IncrementViewCount(ctx context.Context, id uuid.UUID, by int64) error {
	t.touch(ctx, id)
	return t.Tx.IncrementViewCount(ctx, id, by)
}

func clone(v domain.Video) domain.Video {
	v.SeriesTitle = clonePtr(v.SeriesTitle)
	v.Season = clonePtr(v.Season)
	v.Episode = clonePtr(v.Episode)
	v.ReleaseYear = clonePtr(v.ReleaseYear)
	return v
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
