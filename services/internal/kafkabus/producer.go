package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// Producer defaults. They are chosen for the outbox relay, which writes
// synchronously, one batch at a time.
const (
	// kafka-go's Writer waits up to BatchTimeout (1 s by default) for a batch
	// to fill before sending it, even on a synchronous write. A synchronous
	// caller has already handed over everything it has, so waiting longer only
	// adds latency.
	defaultBatchTimeout = 5 * time.Millisecond
	// DefaultBatchSize is the most records the Producer sends to one
	// partition in one produce request. A write that spans two requests to one
	// partition can fail in the first and succeed in the second, which would
	// put later events of a key before earlier ones; the outbox relay keeps
	// its batches no larger than this so that cannot happen.
	DefaultBatchSize = 1000
	// DefaultBatchBytes is kafka-go's default and Kafka's default
	// message.max.bytes (1 MiB); the same reasoning as for DefaultBatchSize
	// applies to bytes.
	DefaultBatchBytes = 1 << 20
	// kafka-go retries a failed produce request itself. The relay has its
	// own, longer backoff; a few fast retries here absorb a leader change
	// without surfacing an error, more would only delay the relay noticing a
	// broker outage.
	defaultWriteAttempts = 3
	defaultWriteTimeout  = 10 * time.Second
)

// Producer writes records to Kafka. It is safe for concurrent use.
type Producer struct {
	w    *kafka.Writer
	sent metric.Int64Counter
}

// ProducerOption tunes NewProducer.
type ProducerOption func(*kafka.Writer)

// WithBatchTimeout overrides how long a batch may wait to fill (default 5 ms).
func WithBatchTimeout(d time.Duration) ProducerOption {
	return func(w *kafka.Writer) { w.BatchTimeout = d }
}

// WithMaxAttempts overrides how often kafka-go tries a produce request before
// Publish returns its error (default 3).
func WithMaxAttempts(n int) ProducerOption {
	return func(w *kafka.Writer) { w.MaxAttempts = n }
}

// WithWriteTimeout overrides how long one produce request may take (default
// 10 s).
func WithWriteTimeout(d time.Duration) ProducerOption {
	return func(w *kafka.Writer) { w.WriteTimeout = d }
}

// WithClientID sets the client.id the broker sees in its logs and quotas.
func WithClientID(id string) ProducerOption {
	return func(w *kafka.Writer) {
		if t, ok := w.Transport.(*kafka.Transport); ok {
			t.ClientID = id
		}
	}
}

// NewProducer returns a Producer for the cluster reachable at brokers
// ("host:port" bootstrap addresses). It connects lazily, on the first Publish.
//
// Records are written with acks=all (durable once Publish returns), to the
// partition a hash of their key picks (so one key's records stay in order),
// and never to a topic that does not exist: auto-creation would give a
// mistyped topic the broker's default partition count and hide the mistake.
func NewProducer(brokers []string, p telemetry.Providers, opts ...ProducerOption) *Producer {
	p = p.OrNoop()
	log := p.Logger.With(slog.String("component", "kafkabus.producer"))
	w := &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		AllowAutoTopicCreation: false,
		BatchTimeout:           defaultBatchTimeout,
		BatchSize:              DefaultBatchSize,
		BatchBytes:             DefaultBatchBytes,
		MaxAttempts:            defaultWriteAttempts,
		WriteTimeout:           defaultWriteTimeout,
		// A Transport of our own instead of kafka.DefaultTransport, which is
		// process-wide: its connection pool and metadata cache would be
		// shared by every Producer of a test process, across brokers.
		Transport: &kafka.Transport{
			ClientID:    "vidstream",
			DialTimeout: 5 * time.Second,
			// After a failed metadata request (broker down) the transport
			// answers every write with that error until its next refresh,
			// at a random point within MetadataTTL (default 6 s). A short
			// TTL bounds how long the relay lags after Kafka is back; one
			// metadata request a second is nothing for a broker.
			MetadataTTL: time.Second,
		},
		// kafka-go reports every failed attempt; the relay and the consumer
		// log the errors that decide something, so these are debug detail.
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Debug(fmt.Sprintf(msg, args...))
		}),
	}
	for _, opt := range opts {
		opt(w)
	}
	sent := counter(p, "messaging.client.sent.messages", "{message}",
		"Records the producer tried to send; error.type is set on those that failed.")
	return &Producer{w: w, sent: sent}
}

// Publish writes msgs, each to its own Topic, and returns when the broker has
// acknowledged all of them. Records of one key in one call keep their order.
// On partial failure the error wraps a kafka.WriteErrors (see [Publisher]).
func (pr *Producer) Publish(ctx context.Context, msgs ...kafka.Message) error {
	err := pr.w.WriteMessages(ctx, msgs...)
	pr.count(ctx, msgs, err)
	if err != nil {
		return fmt.Errorf("publish %d records: %w", len(msgs), err)
	}
	return nil
}

// Close flushes pending writes and closes the connections.
func (pr *Producer) Close() error {
	if err := pr.w.Close(); err != nil {
		return fmt.Errorf("close kafka producer: %w", err)
	}
	return nil
}

// count records messaging.client.sent.messages per topic and outcome.
func (pr *Producer) count(ctx context.Context, msgs []kafka.Message, err error) {
	var werrs kafka.WriteErrors
	perRecord := errors.As(err, &werrs) && len(werrs) == len(msgs)
	for i, m := range msgs {
		attrs := []attribute.KeyValue{semconv.MessagingSystemKafka, semconv.MessagingDestinationName(m.Topic), semconv.MessagingOperationTypeSend}
		failed := err != nil
		if perRecord {
			failed = werrs[i] != nil
		}
		if failed {
			attrs = append(attrs, semconv.ErrorTypeOther)
		}
		pr.sent.Add(ctx, 1, metric.WithAttributes(attrs...))
	}
}
