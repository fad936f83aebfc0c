package domain_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
)

// memStore is an in-memory Store for the domain's rules. The SQL store has
// its own suite against both databases; this one pins the decisions the
// Service makes (completion, which events, retries) without a database.
type memStore struct {
	mu      sync.Mutex
	entries map[[2]uuid.UUID]domain.Entry
	deleted map[uuid.UUID]bool // videos DeleteVideo removed
	events  []domain.Event
	// beforePut, when set, runs once inside Put before the compare-and-set,
	// to simulate a writer that committed after this transaction's read.
	beforePut func(m *memStore)
}

func newMemStore() *memStore {
	return &memStore{entries: map[[2]uuid.UUID]domain.Entry{}, deleted: map[uuid.UUID]bool{}}
}

func (m *memStore) Atomic(ctx context.Context, fn func(context.Context, domain.Tx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx := &memTx{m: m, entries: maps(m.entries), deleted: map[uuid.UUID]bool{}}
	if err := fn(ctx, tx); err != nil {
		return err
	}
	m.entries = tx.entries
	for id := range tx.deleted {
		m.deleted[id] = true
	}
	m.events = append(m.events, tx.events...)
	return nil
}

func (m *memStore) List(_ context.Context, userID uuid.UUID, after *domain.Cursor, limit int) ([]domain.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []domain.Entry
	for _, e := range m.entries {
		if e.UserID != userID {
			continue
		}
		if after != nil && !before(e, *after) {
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b domain.Entry) int {
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return slices.Compare(b.VideoID[:], a.VideoID[:])
	})
	return out[:min(limit, len(out))], nil
}

// before reports whether e sorts strictly after cursor c in newest-first order.
func before(e domain.Entry, c domain.Cursor) bool {
	if !e.UpdatedAt.Equal(c.UpdatedAt) {
		return e.UpdatedAt.Before(c.UpdatedAt)
	}
	return slices.Compare(e.VideoID[:], c.VideoID[:]) < 0
}

func maps(in map[[2]uuid.UUID]domain.Entry) map[[2]uuid.UUID]domain.Entry {
	out := make(map[[2]uuid.UUID]domain.Entry, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

type memTx struct {
	m       *memStore
	entries map[[2]uuid.UUID]domain.Entry
	deleted map[uuid.UUID]bool
	events  []domain.Event
}

func (t *memTx) Find(_ context.Context, userID, videoID uuid.UUID) (domain.Entry, bool, error) {
	e, ok := t.entries[[2]uuid.UUID{userID, videoID}]
	return e, ok, nil
}

func (t *memTx) Put(_ context.Context, e domain.Entry) error {
	if t.m.beforePut != nil {
		hook := t.m.beforePut
		t.m.beforePut = nil
		hook(t.m)
	}
	k := [2]uuid.UUID{e.UserID, e.VideoID}
	if e.Version == 1 && (t.m.deleted[e.VideoID] || t.deleted[e.VideoID]) {
		return domain.ErrVideoDeleted
	}
	// Compare with the committed state, as a database would.
	if t.m.entries[k].Version != e.Version-1 {
		return domain.ErrConcurrentUpdate
	}
	t.entries[k] = e
	return nil
}

func (t *memTx) Delete(_ context.Context, userID, videoID uuid.UUID) (bool, error) {
	k := [2]uuid.UUID{userID, videoID}
	_, ok := t.entries[k]
	delete(t.entries, k)
	return ok, nil
}

func (t *memTx) DeleteUser(_ context.Context, userID uuid.UUID) error {
	for k := range t.entries {
		if k[0] == userID {
			delete(t.entries, k)
		}
	}
	return nil
}

func (t *memTx) DeleteVideo(_ context.Context, videoID uuid.UUID) error {
	t.deleted[videoID] = true
	for k := range t.entries {
		if k[1] == videoID {
			delete(t.entries, k)
		}
	}
	return nil
}

func (t *memTx) RefreshVideo(_ context.Context, v domain.Video) error {
	for k, e := range t.entries {
		if k[1] == v.ID && e.VideoUpdatedAt.Before(v.UpdatedAt) {
			e.Title, e.DurationSeconds, e.VideoUpdatedAt = v.Title, v.DurationSeconds, v.UpdatedAt
			e.PositionSeconds = min(e.PositionSeconds, v.DurationSeconds)
			e.Version++
			t.entries[k] = e
		}
	}
	return nil
}

func (t *memTx) Emit(_ context.Context, events ...domain.Event) error {
	t.events = append(t.events, events...)
	return nil
}

// catalog is a fixed set of videos.
type catalog map[uuid.UUID]domain.Video

func (c catalog) Video(_ context.Context, id uuid.UUID) (domain.Video, error) {
	v, ok := c[id]
	if !ok {
		return domain.Video{}, apperr.New(apperr.NotFound, "video %s not found", id)
	}
	return v, nil
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	store *memStore
	svc   *domain.Service
	video domain.Video
	clock *time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: newMemStore(), clock: new(time.Time)}
	*f.clock = t0
	f.video = domain.Video{ID: uuid.New(), Title: "Night Train", DurationSeconds: 100, UpdatedAt: t0.Add(-time.Hour)}
	f.svc = domain.NewService(f.store, catalog{f.video.ID: f.video}, domain.WithClock(func() time.Time {
		*f.clock = f.clock.Add(time.Second)
		return *f.clock
	}))
	return f
}

func TestRecordProgressCompletionAndEvents(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	user := uuid.New()

	steps := []struct {
		position      int
		wantCompleted bool
		wantWatched   bool // a VideoWatched accompanies this report
	}{
		{position: 10},
		{position: 89},
		{position: 90, wantCompleted: true, wantWatched: true}, // exactly 90%
		{position: 95, wantCompleted: true},
		{position: 5, wantCompleted: true},  // rewinding keeps it completed
		{position: 99, wantCompleted: true}, // reaching 90% again emits nothing new
	}
	for i, step := range steps {
		before := len(f.store.events)
		e, err := f.svc.RecordProgress(ctx, user, f.video.ID, step.position)
		if err != nil {
			t.Fatalf("step %d: RecordProgress(%d): %v", i, step.position, err)
		}
		if e.PositionSeconds != step.position || e.Completed() != step.wantCompleted || e.Title != f.video.Title || e.DurationSeconds != 100 {
			t.Fatalf("step %d: entry = %+v, want position %d completed %v", i, e, step.position, step.wantCompleted)
		}
		got := f.store.events[before:]
		progressed, ok := got[0].(domain.WatchProgressed)
		if !ok || progressed.PositionSeconds != step.position || progressed.Completed != step.wantCompleted || progressed.UserID != user {
			t.Fatalf("step %d: first event = %#v, want WatchProgressed at %d", i, got[0], step.position)
		}
		if watched := len(got) == 2; watched != step.wantWatched {
			t.Fatalf("step %d: events = %#v, want VideoWatched: %v", i, got, step.wantWatched)
		}
		if step.wantWatched {
			if w, ok := got[1].(domain.VideoWatched); !ok || !w.WatchedAt.Equal(*e.WatchedAt) || w.VideoID != f.video.ID {
				t.Fatalf("step %d: VideoWatched = %+v, entry watched at %v", i, w, e.WatchedAt)
			}
		}
	}
}

func TestRecordProgressRejects(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	user := uuid.New()
	tests := []struct {
		name     string
		video    uuid.UUID
		position int
		kind     apperr.Kind
		field    string
	}{
		{"negative", f.video.ID, -1, apperr.Invalid, "position_seconds"},
		{"beyond duration", f.video.ID, 101, apperr.Invalid, "position_seconds"},
		{"unknown video", uuid.New(), 1, apperr.NotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.RecordProgress(ctx, user, tt.video, tt.position)
			e, ok := apperr.As(err)
			if !ok || e.Kind != tt.kind {
				t.Fatalf("err = %v, want kind %v", err, tt.kind)
			}
			if tt.field != "" && (len(e.Fields) != 1 || e.Fields[0].Field != tt.field) {
				t.Fatalf("fields = %+v, want %s", e.Fields, tt.field)
			}
		})
	}
	if len(f.store.events) != 0 {
		t.Fatalf("rejected reports emitted %d events", len(f.store.events))
	}
}

func TestRecordProgressRetriesLostRace(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	user := uuid.New()
	// Another device completes the video between our read and our write: we
	// must retry on top of its entry rather than emit a second VideoWatched.
	f.store.beforePut = func(m *memStore) {
		watched := t0
		m.entries[[2]uuid.UUID{user, f.video.ID}] = domain.Entry{
			UserID: user, VideoID: f.video.ID, Title: f.video.Title, DurationSeconds: 100,
			PositionSeconds: 95, WatchedAt: &watched, UpdatedAt: t0, VideoUpdatedAt: f.video.UpdatedAt, Version: 1,
		}
	}
	e, err := f.svc.RecordProgress(ctx, user, f.video.ID, 97)
	if err != nil {
		t.Fatalf("RecordProgress: %v", err)
	}
	if e.Version != 2 || !e.WatchedAt.Equal(t0) {
		t.Fatalf("entry = %+v, want version 2 keeping the concurrent WatchedAt", e)
	}
	for _, ev := range f.store.events {
		if _, ok := ev.(domain.VideoWatched); ok {
			t.Fatalf("emitted VideoWatched although the concurrent writer completed the video first")
		}
	}
}

// TestRecordProgressRacingVideoDeleted: the catalog still had the video,
// but its VideoDeleted was applied before our write. The report is refused
// as the catalog would refuse it now, and leaves nothing behind.
func TestRecordProgressRacingVideoDeleted(t *testing.T) {
	f := newFixture(t)
	user := uuid.New()
	f.store.beforePut = func(m *memStore) { m.deleted[f.video.ID] = true }
	_, err := f.svc.RecordProgress(t.Context(), user, f.video.ID, 10)
	if apperr.KindOf(err) != apperr.NotFound {
		t.Fatalf("RecordProgress after the video's deletion: %v, want NotFound", err)
	}
	if len(f.store.entries) != 0 || len(f.store.events) != 0 {
		t.Fatalf("left %d entries and %d events behind", len(f.store.entries), len(f.store.events))
	}
}

func TestRecordProgressKeepsNewerTitle(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	user := uuid.New()
	if _, err := f.svc.RecordProgress(ctx, user, f.video.ID, 10); err != nil {
		t.Fatal(err)
	}
	// The consumer applies a rename the catalog replica has not seen yet.
	renamed := domain.Video{ID: f.video.ID, Title: "Night Train (Director's Cut)", DurationSeconds: 50, UpdatedAt: t0}
	if err := f.store.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
		return f.svc.RefreshVideo(ctx, tx, renamed)
	}); err != nil {
		t.Fatal(err)
	}
	// The stale catalog still says 100 s, so 80 passes validation, but the
	// stored, newer duration wins and bounds the position.
	e, err := f.svc.RecordProgress(ctx, user, f.video.ID, 80)
	if err != nil {
		t.Fatal(err)
	}
	if e.Title != renamed.Title || e.DurationSeconds != 50 || e.PositionSeconds != 50 || !e.Completed() {
		t.Fatalf("entry = %+v, want the newer title and duration kept", e)
	}
}

