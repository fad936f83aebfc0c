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

// topics creates the Kafka topic the service publishes to, and its
// dead-letter topic, in the background and for as long as it takes. The
// relay does not wait for it: until the topic exists its publishes fail and
// are retried like any other Kafka outage, while the events stay safe in the
// outbox.
type topics struct {
	brokers []string
	managed bool
	log     *slog.Logger
}

func newTopics(cfg Config, log *slog.Logger) *topics {
	return &topics{brokers: cfg.KafkaBrokers, managed: cfg.KafkaTopicsManaged, log: log}
}

// ensure is a lifecycle worker that finishes once the topics exist.
func (t *topics) ensure(ctx context.Context) error {
	if t.managed {
		return nil
	}
	schedule := topicsBackoff.Schedule()
	for {
		err := kafkabus.EnsureTopics(ctx, t.brokers, kafkabus.TopicSpec{Name: store.UsersTopic})
		if err == nil {
			t.log.InfoContext(ctx, "kafka topics ready")
			return nil
		}
		wait := schedule.NextBackOff()
		// A canceled ctx is shutdown, not Kafka trouble: nothing to report,
		// and the wait below returns at once.
		if ctx.Err() == nil {
			t.log.WarnContext(ctx, "kafka unreachable or topics not ready; retrying",
				slog.Any("error", err), slog.Duration("retry_in", wait))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}
