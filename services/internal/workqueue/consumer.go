package workqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// Handler does one job. Return nil when it is done, Permanent(err) when
// retrying cannot help (the job goes to the dead-letter queue at once), and
// any other error to have it retried after the retry delay.
//
// A job is delivered at least once: after a worker crash or a lost
// connection it comes again, with Redelivered set, possibly after its work
// was done. Make the work, or its effect, idempotent (key it on m.ID or on
// the aggregate). ctx is not canceled by the consumer's shutdown: a job in
// flight is finished, within ConsumerConfig.HandlerTimeout.
type Handler func(ctx context.Context, m Message) error

// ConsumerConfig configures a Consumer. URL and Topology.Queue are
// required.
type ConsumerConfig struct {
	URL      string
	Topology Topology
	// Prefetch is how many unacknowledged jobs the broker hands this
	// consumer at once, and so how many run concurrently (default 1).
	Prefetch int
	// MaxAttempts is how often a job is tried before it is dead-lettered
	// (default 5).
	MaxAttempts int
	// HandlerTimeout bounds one attempt (default 5 min). It also bounds
	// how long shutdown waits for the jobs in flight.
	HandlerTimeout time.Duration
	// Reconnect spaces connection attempts after the broker was lost
	// (default 100 ms doubling to 5 s, jittered).
	ReconnectInitial, ReconnectMax time.Duration
	// Name names the connection in the broker (default "vidstream
	// consumer <queue>").
	Name string
}

const (
	defaultMaxAttempts    = 5
	defaultPrefetch       = 1
	defaultHandlerTimeout = 5 * time.Minute
	// republishTimeout bounds waiting for the confirm of a retry or
	// dead-letter copy; past it the original stays unacknowledged and
	// comes back.
	republishTimeout = 30 * time.Second
)

// Consumer works off one queue. See Run.
type Consumer struct {
	cfg    ConsumerConfig
	handle Handler
	p      telemetry.Providers
	tracer trace.Tracer
	log    *slog.Logger

	consumed metric.Int64Counter
	started  atomic.Bool
	now      func() time.Time
}

// NewConsumer validates cfg and returns a Consumer; it connects to nothing
// until Run.
func NewConsumer(cfg ConsumerConfig, h Handler, p telemetry.Providers) (*Consumer, error) {
	switch {
	case cfg.URL == "":
		return nil, errors.New("workqueue: consumer: empty URL")
	case cfg.Topology.Queue == "":
		return nil, errors.New("workqueue: consumer: empty queue")
	case h == nil:
		return nil, errors.New("workqueue: consumer: nil handler")
	}
	cfg.Topology = cfg.Topology.withDefaults()
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = defaultPrefetch
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = defaultMaxAttempts
	}
	if cfg.HandlerTimeout <= 0 {
		cfg.HandlerTimeout = defaultHandlerTimeout
	}
	if cfg.ReconnectInitial <= 0 {
		cfg.ReconnectInitial = 100 * time.Millisecond
	}
	if cfg.ReconnectMax < cfg.ReconnectInitial {
		cfg.ReconnectMax = max(5*time.Second, cfg.ReconnectInitial)
	}
	if cfg.Name == "" {
		cfg.Name = "vidstream consumer " + cfg.Topology.Queue
	}
	p = p.OrNoop()
	return &Consumer{
		cfg:    cfg,
		handle: h,
		p:      p,
		tracer: p.Tracer.Tracer(instrumentationName),
		log: p.Logger.With(slog.String("component", "workqueue.consumer"),
			slog.String("queue", cfg.Topology.Queue)),
		consumed: counter(p, "messaging.client.consumed.messages",
			"Deliveries the consumer settled, by outcome (acked, retried, dead_lettered, requeued)."),
		now: time.Now,
	}, nil
}

// Outcomes of a delivery, on the process span and the consumed counter.
const (
	outcomeAcked        = "acked"
	outcomeRetried      = "retried"
	outcomeDeadLettered = "dead_lettered"
	// The delivery went back to the queue unacknowledged: republishing
	// its retry or dead-letter copy failed, or the connection was lost.
	outcomeRequeued = "requeued"
)

