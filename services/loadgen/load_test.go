package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/loadgen/internal/stats"
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
	dropped, wait := openModel(t.Context(), clk, 200, time.Second, 1000, func(_ context.Context, at time.Time) {
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
	dropped, wait := openModel(t.Context(), clk, 1000, 50*time.Millisecond, 3, func(context.Context, time.Time) {
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
	dropped, wait := openModel(ctx, &virtualClock{}, 100, time.Hour, 10, func(context.Context, time.Time) {
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
		closedModel(ctx, n, time.Hour, func(context.Context, time.Time) {
			if active.Add(1) == n {
				once.Do(func() { close(reached) })
			}
			<-reached
			active.Add(-1)
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

func TestPickHonoursTheReadRatio(t *testing.T) {
	var ops []operation
	for _, op := range (&fixture{users: []fixtureUser{{}}, videos: []fixtureVideo{{duration: 1}}}).operations(nil) {
		if op.weight <= 0 {
			t.Errorf("%s has weight %d", op.route, op.weight)
		}
		ops = append(ops, op)
	}
	for range 200 {
		if op := pick(ops, 1); op.write {
			t.Fatalf("read ratio 1 picked the write %s", op.route)
		}
		if op := pick(ops, 0); !op.write {
			t.Fatalf("read ratio 0 picked the read %s", op.route)
		}
	}
}

func TestLoadConfigValidate(t *testing.T) {
	base := loadConfig{duration: time.Second, readRatio: 0.8, users: 1, videos: 1, timeout: time.Second, maxInflight: 1}
	c := base
	if err := c.validate(); err != nil || c.workers != 8 {
		t.Fatalf("default: %v, workers %d; want the closed model with 8", err, c.workers)
	}
	for name, mutate := range map[string]func(*loadConfig){
		"both models":     func(c *loadConfig) { c.rate, c.workers = 10, 2 },
		"negative rate":   func(c *loadConfig) { c.rate = -1 },
		"read ratio > 1":  func(c *loadConfig) { c.readRatio = 1.5 },
		"no users":        func(c *loadConfig) { c.users = 0 },
		"zero duration":   func(c *loadConfig) { c.duration = 0 },
		"trace ratio < 0": func(c *loadConfig) { c.traceRatio = -0.1 },
	} {
		c := base
		mutate(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPrintLoadReport(t *testing.T) {
	r := stats.NewRecorder()
	r.Record("GET /v1/videos/{id}", 200, nil, 2*time.Millisecond)
	r.Record("PUT /v1/history/{video_id}", 503, errors.New("PUT /v1/history/{video_id}: 503 Service Unavailable"), 9*time.Millisecond)
	var out bytes.Buffer
	err := printLoadReport(&out, LoadReport{Model: "open", TargetRate: 50, DurationSecs: 1, Dropped: 3, Totals: r.Totals(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"requests   2 in 1.0s = 2.0/s (target 50/s, dropped 3)",
		"errors     1 (50.00%)",
		"p50 2.00ms", "max 9.00ms",
		"200: 1   503: 1",
		"GET /v1/videos/{id}", "PUT /v1/history/{video_id}",
		"503 Service Unavailable",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
