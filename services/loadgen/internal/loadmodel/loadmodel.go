// Package loadmodel paces requests the two ways a load test can: the open
// model, a fixed arrival rate whatever the server does, and the closed
// model, a fixed number of clients each waiting for its answer before it
// asks again. `loadgen load` and the system benchmarks (package bench) both
// drive their requests through it.
package loadmodel

import (
	"context"
	"sync"
	"time"
)

// Clock is the time the open model schedules by; tests use a virtual one.
type Clock interface {
	Now() time.Time
	// SleepUntil returns at t, or with ctx's error if ctx ends first.
	SleepUntil(ctx context.Context, t time.Time) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// SleepUntil sleeps until t or until ctx ends.
func (RealClock) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// Interval is the time between two sends at rate per second.
func Interval(rate float64) time.Duration { return time.Duration(float64(time.Second) / rate) }

// Open calls fire rate times a second for d, each call in its own
// goroutine, passing the time it was scheduled for. It never waits for a
// response before sending the next request; when maxInflight calls are
// already running, the send is dropped and counted instead of queued, so
// an overloaded server shows up as drops and latency, not as a quietly
// lower rate. Latency should be measured from the scheduled time, so that
// a late send (the client's own stall) is charged too rather than hidden
// (coordinated omission). It returns once the schedule is over, with a
// function that waits for the calls still running.
//
// Exactly n calls are scheduled when d is n*Interval(rate).
func Open(ctx context.Context, clk Clock, rate float64, d time.Duration, maxInflight int, fire func(context.Context, time.Time)) (dropped int, wait func()) {
	interval := Interval(rate)
	sem := make(chan struct{}, maxInflight)
	var wg sync.WaitGroup
	start := clk.Now()
	for i := 0; ; i++ {
		// Scheduled times are absolute, so a late wake-up is caught up
		// by the following sends instead of drifting the rate down.
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d || clk.SleepUntil(ctx, at) != nil {
			break
		}
		select {
		case sem <- struct{}{}:
			wg.Go(func() {
				defer func() { <-sem }()
				fire(ctx, at)
			})
		default:
			dropped++
		}
	}
	return dropped, wg.Wait
}

// Closed runs n workers, each calling fire in a loop until d has passed or
// ctx ends. fire returns false to stop its worker early (a benchmark that
// has sent its b.N requests).
func Closed(ctx context.Context, n int, d time.Duration, fire func(context.Context, time.Time) bool) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				// The request in flight when the time is up finishes:
				// cutting it off would record a false error.
				if !fire(context.WithoutCancel(ctx), time.Now()) {
					return
				}
			}
		})
	}
	wg.Wait()
}