func TestRefreshVideoIgnoresOlderUpdate(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	user := uuid.New()
	if _, err := f.svc.RecordProgress(ctx, user, f.video.ID, 80); err != nil {
		t.Fatal(err)
	}
	apply := func(v domain.Video) {
		t.Helper()
		if err := f.store.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
			return f.svc.RefreshVideo(ctx, tx, v)
		}); err != nil {
			t.Fatal(err)
		}
	}
	apply(domain.Video{ID: f.video.ID, Title: "New", DurationSeconds: 60, UpdatedAt: t0.Add(time.Hour)})
	apply(domain.Video{ID: f.video.ID, Title: "Older", DurationSeconds: 100, UpdatedAt: t0})
	page, err := f.svc.List(ctx, user, domain.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got := page.Items[0]; got.Title != "New" || got.DurationSeconds != 60 || got.PositionSeconds != 60 {
		t.Fatalf("entry = %+v, want title New, duration 60, position clamped to 60", got)
	}
	err = f.store.Atomic(ctx, func(ctx context.Context, tx domain.Tx) error {
		return f.svc.RefreshVideo(ctx, tx, domain.Video{ID: f.video.ID, Title: "Broken", DurationSeconds: 0})
	})
	if apperr.KindOf(err) != apperr.Invalid {
		t.Fatalf("RefreshVideo with duration 0: err = %v, want Invalid", err)
	}
}

