package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/video/internal/events"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// topicsBackoff spaces attempts to reach Kafka at start-up. The cap is
// modest: a developer starting the broker after the service should not wait
// long for the view counter to catch up.
var topicsBackoff = kafkabus.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}

// topics creates the Kafka topics the service uses, in the background and
// for as long as it takes, and holds the consumer back until they exist: a
// consumer group joined before its topic exists would sit with no
// partitions until the next rebalance. The relay does not wait; its
// publishes fail and are retried like any other Kafka outage, while the
// events stay safe in the outbox.
type topics struct {
	brokers []string
	managed bool
	log     *slog.Logger
	ready   chan struct{}
}

func newTopics(cfg Config, log *slog.Logger) *topics {
	return &topics{brokers: cfg.KafkaBrokers, managed: cfg.KafkaTopicsManaged, log: log, ready: make(chan struct{})}
}

// ensure is a lifecycle worker that finishes once the topics exist.
func (t *topics) ensure(ctx context.Context) error {
	defer close(t.ready)
	if t.managed {
		return nil
	}
	// The consumed topic is ensured too, although watch history owns it:
	// the view counter's dead-letter topic must exist for poison to go
	// somewhere, and services may start in any order.
	specs := []kafkabus.TopicSpec{{Name: store.VideosTopic}, {Name: events.WatchTopic}}
	schedule := topicsBackoff.Schedule()
	for {
		err := kafkabus.EnsureTopics(ctx, t.brokers, specs...)
		if err == nil {
			t.log.InfoContext(ctx, "kafka topics ready")
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := schedule.NextBackOff()
		t.log.WarnContext(ctx, "kafka unreachable or topics not ready; retrying",
			slog.Any("error", err), slog.Duration("retry_in", wait))
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// then returns a worker that runs run once the topics are ready.
func (t *topics) then(run func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-t.ready:
			return run(ctx)
		case <-ctx.Done():
			return nil
		}
	}
}
