package domain

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/ids"
)

// Listing limits shared by every transport.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	// MaxBatch bounds BatchGet so one call cannot ask for the whole table.
	MaxBatch = 100
)

// Store is the persistence the Service needs. Reads run on their own; every
// write runs inside Atomic (or inside a transaction the caller already
// holds, see RecordView), so the events a change produces are stored in the
// same transaction as the change.
//
// Implementations report a missing video as an apperr NotFound error.
type Store interface {
	Atomic(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	Get(ctx context.Context, id uuid.UUID) (Video, error)
	// GetMany returns the videos that exist among ids, in no particular order.
	GetMany(ctx context.Context, ids []uuid.UUID) ([]Video, error)
	// List returns at most q.Limit videos, newest first (created_at, then id,
	// both descending), strictly after q.After when set.
	List(ctx context.Context, q ListQuery) ([]Video, error)
	// Popular returns at most limit videos by view_count descending, id
	// ascending as the tie-break so equal counts have a stable order.
	Popular(ctx context.Context, limit int) ([]Video, error)
}

// Tx is the set of operations available inside one transaction.
type Tx interface {
	Insert(ctx context.Context, v Video) error
	// GetForUpdate reads a video and locks it until the transaction ends, so
	// a concurrent update cannot slip between the ownership check and the write.
	GetForUpdate(ctx context.Context, id uuid.UUID) (Video, error)
	Update(ctx context.Context, v Video) error
	Delete(ctx context.Context, id uuid.UUID) error
	// IncrementViewCount adds by to the video's view_count. The Kafka view
	// counter calls it in the same transaction that records the event id it
	// has processed, which makes the increment exactly-once in effect.
	IncrementViewCount(ctx context.Context, id uuid.UUID, by int64) error
	// SetStatus moves a video along its pipeline (see Status).
	SetStatus(ctx context.Context, id uuid.UUID, status Status, updatedAt time.Time) error
	// RequestTranscode stores a transcode job, to be handed to a transcoder
	// once the transaction commits, and discarded with it if it rolls back.
	RequestTranscode(ctx context.Context, job TranscodeJob) error
	// Emit stores events for publication once the transaction commits;
	// they are discarded with it if it rolls back.
	Emit(ctx context.Context, events ...Event) error
}

// Service is the video catalog's use cases, shared by REST, gRPC and the
// view counter.
type Service struct {
	store     Store
	now       func() time.Time
	newID     func() uuid.UUID
	transcode bool
}

// Option customizes a Service (tests pin the clock).
type Option func(*Service)

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithTranscoding makes every new video wait for a transcoder: it is
// created processing, with a transcode job, and announced (VideoPublished)
// only once CompleteTranscode made it ready. Without it a new video is ready
// and announced at once.
func WithTranscoding() Option { return func(s *Service) { s.transcode = true } }

// NewService returns a Service over store.
func NewService(store Store, opts ...Option) *Service {
	s := &Service{store: store, now: time.Now, newID: newV7}
	for _, o := range opts {
		o(s)
	}
	return s
}

// newV7 returns a time-ordered UUID (better index locality than v4). Its only
// failure mode is the system random source failing, in which case v4, which
// panics on that, is no worse.
func newV7() uuid.UUID {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.New()
	}
	return id
}

// timestamp is the current time at the precision both databases store
// exactly (microseconds), so a returned video equals the stored one and
// cursors round-trip.
func (s *Service) timestamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Create publishes a new video owned by owner: ready at once, or, with
// WithTranscoding, processing until a transcoder reports on it.
func (s *Service) Create(ctx context.Context, owner uuid.UUID, in NewVideo) (Video, error) {
	now := s.timestamp()
	v := Video{
		ID:              s.newID(),
		Title:           in.Title,
		Description:     in.Description,
		Kind:            in.Kind,
		DurationSeconds: in.DurationSeconds,
		SeriesTitle:     clone(in.SeriesTitle),
		Season:          clone(in.Season),
		Episode:         clone(in.Episode),
		ReleaseYear:     clone(in.ReleaseYear),
		OwnerID:         owner,
		Status:          StatusReady,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	if s.transcode {
		v.Status = StatusProcessing
	}
	normalize(&v)
	if err := validate(v, now); err != nil {
		return Video{}, err
	}
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.Insert(ctx, v); err != nil {
			return err
		}
		if s.transcode {
			// VideoPublished waits for CompleteTranscode: other services
			// hear of a video once it can be played.
			return tx.RequestTranscode(ctx, TranscodeJob{
				VideoID: v.ID, DurationSeconds: v.DurationSeconds, Title: v.Title, RequestedAt: now,
			})
		}
		return tx.Emit(ctx, published(v, v.CreatedAt))
	})
	if err != nil {
		return Video{}, fmt.Errorf("create video: %w", err)
	}
	return v, nil
}

// Get returns one video.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Video, error) {
	v, err := s.store.Get(ctx, id)
	if err != nil {
		return Video{}, fmt.Errorf("get video %s: %w", id, err)
	}
	return v, nil
}

