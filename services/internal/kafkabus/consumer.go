package kafkabus

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/api/events"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// Handler applies one event. It runs inside the consumer's database
// transaction, which also records the event's ce_id: do every write through
// tx, so that the effect and the "already processed" mark commit or roll back
// together. A Handler must have no effects outside tx (no calls that change
// another system): it may run more than once for one event when an attempt
// fails and is retried.
//
// Return nil when the event is applied (or deliberately ignored, such as an
// event type this consumer does not care about), Skip(reason) for a record
// it cannot apply but that is no error (an event type newer than the
// consumer), Permanent(err) when retrying cannot help, and any other error
// to have the event retried.
type Handler func(ctx context.Context, tx *sql.Tx, m Message) error

// Headers the consumer adds to a dead-lettered record, next to the record's
// own headers, so that whoever inspects the dead-letter topic sees what
// failed, where, and why, and can replay the record to its original topic.
const (
	HeaderDLQError             = "x-dlq-error"
	HeaderDLQAttempts          = "x-dlq-attempts"
	HeaderDLQPermanent         = "x-dlq-permanent"
	HeaderDLQOriginalTopic     = "x-dlq-original-topic"
	HeaderDLQOriginalPartition = "x-dlq-original-partition"
	HeaderDLQOriginalOffset    = "x-dlq-original-offset"
	HeaderDLQConsumerGroup     = "x-dlq-consumer-group"
	HeaderDLQFailedAt          = "x-dlq-failed-at"

	dlqHeaderPrefix = "x-dlq-"
	// maxDLQErrorLen bounds x-dlq-error: an error that embeds a whole
	// payload or response must not make the dead-letter record too large to
	// publish.
	maxDLQErrorLen = 2048
)

const (
	defaultMaxAttempts    = 5
	defaultHandlerTimeout = 30 * time.Second
	commitTimeout         = 10 * time.Second
	dlqPublishTimeout     = 10 * time.Second
	purgeInterval         = time.Hour
)

var defaultConsumerBackoff = Backoff{Initial: 200 * time.Millisecond, Max: 10 * time.Second}

// ConsumerConfig configures a Consumer. Brokers, GroupID and Topic are
// required.
type ConsumerConfig struct {
	Brokers []string
	// GroupID is the Kafka consumer group, e.g. "video.view-counter". It
	// also scopes the processed-events records, so two groups in one
	// database each apply every event once.
	GroupID string
	Topic   string
	// MaxAttempts is how often a failing record is tried before it is
	// dead-lettered (default 5).
	MaxAttempts int
	// Backoff spaces the attempts (default 200 ms doubling to 10 s).
	Backoff Backoff
	// DLQTopic receives records that failed for good (default Topic+".dlq").
	DLQTopic string
	// HandlerTimeout bounds one attempt (default 30 s). It also bounds how
	// long shutdown waits for the record in flight.
	HandlerTimeout time.Duration
	// StartAtNewest makes a group that has no committed offset yet start at
	// the end of the topic. By default it starts at the oldest retained
	// record: a new consumer should not silently miss the events published
	// before its first deployment.
	StartAtNewest bool
	// DLQ publishes dead-lettered records; by default the consumer creates a
	// Producer on Brokers for it.
	DLQ Publisher
}

// Consumer reads one topic as a member of one consumer group and applies each
// record through a Handler with effectively-once semantics. See Run.
type Consumer struct {
	cfg    ConsumerConfig
	db     *database.DB
	handle Handler
	p      telemetry.Providers
	tracer trace.Tracer
	log    *slog.Logger

	consumed metric.Int64Counter
	duration metric.Float64Histogram

	started atomic.Bool
	now     func() time.Time
	// beforeCommit, when set (by tests), runs after a record's transaction
	// committed and before its offset is; an error stops Run right there, as
	// a crash would.
	beforeCommit func(Message) error
}

