package readcache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/readcache"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// source is the data behind the cache: a versioned value per key, and a
// count of loads.
type source struct {
	mu    sync.Mutex
	vals  map[string]int
	loads atomic.Int64
}

func (s *source) set(k string, v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals[k] = v
}

func (s *source) load(k string) func(context.Context) (int, error) {
	return func(context.Context) (int, error) {
		s.loads.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.vals[k], nil
	}
}

func newCache(t *testing.T, opts readcache.Options) *readcache.Cache[string, int] {
	t.Helper()
	if opts.Size == 0 {
		opts.Size = 10
	}
	c, err := readcache.New[string, int](opts, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	c.SetEnabled(true)
	return c
}

func get(t *testing.T, c *readcache.Cache[string, int], s *source, k string) int {
	t.Helper()
	v, err := c.Get(t.Context(), k, s.load(k))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHitsInvalidationAndEviction(t *testing.T) {
	s := &source{vals: map[string]int{"a": 1, "b": 2, "c": 3}}
	c := newCache(t, readcache.Options{Size: 2})
	first, second := get(t, c, s, "a"), get(t, c, s, "a")
	if first != 1 || second != 1 || s.loads.Load() != 1 {
		t.Fatalf("reads %d, %d with %d loads, want the second from the cache", first, second, s.loads.Load())
	}
	s.set("a", 10)
	if get(t, c, s, "a") != 1 {
		t.Fatal("the cache did not serve the cached value")
	}
	c.Invalidate(t.Context(), "a")
	if get(t, c, s, "a") != 10 {
		t.Fatal("read after invalidation served the old value")
	}
	// a was used last; b, then c, push the least recently used out.
	get(t, c, s, "b")
	get(t, c, s, "c")
	if c.Len() != 2 {
		t.Fatalf("len = %d, want the bound 2", c.Len())
	}
	before := s.loads.Load()
	get(t, c, s, "c")
	if s.loads.Load() != before {
		t.Fatal("most recent entry was evicted")
	}
	get(t, c, s, "a")
	if s.loads.Load() != before+1 {
		t.Fatal("least recently used entry was not evicted")
	}
}

func TestErrorsAreNotCached(t *testing.T) {
	c := newCache(t, readcache.Options{})
	calls := 0
	boom := errors.New("boom")
	for range 2 {
		if _, err := c.Get(t.Context(), "k", func(context.Context) (int, error) { calls++; return 0, boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
	}
	if calls != 2 {
		t.Fatalf("failing load ran %d times, want 2", calls)
	}
}

func TestTTL(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	c := newCache(t, readcache.Options{TTL: time.Minute, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	s := &source{vals: map[string]int{"a": 1}}
	get(t, c, s, "a")
	s.set("a", 2)
	now.Add(int64(59 * time.Second))
	if get(t, c, s, "a") != 1 {
		t.Fatal("entry expired early")
	}
	now.Add(int64(time.Second))
	if get(t, c, s, "a") != 2 {
		t.Fatal("expired entry was served")
	}
}

// Disabled, the cache loads every time; enabling or disabling empties it,
// since changes may have gone unheard in between.
func TestBypass(t *testing.T) {
	s := &source{vals: map[string]int{"a": 1}}
	c := newCache(t, readcache.Options{})
	get(t, c, s, "a")
	c.SetEnabled(false)
	s.set("a", 2)
	first, second := get(t, c, s, "a"), get(t, c, s, "a")
	if first != 2 || second != 2 || s.loads.Load() != 3 {
		t.Fatalf("disabled cache: reads %d, %d with %d loads, want every read to load", first, second, s.loads.Load())
	}
	s.set("a", 3)
	c.SetEnabled(true)
	if c.Len() != 0 || get(t, c, s, "a") != 3 {
		t.Fatal("re-enabled cache was not empty")
	}
}

// blockingLoad returns a load that reports when it has read the source and
// then waits for release before returning what it read: the window in which
// a change and its invalidation can overtake it.
func blockingLoad(s *source, k string, read, release chan struct{}) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		v, err := s.load(k)(ctx)
		close(read)
		<-release
		return v, err
	}
}

// The race the cache exists to get right: a read loads the old value, the
// value changes and is invalidated, then the read finishes. Its old value
// must not be cached, or every later read would serve it.
func TestFillRacingInvalidationIsDiscarded(t *testing.T) {
	for name, supersede := range map[string]func(c *readcache.Cache[string, int]){
		"invalidate": func(c *readcache.Cache[string, int]) { c.Invalidate(context.Background(), "a") },
		"clear":      func(c *readcache.Cache[string, int]) { c.Clear() },
		"disable":    func(c *readcache.Cache[string, int]) { c.SetEnabled(false); c.SetEnabled(true) },
	} {
		t.Run(name, func(t *testing.T) {
			s := &source{vals: map[string]int{"a": 1}}
			c := newCache(t, readcache.Options{})
			read, release := make(chan struct{}), make(chan struct{})
			got := make(chan int, 1)
			go func() {
				v, _ := c.Get(context.Background(), "a", blockingLoad(s, "a", read, release))
				got <- v
			}()
			<-read
			s.set("a", 2)
			supersede(c)
			close(release)
			if v := <-got; v != 1 {
				t.Fatalf("racing read returned %d, want what it loaded (1)", v)
			}
			if v := get(t, c, s, "a"); v != 2 {
				t.Fatalf("read after the invalidation = %d, want 2: the racing fill was cached", v)
			}
		})
	}
}

// An invalidation of another key does not spoil a fill.
func TestUnrelatedInvalidationKeepsFill(t *testing.T) {
	s := &source{vals: map[string]int{"a": 1}}
	c := newCache(t, readcache.Options{})
	read, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.Get(context.Background(), "a", blockingLoad(s, "a", read, release))
	}()
	<-read
	c.Invalidate(t.Context(), "b")
	close(release)
	<-done
	before := s.loads.Load()
	get(t, c, s, "a")
	if s.loads.Load() != before {
		t.Fatal("fill was discarded for an invalidation of another key")
	}
}

// Many readers and a writer at once (run with -race): after the writer's
// Invalidate returns, no read may see a version older than the one written
// before it.
func TestConcurrentReadersNeverSeeOlderThanInvalidated(t *testing.T) {
	s := &source{vals: map[string]int{"a": 0}}
	c := newCache(t, readcache.Options{Size: 4})
	var floor atomic.Int64 // the version every read must now see at least
	ctx := t.Context()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				want := floor.Load()
				v, err := c.Get(ctx, "a", s.load("a"))
				if err != nil {
					errs <- err
					return
				}
				if int64(v) < want {
					errs <- errors.New("stale read after invalidation")
					return
				}
			}
		})
	}
	for i := 1; i <= 2000; i++ {
		s.set("a", i)
		c.Invalidate(ctx, "a")
		floor.Store(int64(i))
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
