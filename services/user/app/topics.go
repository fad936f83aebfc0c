package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/user/internal/store"
)

// topicsBackoff spaces attempts to reach Kafka at start-up. The cap is
// modest: a developer starting the broker after the service should not wait
// long for the events to flow.
var topicsBackoff = kafkabus.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}

// ensureTopics returns a lifecycle worker that creates the topic the service
// publishes to (and its dead-letter topic) when it is missing, retrying in
// the background for as long as it takes, and then finishes. The relay does
// not wait for it: until the topic exists its publishes fail and are retried
// like any other Kafka outage, while the events stay safe in the outbox.
//
// When managed is true someone else owns the topics (in Kubernetes, the
// topic operator) and the worker does nothing.
func ensureTopics(brokers []string, managed bool, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		if managed {
			return nil
		}
		schedule := topicsBackoff.Schedule()
		for {
			err := kafkabus.EnsureTopics(ctx, brokers, kafkabus.TopicSpec{Name: store.UsersTopic})
			if err == nil {
				log.InfoContext(ctx, "kafka topics ready")
				return nil
			}
			if ctx.Err() != nil {
				return nil
			}
			wait := schedule.NextBackOff()
			log.WarnContext(ctx, "kafka unreachable or topics not ready; retrying",
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
}