// NewConsumer validates cfg and returns a Consumer; it connects to nothing
// until Run. db must have the inbox table (MigrateInbox).
func NewConsumer(cfg ConsumerConfig, db *database.DB, h Handler, p telemetry.Providers) (*Consumer, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("kafkabus: consumer: no brokers")
	case cfg.GroupID == "":
		return nil, errors.New("kafkabus: consumer: empty GroupID")
	case cfg.Topic == "":
		return nil, errors.New("kafkabus: consumer: empty Topic")
	case db == nil:
		return nil, errors.New("kafkabus: consumer: nil database")
	case h == nil:
		return nil, errors.New("kafkabus: consumer: nil handler")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = defaultMaxAttempts
	}
	cfg.Backoff = cfg.Backoff.Or(defaultConsumerBackoff)
	if cfg.DLQTopic == "" {
		cfg.DLQTopic = events.DLQ(cfg.Topic)
	}
	if cfg.DLQTopic == cfg.Topic {
		return nil, fmt.Errorf("kafkabus: consumer: DLQTopic %q is the consumed topic", cfg.DLQTopic)
	}
	if cfg.HandlerTimeout <= 0 {
		cfg.HandlerTimeout = defaultHandlerTimeout
	}
	p = p.OrNoop()
	return &Consumer{
		cfg:    cfg,
		db:     db,
		handle: h,
		p:      p,
		tracer: tracer(p),
		log: p.Logger.With(slog.String("component", "kafkabus.consumer"),
			slog.String("topic", cfg.Topic), slog.String("consumer_group", cfg.GroupID)),
		consumed: counter(p, "messaging.client.consumed.messages", "{message}",
			"Records the consumer finished with, by outcome (processed, duplicate, dead_lettered)."),
		duration: histogram(p, "messaging.process.duration", "s",
			"Time from receiving a record to finishing with it, retries included.",
			0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
		now: time.Now,
	}, nil
}

// Run consumes until ctx is canceled, then returns nil. Broker and database
// failures are logged and retried, not returned: a consumer that gave up
// would only stall its partitions until someone restarts it. Call Run once.
//
// For each record, in partition order: the handler runs in a transaction
// together with the insert of (group, ce_id) into the inbox table; a record
// whose ce_id is already there is skipped (its effect was applied before).
// Only after that transaction committed is the record's offset committed,
// synchronously. A crash in between therefore means a redelivery, which the
// inbox turns into a no-op: effectively once, on top of Kafka's at least
// once. A record without a valid ce_id is dead-lettered without running the
// handler.
//
// On cancellation Run stops fetching, lets the attempt in flight finish and
// commits its offset, but starts no new retry: a record interrupted between
// attempts stays uncommitted and is redelivered to the group.
func (c *Consumer) Run(ctx context.Context) error {
	if c.started.Swap(true) {
		return errors.New("kafkabus: consumer: Run called twice")
	}
	dlq := c.cfg.DLQ
	if dlq == nil {
		pr := NewProducer(c.cfg.Brokers, c.p)
		defer c.closeLogged("dead-letter producer", pr.Close)
		dlq = pr
	}
	r := kafka.NewReader(c.readerConfig())
	defer c.closeLogged("reader", r.Close)

	c.log.InfoContext(ctx, "consumer started")
	defer c.log.InfoContext(ctx, "consumer stopped")

	c.purge(ctx)
	lastPurge := c.now()
	fetchBackoff := c.cfg.Backoff.Schedule()
	for {
		km, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// kafka-go retries broker errors inside FetchMessage; what
			// reaches us is unusual enough to log, and not fatal.
			c.log.WarnContext(ctx, "fetch failed", slog.Any("error", err))
			if sleep(ctx, fetchBackoff.NextBackOff()) != nil {
				return nil
			}
			continue
		}
		fetchBackoff.Reset()

		if !c.process(ctx, fromKafka(km), dlq) {
			return nil // shut down between attempts; the record stays uncommitted
		}
		if c.beforeCommit != nil {
			if err := c.beforeCommit(fromKafka(km)); err != nil {
				return err
			}
		}
		c.commit(ctx, r, km)

		if c.now().Sub(lastPurge) >= purgeInterval {
			c.purge(ctx)
			lastPurge = c.now()
		}
	}
}