// Run consumes until ctx is canceled, then returns nil. It declares the
// topology, and when the connection is lost (a broker restart, a cut
// network) it reconnects with jittered exponential backoff, for as long as
// it takes: broker failures are logged, never returned. Call Run once.
//
// On cancellation Run cancels its subscription, so the broker sends no more
// jobs, hands back (requeues) any delivered but not yet started, waits for
// the jobs in flight to finish and be settled, and then returns.
func (c *Consumer) Run(ctx context.Context) error {
	if c.started.Swap(true) {
		return errors.New("workqueue: consumer: Run called twice")
	}
	c.log.InfoContext(ctx, "consumer started")
	defer c.log.InfoContext(ctx, "consumer stopped")
	retry := &backoff.ExponentialBackOff{
		InitialInterval:     c.cfg.ReconnectInitial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         c.cfg.ReconnectMax,
	}
	retry.Reset()
	for {
		err := c.session(ctx, retry.Reset)
		if ctx.Err() != nil {
			return nil
		}
		wait := retry.NextBackOff()
		c.log.WarnContext(ctx, "RabbitMQ connection lost; reconnecting", slog.Duration("backoff", wait), slog.Any("error", err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// session connects, subscribes and dispatches deliveries until ctx is
// canceled (it then drains and returns nil) or the connection fails (it
// returns why, once the jobs in flight have finished). connected is called
// once the subscription stands.
func (c *Consumer) session(ctx context.Context, connected func()) error {
	conn, err := dial(c.cfg.URL, c.cfg.Name)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("workqueue: open channel: %w", err)
	}
	if err := Declare(ch, c.cfg.Topology); err != nil {
		return err
	}
	// Per consumer (global=false): the broker hands this subscription at
	// most Prefetch unacknowledged jobs, so a slow worker holds no more
	// than it works on and the rest go to its peers.
	if err := ch.Qos(c.cfg.Prefetch, 0, false); err != nil {
		return fmt.Errorf("workqueue: set prefetch: %w", err)
	}
	// Retry and dead-letter copies go out on a channel of their own in
	// confirm mode; the consuming channel stays free of confirm traffic.
	pubCh, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("workqueue: open publish channel: %w", err)
	}
	if err := pubCh.Confirm(false); err != nil {
		return fmt.Errorf("workqueue: confirm mode: %w", err)
	}
	// A channel can close on its own (a channel error) while the
	// connection stays up; without its publish channel no failed job can
	// be moved, so either one closing ends the session.
	pubClosed := pubCh.NotifyClose(make(chan *amqp.Error, 1))
	tag := "vidstream-" + strconv.FormatInt(c.now().UnixNano(), 36)
	deliveries, err := ch.Consume(c.cfg.Topology.Queue, tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("workqueue: consume %s: %w", c.cfg.Topology.Queue, err)
	}
	connected()
	c.log.InfoContext(ctx, "subscribed", slog.Int("prefetch", c.cfg.Prefetch))

	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	for {
		select {
		case <-ctx.Done():
			c.drain(ch, tag, deliveries)
			return nil
		case err := <-closed:
			if err == nil {
				return errors.New("workqueue: connection closed")
			}
			return fmt.Errorf("workqueue: connection closed: %w", err)
		case err := <-pubClosed:
			if err == nil {
				return errors.New("workqueue: publish channel closed")
			}
			return fmt.Errorf("workqueue: publish channel closed: %w", err)
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("workqueue: delivery channel closed (channel or connection lost)")
			}
			inFlight.Go(func() { c.process(ctx, pubCh, d) })
		}
	}
}

// drain stops the subscription and requeues what the broker delivered but
// no worker has started; the caller then waits for the jobs in flight.
func (c *Consumer) drain(ch *amqp.Channel, tag string, deliveries <-chan amqp.Delivery) {
	// Cancel waits for the broker's cancel-ok, after which it sends no more
	// deliveries, and closes the deliveries channel.
	if err := ch.Cancel(tag, false); err != nil {
		c.log.Warn("cancel subscription", slog.Any("error", err))
		return // the channel is gone: the broker requeues everything unacked
	}
	for d := range deliveries {
		if err := d.Nack(false, true); err != nil {
			c.log.Warn("requeue a delivery not started", slog.Any("error", err))
		}
	}
}

// process runs the handler for one delivery under a CONSUMER span and
// settles the delivery.
func (c *Consumer) process(ctx context.Context, pubCh *amqp.Channel, d amqp.Delivery) {
	m := fromDelivery(c.cfg.Topology.Queue, d)
	// The job in flight finishes even when shutdown begins: detach it from
	// ctx's cancellation, keeping its values.
	work := context.WithoutCancel(ctx)
	// The producer's span is the parent and a link, as in kafkabus: one
	// span per job, so it can be a child and one job is one trace; the
	// link is what the messaging conventions ask for.
	work = c.p.Propagator.Extract(work, headerCarrier(m.Headers))
	work, span := c.tracer.Start(work, opProcess+" "+m.Queue, c.spanOptions(work, m, d)...)
	defer span.End()

	err := m.validate()
	if err == nil {
		err = c.call(work, m)
	}
	outcome := c.settle(work, pubCh, d, m, err)
	span.SetAttributes(attribute.String(attrOutcome, outcome))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "job failed")
	}
	c.consumed.Add(work, 1, metric.WithAttributes(semconv.MessagingSystemRabbitMQ,
		semconv.MessagingDestinationName(m.Queue), semconv.MessagingOperationTypeProcess,
		attribute.String(attrOutcome, outcome)))
}