func TestListPaginates(t *testing.T) {
	store := newMemStore()
	videos := catalog{}
	for range 5 {
		v := domain.Video{ID: uuid.New(), Title: "v", DurationSeconds: 60}
		videos[v.ID] = v
	}
	now := t0
	svc := domain.NewService(store, videos, domain.WithClock(func() time.Time { return now }))
	ctx := t.Context()
	user := uuid.New()
	// Pairs of entries share a timestamp, which exercises the video_id
	// tie-break, including across a page boundary.
	i := 0
	for id := range videos {
		if _, err := svc.RecordProgress(ctx, user, id, 1); err != nil {
			t.Fatal(err)
		}
		if i++; i%2 == 0 {
			now = now.Add(time.Second)
		}
	}
	var seen []uuid.UUID
	q := domain.ListQuery{Limit: 2}
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("pagination did not terminate")
		}
		page, err := svc.List(ctx, user, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			seen = append(seen, e.VideoID)
		}
		if page.Next == nil {
			break
		}
		c, err := domain.DecodeCursor(page.Next.Encode())
		if err != nil {
			t.Fatal(err)
		}
		q.After = &c
	}
	if len(seen) != 5 || len(slices.Compact(slices.Clone(seen))) != 5 {
		t.Fatalf("paged through %v, want each of 5 videos once", seen)
	}
	for _, limit := range []int{-1, domain.MaxPageSize + 1} {
		if _, err := svc.List(ctx, user, domain.ListQuery{Limit: limit}); apperr.KindOf(err) != apperr.Invalid {
			t.Fatalf("List(limit %d): err = %v, want Invalid", limit, err)
		}
	}
}

func TestRemove(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	user := uuid.New()
	if _, err := f.svc.RecordProgress(ctx, user, f.video.ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Remove(ctx, user, f.video.ID); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := f.svc.Remove(ctx, user, f.video.ID); apperr.KindOf(err) != apperr.NotFound {
		t.Fatalf("second Remove: err = %v, want NotFound", err)
	}
}

func TestDecodeCursorRejectsGarbage(t *testing.T) {
	for _, s := range []string{"", "not base64!", "AAAA", domain.Cursor{}.Encode()[:10]} {
		if _, err := domain.DecodeCursor(s); !errors.Is(err, domain.ErrMalformedCursor) {
			t.Errorf("DecodeCursor(%q): err = %v, want ErrMalformedCursor", s, err)
		}
	}
	c := domain.Cursor{UpdatedAt: t0.Add(123 * time.Microsecond), VideoID: uuid.New()}
	got, err := domain.DecodeCursor(c.Encode())
	if err != nil || !got.UpdatedAt.Equal(c.UpdatedAt) || got.VideoID != c.VideoID {
		t.Fatalf("round trip: got %+v, %v; want %+v", got, err, c)
	}
}