func (c *Consumer) readerConfig() kafka.ReaderConfig {
	start := kafka.FirstOffset
	if c.cfg.StartAtNewest {
		start = kafka.LastOffset
	}
	return kafka.ReaderConfig{
		Brokers: c.cfg.Brokers,
		GroupID: c.cfg.GroupID,
		Topic:   c.cfg.Topic,
		// Zero makes CommitMessages synchronous: it returns the broker's
		// answer. A background flush every interval would be correct too
		// (the inbox absorbs the redeliveries a lost flush causes), but
		// then a clean shutdown could not promise "the record in flight is
		// committed", and commit failures would go unseen.
		CommitInterval: 0,
		StartOffset:    start,
		MinBytes:       1,
		MaxBytes:       10 << 20,
		// The broker holds an empty fetch up to MaxWait and answers as soon
		// as a record arrives, so this bounds idle polling, not latency.
		MaxWait: 500 * time.Millisecond,
		// A new partition (an operator scaled the topic) must get a
		// consumer without a restart.
		WatchPartitionChanges: true,
		// kafka-go's 30 s defaults mean a member that vanished (a killed
		// pod, a broker restart) holds its partitions for half a minute
		// before the group rebalances without it. 10 s is well inside the
		// broker's default group.min.session.timeout.ms (6 s) and long
		// enough for the heartbeat (3 s) to survive a GC pause.
		SessionTimeout:   10 * time.Second,
		RebalanceTimeout: 10 * time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			c.log.Debug(fmt.Sprintf(msg, args...))
		}),
	}
}

// process takes a record to a final outcome: applied, skipped as a
// duplicate, or dead-lettered. It returns false if shutdown interrupted it
// before that, in which case its offset must not be committed.
func (c *Consumer) process(ctx context.Context, m Message, dlq Publisher) bool {
	start := c.now()
	// The record in flight finishes even when shutdown begins: detach it
	// from ctx's cancellation (keeping its values). Only the waits between
	// attempts watch ctx.
	work := context.WithoutCancel(ctx)
	// The producer's span context is both the parent and a link. The
	// messaging conventions model producer-to-consumer as a link only, the
	// consumer starting a trace of its own: right for a batch, whose one
	// span processes records from many traces. This span processes one
	// record, so it can have the producer as its parent as well, and then
	// one request is one trace in Jaeger, from the HTTP call through the
	// outbox relay to this handler. The link keeps the relation for tools
	// that follow the convention.
	work = c.p.Propagator.Extract(work, Carrier(&m.Headers))
	work, span := c.tracer.Start(work, opProcess+" "+m.Topic, c.processSpanOptions(work, m)...)
	defer span.End()

	outcome := c.deliver(ctx, work, span, m, dlq)
	span.SetAttributes(attribute.String("vidstream.consumer.outcome", outcome))
	if outcome == outcomeInterrupted {
		return false
	}
	attrs := metric.WithAttributes(semconv.MessagingSystemKafka,
		semconv.MessagingDestinationName(m.Topic),
		semconv.MessagingConsumerGroupName(c.cfg.GroupID),
		semconv.MessagingOperationTypeProcess,
		attribute.String("vidstream.consumer.outcome", outcome))
	c.consumed.Add(work, 1, attrs)
	c.duration.Record(work, c.now().Sub(start).Seconds(), attrs)
	return true
}

const (
	outcomeProcessed    = "processed"
	outcomeDuplicate    = "duplicate"
	outcomeSkipped      = "skipped"
	outcomeDeadLettered = "dead_lettered"
	outcomeInterrupted  = "interrupted"
)

