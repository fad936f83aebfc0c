package kafkabus

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Backoff is a capped exponential retry schedule: the first wait is about
// Initial, each next one twice as long, up to Max. Every wait is jittered by
// ±50% so that replicas that failed together do not retry together.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// Or returns b with its zero fields taken from def.
func (b Backoff) Or(def Backoff) Backoff {
	if b.Initial <= 0 {
		b.Initial = def.Initial
	}
	if b.Max <= 0 {
		b.Max = def.Max
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	return b
}

// Schedule returns a fresh schedule following b (whose fields must be set;
// see Or). Call NextBackOff for each wait and Reset after a success. It never
// returns backoff.Stop: when to give up is the caller's decision.
func (b Backoff) Schedule() backoff.BackOff {
	s := &backoff.ExponentialBackOff{
		InitialInterval:     b.Initial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         b.Max,
	}
	s.Reset()
	return s
}

// sleep waits for d or until ctx is done and reports which: nil after the
// full wait, ctx's cause otherwise.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