// call runs the handler once, bounded by HandlerTimeout, a panic turned
// into an error: a handler that panics on some job would otherwise crash
// the worker on every redelivery of it.
func (c *Consumer) call(ctx context.Context, m Message) (err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandlerTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			c.log.ErrorContext(ctx, "job handler panicked", slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return c.handle(ctx, m)
}

// settle acknowledges d once its fate is recorded on the broker. A failed
// job is first republished (confirmed) to the retry queue with its attempt
// raised, or to the dead-letter queue, and acknowledged only then: a crash
// in between leaves two copies (one redelivered), never none.
func (c *Consumer) settle(ctx context.Context, pubCh *amqp.Channel, d amqp.Delivery, m Message, jobErr error) string {
	log := c.log.With(slog.String("message_id", m.ID), slog.String("key", m.Key), slog.Int("attempt", m.Attempt))
	outcome := outcomeAcked
	if jobErr != nil {
		var target string
		var copyOf amqp.Publishing
		if IsPermanent(jobErr) || m.Attempt >= c.cfg.MaxAttempts {
			outcome, target = outcomeDeadLettered, c.cfg.Topology.DLQ()
			msg := jobErr.Error()
			if len(msg) > maxErrorLen {
				msg = msg[:maxErrorLen]
			}
			copyOf = republish(d, m.Attempt, map[string]string{
				HeaderError:         msg,
				HeaderPermanent:     strconv.FormatBool(IsPermanent(jobErr)),
				HeaderFailedAt:      c.now().UTC().Format(time.RFC3339Nano),
				HeaderOriginalQueue: m.Queue,
			})
			log.ErrorContext(ctx, "job dead-lettered", slog.Bool("permanent", IsPermanent(jobErr)), slog.Any("error", jobErr))
		} else {
			outcome, target = outcomeRetried, c.cfg.Topology.RetryQueue()
			copyOf = republish(d, m.Attempt+1, nil)
			log.WarnContext(ctx, "job failed; retrying after the delay",
				slog.Duration("delay", c.cfg.Topology.RetryDelay), slog.Any("error", jobErr))
		}
		if err := c.republish(ctx, pubCh, target, copyOf); err != nil {
			log.WarnContext(ctx, "could not move the failed job; it goes back to the queue", slog.String("to", target), slog.Any("error", err))
			if err := d.Nack(false, true); err != nil {
				log.WarnContext(ctx, "requeue failed; the broker requeues it when the channel closes", slog.Any("error", err))
			}
			return outcomeRequeued
		}
	}
	if err := d.Ack(false); err != nil {
		// The channel is gone, and with it the delivery: the broker
		// requeues it and the job runs again.
		log.WarnContext(ctx, "ack failed; the job will be redelivered", slog.Any("error", err))
		return outcomeRequeued
	}
	return outcome
}

// republish publishes a copy of a failed job to queue and waits for the
// broker's confirm, under a PRODUCER span of its own.
func (c *Consumer) republish(ctx context.Context, ch *amqp.Channel, queue string, pub amqp.Publishing) error {
	ctx, cancel := context.WithTimeout(ctx, republishTimeout)
	defer cancel()
	_, span := c.tracer.Start(ctx, opSend+" "+queue, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		semconv.MessagingSystemRabbitMQ,
		semconv.MessagingOperationName(opSend),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingDestinationName(queue),
		semconv.MessagingRabbitMQDestinationRoutingKey(queue),
		semconv.MessagingMessageID(pub.MessageId),
		semconv.MessagingMessageBodySize(len(pub.Body)),
	))
	defer span.End()
	err := func() error {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, pub)
		if err != nil {
			return fmt.Errorf("workqueue: publish to %s: %w", queue, err)
		}
		acked, err := dc.WaitContext(ctx)
		switch {
		case err != nil:
			return fmt.Errorf("workqueue: wait for confirm from %s: %w", queue, err)
		case !acked && ch.IsClosed():
			return ErrChannelClosed
		case !acked:
			return ErrNacked
		}
		return nil
	}()
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
	}
	return err
}

func (c *Consumer) spanOptions(ctx context.Context, m Message, d amqp.Delivery) []trace.SpanStartOption {
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemRabbitMQ,
		semconv.MessagingDestinationName(m.Queue),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingOperationName(opProcess),
		semconv.MessagingMessageBodySize(len(m.Body)),
		semconv.MessagingRabbitMQMessageDeliveryTag(int(d.DeliveryTag)),
		attribute.Int(attrAttempt, m.Attempt),
		attribute.Bool("vidstream.workqueue.redelivered", m.Redelivered),
	}
	if m.ID != "" {
		attrs = append(attrs, semconv.MessagingMessageID(m.ID))
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
	if producer := trace.SpanContextFromContext(ctx); producer.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: producer}))
	}
	return opts
}