func (c *Consumer) deliver(ctx, work context.Context, span trace.Span, m Message, dlq Publisher) string {
	log := c.log.With(slog.Int("partition", m.Partition), slog.Int64("offset", m.Offset), slog.String("ce_id", m.ID()))

	id, err := eventID(m)
	if err != nil {
		return c.deadLetter(ctx, work, span, m, dlq, Permanent(err), 0)
	}

	retry := c.cfg.Backoff.Schedule()
	for attempt := 1; ; attempt++ {
		duplicate, err := c.attempt(work, m, id)
		if err == nil {
			if duplicate {
				log.DebugContext(work, "skipped duplicate event")
				return outcomeDuplicate
			}
			return outcomeProcessed
		}
		if IsSkipped(err) {
			log.InfoContext(work, "event skipped", slog.String("ce_type", m.Type()), slog.Any("reason", err))
			span.AddEvent("skipped", trace.WithAttributes(attribute.String("error.message", err.Error())))
			return outcomeSkipped
		}
		if IsPermanent(err) || attempt >= c.cfg.MaxAttempts {
			return c.deadLetter(ctx, work, span, m, dlq, err, attempt)
		}
		wait := retry.NextBackOff()
		span.AddEvent("retry", trace.WithAttributes(
			attribute.Int("vidstream.consumer.attempt", attempt),
			attribute.String("error.message", err.Error()),
			attribute.Float64("vidstream.consumer.backoff_seconds", wait.Seconds())))
		log.WarnContext(work, "event handler failed, retrying",
			slog.Int("attempt", attempt), slog.Duration("backoff", wait), slog.Any("error", err))
		if sleep(ctx, wait) != nil {
			span.SetStatus(codes.Error, "shutdown before the event was handled")
			return outcomeInterrupted
		}
	}
}

// attempt runs the handler once, in a transaction with the inbox record.
func (c *Consumer) attempt(ctx context.Context, m Message, id string) (duplicate bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandlerTimeout)
	defer cancel()
	defer func() {
		// A handler that panics on some input would otherwise crash the
		// service on every redelivery of that record. As an error, it is
		// retried and then dead-lettered like any other failure.
		if r := recover(); r != nil {
			c.log.ErrorContext(ctx, "event handler panicked", slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	err = c.db.InTx(ctx, func(tx *sql.Tx) error {
		// InTx may run this more than once (serialization retries).
		duplicate = false
		fresh, err := recordProcessed(ctx, tx, c.cfg.GroupID, m.Topic, id, c.now())
		if err != nil {
			return err
		}
		if !fresh {
			duplicate = true
			return nil
		}
		return c.handle(ctx, tx, m)
	})
	return duplicate, err
}

// deadLetter copies m to the dead-letter topic, retrying until the broker
// takes it (losing it is not an option), and reports the outcome.
func (c *Consumer) deadLetter(ctx, work context.Context, span trace.Span, m Message, dlq Publisher, cause error, attempts int) string {
	span.RecordError(cause)
	span.SetStatus(codes.Error, "dead-lettered")
	c.log.ErrorContext(work, "event dead-lettered",
		slog.String("dlq_topic", c.cfg.DLQTopic), slog.Int("partition", m.Partition), slog.Int64("offset", m.Offset),
		slog.String("ce_id", m.ID()), slog.Int("attempts", attempts), slog.Bool("permanent", IsPermanent(cause)),
		slog.Any("error", cause))

	rec := c.dlqRecord(m, cause, attempts)
	retry := c.cfg.Backoff.Schedule()
	for {
		err := c.publishDLQ(work, dlq, rec)
		if err == nil {
			return outcomeDeadLettered
		}
		wait := retry.NextBackOff()
		c.log.WarnContext(work, "dead-letter publish failed, retrying", slog.Duration("backoff", wait), slog.Any("error", err))
		if sleep(ctx, wait) != nil {
			return outcomeInterrupted
		}
	}
}

func (c *Consumer) publishDLQ(ctx context.Context, dlq Publisher, rec kafka.Message) error {
	ctx, cancel := context.WithTimeout(ctx, dlqPublishTimeout)
	defer cancel()
	ctx, span := StartSendSpan(ctx, c.tracer, rec)
	defer span.End()
	if err := dlq.Publish(ctx, rec); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
		return err
	}
	return nil
}

// dlqRecord is m with its key, value and headers unchanged (including the
// original traceparent, which ties it to the trace that produced the event)
// plus x-dlq-* headers describing the failure. Stale x-dlq-* headers from an
// earlier dead-lettering (a replayed record that failed again) are replaced.
func (c *Consumer) dlqRecord(m Message, cause error, attempts int) kafka.Message {
	headers := make([]kafka.Header, 0, len(m.Headers)+8)
	for _, h := range m.Headers {
		if len(h.Key) < len(dlqHeaderPrefix) || h.Key[:len(dlqHeaderPrefix)] != dlqHeaderPrefix {
			headers = append(headers, h)
		}
	}
	msg := cause.Error()
	if len(msg) > maxDLQErrorLen {
		msg = msg[:maxDLQErrorLen]
	}
	add := func(k, v string) { headers = append(headers, kafka.Header{Key: k, Value: []byte(v)}) }
	add(HeaderDLQError, msg)
	add(HeaderDLQAttempts, strconv.Itoa(attempts))
	add(HeaderDLQPermanent, strconv.FormatBool(IsPermanent(cause)))
	add(HeaderDLQOriginalTopic, m.Topic)
	add(HeaderDLQOriginalPartition, strconv.Itoa(m.Partition))
	add(HeaderDLQOriginalOffset, strconv.FormatInt(m.Offset, 10))
	add(HeaderDLQConsumerGroup, c.cfg.GroupID)
	add(HeaderDLQFailedAt, c.now().UTC().Format(time.RFC3339Nano))
	return kafka.Message{Topic: c.cfg.DLQTopic, Key: m.Key, Value: m.Value, Headers: headers}
}

// commit commits km's offset. A failure (typically: the group rebalanced and
// the partition moved) is logged, not fatal: the record will be delivered
// again, to this or another member, and skipped there as a duplicate.
func (c *Consumer) commit(ctx context.Context, r *kafka.Reader, km kafka.Message) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := r.CommitMessages(cctx, km); err != nil {
		c.log.WarnContext(ctx, "commit offset failed; the record will be redelivered and skipped",
			slog.Int("partition", km.Partition), slog.Int64("offset", km.Offset), slog.Any("error", err))
	}
}

