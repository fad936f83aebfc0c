package kafkabus

import (
	"context"
	"log/slog"
	"time"
)

// gateBackoff spaces attempts to reach Kafka at start-up. The cap is modest:
// a developer starting the broker after the services should not wait long
// for events to flow.
var gateBackoff = Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}

// TopicGate creates a service's topics (and their dead-letter topics) in the
// background, for as long as it takes, and holds consumers back until they
// exist: a kafka-go group member that joins before its topic exists sits with
// no partitions until the next rebalance.
//
// Producers need no gate. Until a topic exists the outbox relay's publishes
// fail and are retried like any other Kafka outage, while the events wait in
// the outbox; so a service starts and serves with Kafka down.
//
// A service ensures the topics it consumes as well as those it publishes to,
// because its consumers' dead-letter topics must exist for poison to go
// somewhere, and services may start in any order.
type TopicGate struct {
	brokers []string
	specs   []TopicSpec
	managed bool
	log     *slog.Logger
	ready   chan struct{}
}

// NewTopicGate returns a gate for specs. With managed set, topics are the
// platform's job (in Kubernetes, the topic operator): the gate creates
// nothing and opens once they exist.
func NewTopicGate(brokers []string, managed bool, log *slog.Logger, specs ...TopicSpec) *TopicGate {
	return &TopicGate{brokers: brokers, specs: specs, managed: managed, log: log, ready: make(chan struct{})}
}

// Ensure is a lifecycle worker: it returns once the topics exist, or when
// ctx ends. It never fails, since Kafka being down is not a reason to stop
// serving.
func (g *TopicGate) Ensure(ctx context.Context) error {
	defer close(g.ready)
	attempt := func() error { return EnsureTopics(ctx, g.brokers, g.specs...) }
	if g.managed {
		attempt = func() error { return TopicsExist(ctx, g.brokers, g.specs...) }
	}
	schedule := gateBackoff.Schedule()
	for {
		err := attempt()
		if err == nil {
			g.log.InfoContext(ctx, "kafka topics ready")
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := schedule.NextBackOff()
		g.log.WarnContext(ctx, "kafka unreachable or topics not ready; retrying",
			slog.Any("error", err), slog.Duration("retry_in", wait))
		if sleep(ctx, wait) != nil {
			return nil
		}
	}
}

// Then returns a worker that runs run once the topics exist.
func (g *TopicGate) Then(run func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-g.ready:
			return run(ctx)
		case <-ctx.Done():
			return nil
		}
	}
}
