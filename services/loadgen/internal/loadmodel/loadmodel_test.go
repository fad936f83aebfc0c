package loadmodel_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/loadgen/internal/loadmodel"
)

// virtualClock jumps to whatever time it is asked to sleep until, so the
// open model's schedule runs instantly and deterministically.
type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	return ctx.Err()
}

func TestOpenModelKeepsTheSchedule(t *testing.T) {
	clk := &virtualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	start := clk.now
	var (
		mu  sync.Mutex
		ats []time.Time
	)
	dropped, wait := loadmodel.Open(t.Context(), clk, 200, time.Second, 1000, func(_ context.Context, at time.Time) {
		mu.Lock()
		ats = append(ats, at)
		mu.Unlock()
	})
	wait()
	if dropped != 0 || len(ats) != 200 {
		t.Fatalf("%d sends, %d dropped; want 200 sends at 200/s for 1s", len(ats), dropped)
	}
	seen := map[time.Time]bool{}
	for _, at := range ats {
		offset := at.Sub(start)
		if offset%(5*time.Millisecond) != 0 || offset >= time.Second || seen[at] {
			t.Fatalf("send scheduled at +%s: want distinct multiples of 5ms within the second", offset)
		}
		seen[at] = true
	}
}

// TestOpenModelDropsInsteadOfQueueing: with every request stuck, sends
// beyond max-inflight are dropped and counted; the schedule does not wait.
func TestOpenModelDropsInsteadOfQueueing(t *testing.T) {
	clk := &virtualClock{now: time.Unix(0, 0)}
	release := make(chan struct{})
	var fired atomic.Int32
	dropped, wait := loadmodel.Open(t.Context(), clk, 1000, 50*time.Millisecond, 3, func(context.Context, time.Time) {
		fired.Add(1)
		<-release
	})
	close(release)
	wait()
	if fired.Load() != 3 || dropped != 47 {
		t.Fatalf("fired %d, dropped %d; want 3 and 47", fired.Load(), dropped)
	}
}

func TestOpenModelStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	dropped, wait := loadmodel.Open(ctx, &virtualClock{}, 100, time.Hour, 10, func(context.Context, time.Time) {
		t.Error("fired after cancellation")
	})
	wait()
	if dropped != 0 {
		t.Errorf("dropped %d", dropped)
	}
}

// TestClosedModelRunsNWorkersConcurrently: all n workers are in a request
// at once, and the run ends with its context.
func TestClosedModelRunsNWorkersConcurrently(t *testing.T) {
	const n = 5
	ctx, cancel := context.WithCancel(t.Context())
	var (
		active  atomic.Int32
		reached = make(chan struct{})
		once    sync.Once
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		loadmodel.Closed(ctx, n, time.Hour, func(context.Context, time.Time) bool {
			if active.Add(1) == n {
				once.Do(func() { close(reached) })
			}
			<-reached
			active.Add(-1)
			return true
		})
	}()
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d of %d workers were in a request at once", active.Load(), n)
	}
	cancel()
	<-done
}