// purge forgets processed events older than any redelivery can be, so the
// inbox table does not grow forever.
func (c *Consumer) purge(ctx context.Context) {
	n, err := purgeProcessed(ctx, c.db, c.cfg.GroupID, c.now().Add(-inboxRetention))
	if err != nil {
		if ctx.Err() == nil {
			c.log.WarnContext(ctx, "purge processed events failed", slog.Any("error", err))
		}
		return
	}
	if n > 0 {
		c.log.InfoContext(ctx, "purged processed events", slog.Int64("rows", n))
	}
}

// processSpanOptions returns the options of m's CONSUMER span; ctx holds the
// producer's span context extracted from m.
func (c *Consumer) processSpanOptions(ctx context.Context, m Message) []trace.SpanStartOption {
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			semconv.MessagingSystemKafka,
			semconv.MessagingDestinationName(m.Topic),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName(opProcess),
			semconv.MessagingConsumerGroupName(c.cfg.GroupID),
			semconv.MessagingKafkaMessageKey(string(m.Key)),
			semconv.MessagingKafkaOffset(int(m.Offset)),
			semconv.MessagingDestinationPartitionID(strconv.Itoa(m.Partition)),
			semconv.MessagingMessageID(m.ID()),
			semconv.MessagingMessageBodySize(len(m.Value)),
		),
	}
	if producer := trace.SpanContextFromContext(ctx); producer.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: producer}))
	}
	return opts
}

// eventID returns m's ce_id in canonical form, so that "ABC..." and
// "abc..." are one event in the inbox.
func eventID(m Message) (string, error) {
	raw, ok := m.Header(HeaderID)
	if !ok {
		return "", errors.New("record has no ce_id header")
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("record's ce_id %q is not a UUID: %w", raw, err)
	}
	return id.String(), nil
}

func (c *Consumer) closeLogged(what string, closeFn func() error) {
	if err := closeFn(); err != nil {
		c.log.Warn("close "+what, slog.Any("error", err))
	}
}