// BatchGet returns the videos that exist among ids in request order
// (duplicates collapsed) and the ids that do not.
func (s *Service) BatchGet(ctx context.Context, want []uuid.UUID) (found []Video, missing []uuid.UUID, err error) {
	found, missing, err = ids.Lookup(ctx, want, MaxBatch, s.store.GetMany, func(v Video) uuid.UUID { return v.ID })
	if err != nil {
		return nil, nil, fmt.Errorf("batch get %d videos: %w", len(want), err)
	}
	return found, missing, nil
}

// List returns one page of the catalog, newest first.
func (s *Service) List(ctx context.Context, q ListQuery) (Page, error) {
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	if q.Limit < 1 || q.Limit > MaxPageSize {
		return Page{}, apperr.InvalidField("limit", fmt.Sprintf("must be between 1 and %d", MaxPageSize))
	}
	if q.Kind != "" && !q.Kind.Valid() {
		return Page{}, apperr.InvalidField("kind", fmt.Sprintf("must be %q or %q", KindMovie, KindEpisode))
	}
	// One extra row tells whether another page exists without a COUNT.
	want := q.Limit
	q.Limit++
	items, err := s.store.List(ctx, q)
	if err != nil {
		return Page{}, fmt.Errorf("list videos: %w", err)
	}
	page := Page{Items: items}
	if len(items) > want {
		page.Items = items[:want]
		next := CursorAfter(page.Items[want-1])
		page.Next = &next
	}
	return page, nil
}

// Popular returns the most viewed videos.
func (s *Service) Popular(ctx context.Context, limit int) ([]Video, error) {
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return nil, apperr.InvalidField("limit", fmt.Sprintf("must be between 1 and %d", MaxPageSize))
	}
	items, err := s.store.Popular(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("list popular videos: %w", err)
	}
	return items, nil
}

// Update applies a merge-patch to a video the actor owns.
func (s *Service) Update(ctx context.Context, actor, id uuid.UUID, p Patch) (Video, error) {
	var out Video
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Tx) error {
		cur, err := tx.GetForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if cur.OwnerID != actor {
			return apperr.New(apperr.Forbidden, "only the owner may change this video")
		}
		next, err := apply(cur, p)
		if err != nil {
			return err
		}
		normalize(&next)
		now := s.timestamp()
		if err := validate(next, now); err != nil {
			return err
		}
		if sameContent(cur, next) {
			// A no-op patch writes nothing, so no VideoUpdated event is
			// emitted for it and updated_at keeps meaning "last changed".
			out = cur
			return nil
		}
		next.UpdatedAt = now
		if err := tx.Update(ctx, next); err != nil {
			return err
		}
		if err := tx.Emit(ctx, VideoUpdated{
			VideoID:         next.ID,
			Title:           next.Title,
			Description:     next.Description,
			DurationSeconds: next.DurationSeconds,
			UpdatedAt:       next.UpdatedAt,
		}); err != nil {
			return err
		}
		out = next
		return nil
	})
	if err != nil {
		return Video{}, fmt.Errorf("update video %s: %w", id, err)
	}
	return out, nil
}

// Delete removes a video the actor owns.
func (s *Service) Delete(ctx context.Context, actor, id uuid.UUID) error {
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Tx) error {
		cur, err := tx.GetForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if cur.OwnerID != actor {
			return apperr.New(apperr.Forbidden, "only the owner may delete this video")
		}
		if err := tx.Delete(ctx, id); err != nil {
			return err
		}
		return tx.Emit(ctx, VideoDeleted{VideoID: id, DeletedAt: s.timestamp()})
	})
	if err != nil {
		return fmt.Errorf("delete video %s: %w", id, err)
	}
	return nil
}

// RecordView counts one view of a video: a user watched it to the end
// (watch history's VideoWatched). It runs in tx, a transaction the caller
// already holds, because the view counter records the event's id in that
// same transaction: the increment and "this event is done" commit together,
// which is what makes a redelivered event count once.
//
// A view of a video that no longer exists is not an error: the video may
// have been deleted after it was watched, and the event arrives in any
// case. RecordView then changes nothing and reports counted false.
func (s *Service) RecordView(ctx context.Context, tx Tx, videoID uuid.UUID) (counted bool, err error) {
	err = tx.IncrementViewCount(ctx, videoID, 1)
	if err != nil && apperr.KindOf(err) == apperr.NotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record a view of video %s: %w", videoID, err)
	}
	return true, nil
}

func sameContent(a, b Video) bool {
	return a.Title == b.Title && a.Description == b.Description &&
		a.DurationSeconds == b.DurationSeconds &&
		eqPtr(a.SeriesTitle, b.SeriesTitle) && eqPtr(a.Season, b.Season) &&
		eqPtr(a.Episode, b.Episode) && eqPtr(a.ReleaseYear, b.ReleaseYear)
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
