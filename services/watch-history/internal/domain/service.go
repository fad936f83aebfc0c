package domain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

// Catalog looks videos up in the video service. Implementations report an
// unknown video as apperr NotFound and an unreachable catalog as apperr
// Unavailable.
type Catalog interface {
	Video(ctx context.Context, id uuid.UUID) (Video, error)
}

// Store is the persistence the Service needs. Every write runs inside Atomic
// (or inside a transaction the caller already holds, see Tx), so the events a
// change produces are stored in the same transaction as the change.
type Store interface {
	Atomic(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// List returns at most limit entries of userID's history, most recently
	// updated first (updated_at, then video_id, both descending), strictly
	// after the cursor when one is given.
	List(ctx context.Context, userID uuid.UUID, after *Cursor, limit int) ([]Entry, error)
}

// ErrConcurrentUpdate is returned by Tx.Put when another transaction wrote the
// entry since it was read.
var ErrConcurrentUpdate = errors.New("watch history entry was updated concurrently")

// ErrVideoDeleted is returned by Tx.Put for a new entry of a video whose
// deletion (VideoDeleted) has been applied.
var ErrVideoDeleted = errors.New("video was deleted")

// Tx is the set of operations available inside one transaction.
type Tx interface {
	// Find returns userID's entry for videoID; ok is false when there is none.
	Find(ctx context.Context, userID, videoID uuid.UUID) (e Entry, ok bool, err error)
	// Put writes e as a compare-and-set on Version: e.Version must be one more
	// than the stored version (1 for an entry that does not exist yet). When
	// the stored entry is no longer at e.Version-1, or a new entry has
	// appeared meanwhile, Put returns ErrConcurrentUpdate and writes nothing.
	// A new entry for a video DeleteVideo has removed gets ErrVideoDeleted:
	// the catalog may have answered just before the deletion.
	Put(ctx context.Context, e Entry) error
	// Delete removes one entry and reports whether it existed.
	Delete(ctx context.Context, userID, videoID uuid.UUID) (bool, error)
	// DeleteUser removes every entry of a user.
	DeleteUser(ctx context.Context, userID uuid.UUID) error
	// DeleteVideo removes every entry of a video, whoever watched it, and
	// refuses new ones (Put) from then on.
	DeleteVideo(ctx context.Context, videoID uuid.UUID) error
	// RefreshVideo copies v's title and duration into every entry of v.ID whose
	// VideoUpdatedAt is older than v.UpdatedAt (so an out-of-date update is a
	// no-op), clamping positions beyond the new duration to it and bumping
	// each entry's Version. UpdatedAt and completion are left alone: they
	// record what the user did, not what the catalog did.
	RefreshVideo(ctx context.Context, v Video) error
	// Emit stores events for publication once the transaction commits.
	Emit(ctx context.Context, events ...Event) error
}

// Service is watch history's use cases, shared by REST, gRPC and the event
// consumers.
type Service struct {
	store  Store
	videos Catalog
	now    func() time.Time
}

// Option customizes a Service (tests pin the clock).
type Option func(*Service)

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// NewService returns a Service that keeps history in store and looks videos
// up in videos.
func NewService(store Store, videos Catalog, opts ...Option) *Service {
	s := &Service{store: store, videos: videos, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// timestamp is the current time at the precision both databases store
// exactly (microseconds), so a returned entry equals the stored one and
// cursors round-trip.
func (s *Service) timestamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// maxAttempts bounds how often RecordProgress retries after losing a race
// with a concurrent report for the same video. Losing twice in a row needs
// a client hammering one entry from several devices at once; after that the
// client is told to retry.
const maxAttempts = 3

// RecordProgress saves that userID is at position seconds into videoID and
// returns the updated entry.
func (s *Service) RecordProgress(ctx context.Context, userID, videoID uuid.UUID, position int) (Entry, error) {
	if position < 0 {
		return Entry{}, apperr.InvalidField("position_seconds", "must be 0 or more")
	}
	// The catalog is asked outside the transaction: holding a database
	// write lock across a network call would serialize every writer behind
	// the slowest video lookup.
	video, err := s.videos.Video(ctx, videoID)
	if err != nil {
		return Entry{}, fmt.Errorf("look up video %s: %w", videoID, err)
	}
	if position > video.DurationSeconds {
		return Entry{}, apperr.InvalidField("position_seconds",
			fmt.Sprintf("must not exceed the video's duration of %d seconds", video.DurationSeconds))
	}
	for attempt := 1; ; attempt++ {
		e, err := s.recordOnce(ctx, userID, video, position)
		if errors.Is(err, ErrConcurrentUpdate) {
			if attempt < maxAttempts {
				continue
			}
			return Entry{}, &apperr.Error{Kind: apperr.Conflict, Message: "the history entry was changed concurrently; retry", Err: err}
		}
		if errors.Is(err, ErrVideoDeleted) {
			// The catalog answered before the deletion reached us: the
			// same answer it gives now.
			return Entry{}, &apperr.Error{Kind: apperr.NotFound, Message: fmt.Sprintf("video %s not found", videoID), Err: err}
		}
		if err != nil {
			return Entry{}, fmt.Errorf("record progress of user %s in video %s: %w", userID, videoID, err)
		}
		return e, nil
	}
}

// recordOnce is one read-decide-write attempt of RecordProgress.
func (s *Service) recordOnce(ctx context.Context, userID uuid.UUID, video Video, position int) (Entry, error) {
	var saved Entry
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Tx) error {
		now := s.timestamp()
		prev, found, err := tx.Find(ctx, userID, video.ID)
		if err != nil {
			return err
		}
		if !found {
			prev = Entry{UserID: userID, VideoID: video.ID}
		}
		next := advance(prev, found, video, position, now)
		if err := tx.Put(ctx, next); err != nil {
			return err
		}
		events := []Event{WatchProgressed{
			UserID:          userID,
			VideoID:         video.ID,
			PositionSeconds: next.PositionSeconds,
			DurationSeconds: next.DurationSeconds,
			Completed:       next.Completed(),
			OccurredAt:      now,
		}}
		if next.Completed() && !prev.Completed() {
			events = append(events, VideoWatched{UserID: userID, VideoID: video.ID, WatchedAt: *next.WatchedAt})
		}
		if err := tx.Emit(ctx, events...); err != nil {
			return err
		}
		saved = next
		return nil
	})
	return saved, err
}

// advance returns prev moved to position at now, given the catalog's view
// of the video.
func advance(prev Entry, found bool, video Video, position int, now time.Time) Entry {
	next := prev
	// A catalog answer older than what the VideoUpdated consumer already
	// stored (a lagging replica, a request that raced the update) must not
	// bring back the old title.
	if !found || !video.UpdatedAt.Before(prev.VideoUpdatedAt) {
		next.Title = video.Title
		next.DurationSeconds = video.DurationSeconds
		next.VideoUpdatedAt = video.UpdatedAt
	}
	next.PositionSeconds = min(position, next.DurationSeconds)
	if next.WatchedAt == nil && reachesCompletion(next.PositionSeconds, next.DurationSeconds) {
		watched := now
		next.WatchedAt = &watched
	}
	next.UpdatedAt = now
	next.Version = prev.Version + 1
	return next
}

// List returns one page of userID's history, most recently updated first.
func (s *Service) List(ctx context.Context, userID uuid.UUID, q ListQuery) (Page, error) {
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	if q.Limit < 1 || q.Limit > MaxPageSize {
		return Page{}, apperr.InvalidField("limit", fmt.Sprintf("must be between 1 and %d", MaxPageSize))
	}
	// One extra row tells whether another page exists without a COUNT.
	items, err := s.store.List(ctx, userID, q.After, q.Limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("list history of user %s: %w", userID, err)
	}
	page := Page{Items: items}
	if len(items) > q.Limit {
		page.Items = items[:q.Limit]
		next := CursorAfter(page.Items[q.Limit-1])
		page.Next = &next
	}
	return page, nil
}

// Remove deletes userID's entry for videoID.
func (s *Service) Remove(ctx context.Context, userID, videoID uuid.UUID) error {
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Tx) error {
		found, err := tx.Delete(ctx, userID, videoID)
		if err != nil {
			return err
		}
		if !found {
			return apperr.New(apperr.NotFound, "no history entry for video %s", videoID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove video %s from history of user %s: %w", videoID, userID, err)
	}
	return nil
}

// The methods below apply other services' events. They run in tx, a
// transaction the caller already holds, because the event consumer records
// the event's id in that same transaction: the effect and "this event is
// done" commit together, which is what makes a redelivered event harmless.

// ForgetUser erases a deleted user's history. Forgetting a user twice, or
// one with no history, is not an error.
func (s *Service) ForgetUser(ctx context.Context, tx Tx, userID uuid.UUID) error {
	if err := tx.DeleteUser(ctx, userID); err != nil {
		return fmt.Errorf("forget user %s: %w", userID, err)
	}
	return nil
}

// ForgetVideo removes a deleted video from every user's history.
//
// A progress report that looked the video up just before the deletion and
// commits just after it can leave one entry behind, naming a video that no
// longer exists, until the user removes it. Closing that window would need a
// tombstone per deleted video, more state than one stray row is worth.
func (s *Service) ForgetVideo(ctx context.Context, tx Tx, videoID uuid.UUID) error {
	if err := tx.DeleteVideo(ctx, videoID); err != nil {
		return fmt.Errorf("forget video %s: %w", videoID, err)
	}
	return nil
}

// RefreshVideo copies a video's new title and duration into the history
// entries that show it.
func (s *Service) RefreshVideo(ctx context.Context, tx Tx, v Video) error {
	if v.DurationSeconds <= 0 {
		return apperr.InvalidField("duration_seconds", "must be greater than 0")
	}
	if err := tx.RefreshVideo(ctx, v); err != nil {
		return fmt.Errorf("refresh video %s: %w", v.ID, err)
	}
	return nil
}
