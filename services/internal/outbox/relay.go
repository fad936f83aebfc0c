package outbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/workqueue"
)

const instrumentationName = "github.com/vidstream/vidstream/services/internal/outbox"

// RelayOptions tunes a Relay. The zero value is a sensible production setup.
type RelayOptions struct {
	// PollInterval is how long an idle relay waits before looking for new
	// rows again (default 500 ms). Wake cuts the wait short.
	PollInterval time.Duration
	// BatchSize caps the rows published per pass (default 100). Values
	// above kafkabus.DefaultBatchSize, the producer's per-request limit, are
	// lowered to it: see Relay for why.
	BatchSize int
	// LanesPerPass caps the lanes one pass claims on PostgreSQL (default 8
	// of 64), which leaves lanes for other replicas to work on at the same
	// time.
	LanesPerPass int
	// Backoff spaces passes after a failure (default 100 ms doubling to
	// 10 s): a broker outage costs one attempt per interval, not a hot loop.
	Backoff kafkabus.Backoff
	// PublishTimeout bounds one batch's publish (default 15 s). On
	// PostgreSQL the claiming transaction stays open that long at most.
	PublishTimeout time.Duration
	// Wake, if set, starts a pass at once when signaled; pass
	// Outbox.Wakeups().
	Wake <-chan struct{}
}

const (
	defaultPollInterval   = 500 * time.Millisecond
	defaultBatchSize      = 100
	defaultLanesPerPass   = 8
	defaultPublishTimeout = 15 * time.Second
	// maxBatchBytes keeps a batch's records for one partition within one
	// produce request (kafkabus.DefaultBatchBytes is twice this); see Relay.
	maxBatchBytes = 512 << 10
	// laneLockSpace is the first key of the two-key advisory locks on lanes
	// ("obox"); the two-int4 key space is distinct from goose's one-int8
	// migration lock.
	laneLockSpace = 0x6f626f78
	// jobLaneLockSpace is the job relay's: its lanes are locked
	// independently of the Kafka relay's, so one never waits for the other.
	jobLaneLockSpace = laneLockSpace + 1
)

// Relay publishes the outbox's rows to Kafka and deletes each row once the
// broker acknowledged it (acks=all). When publishing fails (Kafka down, topic
// missing) the rows stay, and the relay retries with capped exponential
// backoff, for as long as it takes.
//
// # Order
//
// Events of one key must reach Kafka in the order they were committed. Rows
// are published by ascending seq within a batch, one produce request per
// partition, and a batch's rows are deleted before the next batch of their
// key can be claimed. BatchSize and the batch byte bound keep a partition's
// share of a batch within one produce request of the producer, so the broker
// takes it all or none of it: a batch can never land a later event of a key
// while an earlier one failed.
//
// Several replicas may run a relay against one PostgreSQL database. Claiming
// rows with SELECT ... FOR UPDATE SKIP LOCKED alone would not keep the order:
// while replica A holds the oldest rows, replica B skips them and may claim
// and publish a later row of the same key before A publishes (or after A
// failed to publish) the earlier one. So each key hashes to one of 64 lanes
// (stored with the row), and a pass first takes transaction-scoped advisory
// locks (pg_try_advisory_xact_lock) on up to LanesPerPass lanes, those with
// the oldest pending rows that no other replica holds, and then claims rows
// of those lanes only. Only the lock holder publishes a lane's rows; it
// deletes them in the same transaction, so the next holder starts after
// them. The locks die with the transaction, so a crashed replica never
// blocks a lane for longer than PostgreSQL takes to notice the connection is
// gone. FOR UPDATE SKIP LOCKED stays as a row-level guard against anything
// else touching a claimed row.
//
// On SQLite a single relay is assumed (one process owns the file), and rows
// are read, published and then deleted in a short transaction: holding
// SQLite's only write lock during a publish would stall every request of the
// service while Kafka is slow or down.
type Relay struct {
	db   *database.DB
	snd  sender
	p    telemetry.Providers
	opts RelayOptions
	// dest is the destination whose rows this relay publishes ("kafka" or
	// "amqp"), and lockSpace the advisory-lock space of its lanes: the
	// relays of the two destinations never wait for each other.
	dest      string
	lockSpace int

	tracer trace.Tracer
	meter  metric.Meter
	log    *slog.Logger
	// propagationFields are the headers the propagator owns (traceparent,
	// tracestate, baggage): the stored ones describe the enqueuing request
	// and are replaced by the send span's.
	propagationFields map[string]bool

	published metric.Int64Counter
	errors    metric.Int64Counter
	lag       metric.Float64Histogram
	now       func() time.Time
}

// NewRelay returns a Relay publishing db's outbox events (Event.Topic) to
// Kafka through pub, typically a kafkabus.Producer. Run it once per process.
func NewRelay(db *database.DB, pub kafkabus.Publisher, p telemetry.Providers, opts RelayOptions) *Relay {
	r := newRelay(db, destinationKafka, laneLockSpace, p, opts)
	r.snd = kafkaSender{r: r, pub: pub}
	return r
}

// JobPublisher sends jobs to RabbitMQ work queues and returns once the
// broker confirmed every one of them, or with an error; when it can tell
// which messages failed, the error is (or wraps) a
// workqueue.PublishErrors with one entry per message. workqueue.Publisher
// is the production one.
type JobPublisher interface {
	Publish(ctx context.Context, msgs ...workqueue.Message) error
}

// NewJobRelay returns a Relay sending db's outbox jobs (Event.Queue) to
// RabbitMQ through pub, typically a workqueue.Publisher. It works exactly
// as the Kafka relay does, on the jobs' rows only, with one difference in
// keeping order: a work queue has no all-or-nothing batch, so when a job of
// a key is not confirmed, the key's later jobs of the batch stay in the
// outbox too (even if the broker took them) and are sent again after it.
// Run one per process, next to the Kafka relay.
func NewJobRelay(db *database.DB, pub JobPublisher, p telemetry.Providers, opts RelayOptions) *Relay {
	r := newRelay(db, destinationAMQP, jobLaneLockSpace, p, opts)
	r.snd = amqpSender{r: r, pub: pub}
	return r
}

func newRelay(db *database.DB, dest string, lockSpace int, p telemetry.Providers, opts RelayOptions) *Relay {
	p = p.OrNoop()
	if opts.PollInterval <= 0 {
		opts.PollInterval = defaultPollInterval
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = defaultBatchSize
	}
	opts.BatchSize = min(opts.BatchSize, kafkabus.DefaultBatchSize)
	if opts.LanesPerPass <= 0 {
		opts.LanesPerPass = defaultLanesPerPass
	}
	opts.LanesPerPass = min(opts.LanesPerPass, lanes)
	opts.Backoff = opts.Backoff.Or(kafkabus.Backoff{Initial: 100 * time.Millisecond, Max: 10 * time.Second})
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = defaultPublishTimeout
	}
	r := &Relay{
		db:                db,
		p:                 p,
		opts:              opts,
		dest:              dest,
		lockSpace:         lockSpace,
		tracer:            p.Tracer.Tracer(instrumentationName),
		meter:             p.Meter.Meter(instrumentationName),
		log:               p.Logger.With(slog.String("component", "outbox.relay"), slog.String("destination", dest)),
		propagationFields: make(map[string]bool),
		now:               time.Now,
	}
	for _, f := range p.Propagator.Fields() {
		r.propagationFields[strings.ToLower(f)] = true
	}
	r.published = r.counter("outbox.events.published", "Events published to Kafka (or jobs to RabbitMQ) and removed from the outbox.")
	r.errors = r.counter("outbox.publish.errors", "Events whose publish attempt failed (they stay in the outbox and are retried).")
	lag, err := r.meter.Float64Histogram("outbox.publish.lag",
		metric.WithUnit("s"),
		metric.WithDescription("Time from an event's enqueue to the broker's acknowledgement."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900))
	if err != nil {
		r.log.Error("create metric instrument", slog.Any("error", err))
		lag = noopmetric.Float64Histogram{}
	}
	r.lag = lag
	return r
}

// Run relays until ctx is canceled, then returns nil. A pass that publishes
// something is followed at once by the next; an idle relay waits
// PollInterval or a Wake signal; a failed pass backs off. Errors are logged
// and counted, never returned: the relay's job is to keep trying.
func (r *Relay) Run(ctx context.Context) error {
	reg, err := r.registerBacklogGauge()
	if err != nil {
		r.log.ErrorContext(ctx, "register outbox backlog gauge", slog.Any("error", err))
	} else {
		defer func() {
			if err := reg.Unregister(); err != nil {
				r.log.WarnContext(ctx, "unregister outbox backlog gauge", slog.Any("error", err))
			}
		}()
	}

	retry := r.opts.Backoff.Schedule()
	failing := false
	idle := time.NewTimer(r.opts.PollInterval)
	defer idle.Stop()
	for {
		n, err := r.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		switch {
		case err != nil:
			wait = retry.NextBackOff()
			failing = true
			r.log.WarnContext(ctx, "outbox relay pass failed; retrying", slog.Int("published", n),
				slog.Duration("backoff", wait), slog.Any("error", err))
		case n > 0:
			if failing {
				r.log.InfoContext(ctx, "outbox relay publishing again")
				failing = false
			}
			retry.Reset()
			continue
		default:
			retry.Reset()
			wait = r.opts.PollInterval
		}

		idle.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-idle.C:
		case <-r.opts.Wake:
			// During backoff a commit must not defeat the backoff: a
			// busy service would otherwise hammer a broker that is down.
			if err != nil {
				select {
				case <-ctx.Done():
					return nil
				case <-idle.C:
				}
			}
		}
	}
}

// RunOnce publishes at most one batch and reports how many events it
// published. Run calls it in a loop; it is exported for tests and tools that
// need to drain the outbox deterministically.
func (r *Relay) RunOnce(ctx context.Context) (int, error) {
	ctx = unsampled(ctx)
	if r.db.Dialect == database.Postgres {
		return r.passPostgres(ctx)
	}
	return r.passSQLite(ctx)
}

type row struct {
	seq       int64
	topic     string
	key       string
	payload   []byte
	headers   map[string]string
	createdAt time.Time
}

func (r *Relay) passPostgres(ctx context.Context) (n int, err error) {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin relay transaction: %w", err)
	}
	defer func() {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			err = errors.Join(err, fmt.Errorf("roll back relay transaction: %w", rbErr))
		}
	}()

	claimed, err := r.claimLanes(ctx, tx)
	if err != nil || len(claimed) == 0 {
		return 0, err
	}
	// This transaction only deletes published rows. If a crash loses its
	// commit, the rows come back and are published again: a duplicate,
	// which consumers absorb, never a loss. So it need not wait for the WAL
	// flush to disk.
	if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		return 0, fmt.Errorf("relay transaction: %w", err)
	}
	args := []any{r.opts.BatchSize, r.dest}
	marks := make([]string, len(claimed))
	for i, l := range claimed {
		args = append(args, l)
		marks[i] = "$" + strconv.Itoa(i+3)
	}
	rows, err := r.query(ctx, tx, `SELECT seq, topic, event_key, payload, headers, created_at
		FROM outbox_events
		WHERE destination = $2 AND lane IN (`+strings.Join(marks, ", ")+`)
		ORDER BY seq
		LIMIT $1
		FOR UPDATE SKIP LOCKED`, args...)
	if err != nil {
		return 0, err
	}
	sent, pubErr := r.publish(ctx, rows)
	if len(sent) == 0 {
		return 0, pubErr
	}
	if err := deleteRows(ctx, tx, sent); err != nil {
		return 0, errors.Join(pubErr, err)
	}
	if err := tx.Commit(); err != nil {
		// The events are in Kafka but their rows are back: they will be
		// published again, which consumers absorb by ce_id.
		return 0, errors.Join(pubErr, fmt.Errorf("commit relay transaction: %w", err))
	}
	r.observePublished(ctx, rows, sent)
	return len(sent), pubErr
}

// claimLanes takes the advisory locks of up to LanesPerPass lanes that have
// pending rows and that no other replica holds, oldest pending row first.
//
// The lock function sits outside the sorted subquery so that it only runs
// for the rows the LIMIT lets through (PostgreSQL evaluates a LIMIT's input
// lazily and does not push volatile functions into a subquery). Were it ever
// evaluated for more, the extra locks would only idle those lanes until
// commit; they never affect which rows are published or in what order.
func (r *Relay) claimLanes(ctx context.Context, tx *sql.Tx) ([]int, error) {
	res, err := tx.QueryContext(ctx, `SELECT pending.lane
		FROM (
			SELECT l.lane, oldest.seq
			FROM generate_series(0, $1 - 1) AS l(lane)
			CROSS JOIN LATERAL (SELECT min(e.seq) AS seq FROM outbox_events e WHERE e.destination = $4 AND e.lane = l.lane) AS oldest
			WHERE oldest.seq IS NOT NULL
			ORDER BY oldest.seq
			OFFSET 0
		) AS pending
		WHERE pg_try_advisory_xact_lock($2, pending.lane)
		LIMIT $3`, lanes, r.lockSpace, r.opts.LanesPerPass, r.dest)
	if err != nil {
		return nil, fmt.Errorf("claim outbox lanes: %w", err)
	}
	defer func() { _ = res.Close() }()
	var claimed []int
	for res.Next() {
		var l int
		if err := res.Scan(&l); err != nil {
			return nil, fmt.Errorf("claim outbox lanes: %w", err)
		}
		claimed = append(claimed, l)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("claim outbox lanes: %w", err)
	}
	return claimed, nil
}

func (r *Relay) passSQLite(ctx context.Context) (int, error) {
	rows, err := r.query(ctx, r.db, `SELECT seq, topic, event_key, payload, headers, created_at
		FROM outbox_events WHERE destination = $2 ORDER BY seq LIMIT $1`, r.opts.BatchSize, r.dest)
	if err != nil {
		return 0, err
	}
	sent, pubErr := r.publish(ctx, rows)
	if len(sent) == 0 {
		return 0, pubErr
	}
	if err := r.db.InTx(ctx, func(tx *sql.Tx) error { return deleteRows(ctx, tx, sent) }); err != nil {
		return 0, errors.Join(pubErr, err)
	}
	r.observePublished(ctx, rows, sent)
	return len(sent), pubErr
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// query reads a batch of rows, cut at maxBatchBytes (but at least one row).
func (r *Relay) query(ctx context.Context, q querier, query string, args ...any) ([]row, error) {
	res, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer func() { _ = res.Close() }()
	var (
		rows  []row
		bytes int
	)
	for res.Next() {
		var (
			rw      row
			headers []byte
		)
		if err := res.Scan(&rw.seq, &rw.topic, &rw.key, &rw.payload, &headers, &rw.createdAt); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		if err := json.Unmarshal(headers, &rw.headers); err != nil {
			// Only Enqueue writes this column; a row it cannot have
			// written is worth stopping for.
			return nil, fmt.Errorf("read outbox: row %d: headers: %w", rw.seq, err)
		}
		size := len(rw.payload) + len(rw.key) + len(headers)
		if len(rows) > 0 && bytes+size > maxBatchBytes {
			break
		}
		bytes += size
		rows = append(rows, rw)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return rows, nil
}

// publish sends rows through the relay's sender, each under a PRODUCER
// span that continues the trace stored in the row, and returns the rows the
// broker acknowledged.
func (r *Relay) publish(ctx context.Context, rows []row) ([]row, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	failed, err := r.snd.send(ctx, rows)
	var (
		sent  []row
		stuck map[string]bool // keys with an unsent row in this batch
	)
	for i, rw := range rows {
		if failed[i] != nil {
			r.errors.Add(ctx, 1, metric.WithAttributes(semconv.MessagingDestinationName(rw.topic)))
			if r.dest == destinationAMQP {
				if stuck == nil {
					stuck = map[string]bool{}
				}
				stuck[rw.key] = true
			}
			continue
		}
		if stuck[rw.key] {
			// Confirmed after an earlier job of its key failed: keep it
			// and send it again after that one, so the last copy the
			// queue gets of the key's jobs is in commit order.
			continue
		}
		sent = append(sent, rw)
	}
	if err != nil {
		return sent, fmt.Errorf("publish %d of %d outbox rows: %w", len(rows)-len(sent), len(rows), err)
	}
	return sent, nil
}

// sender publishes a batch of rows to one destination. It returns one
// entry per row (nil where the broker acknowledged it) and the call's
// error, if any. It starts, and ends, each row's send span.
type sender interface {
	send(ctx context.Context, rows []row) (failed []error, err error)
}

// parentContext is the trace context stored in rw: the parent of its send
// span, so the span is a child of the request that enqueued the row.
func (r *Relay) parentContext(ctx context.Context, rw row) context.Context {
	// Start from no parent: the row's stored context is the only one.
	parent := trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	return r.p.Propagator.Extract(parent, propagation.MapCarrier(rw.headers))
}

// endSpans ends each row's send span, marking those that failed.
func endSpans(spans []trace.Span, failed []error) {
	for i, span := range spans {
		if failed[i] != nil {
			span.RecordError(failed[i])
			span.SetStatus(codes.Error, "publish failed")
		}
		span.End()
	}
}

// perMessage spreads a publish error over n messages: its own entry per
// message when pubErr carries them (errs, of the publisher's type),
// pubErr for every message otherwise.
func perMessage[E ~[]error](pubErr error, n int) []error {
	failed := make([]error, n)
	if pubErr == nil {
		return failed
	}
	var errs E
	if errors.As(pubErr, &errs) && len(errs) == n {
		copy(failed, errs)
		return failed
	}
	for i := range failed {
		failed[i] = pubErr
	}
	return failed
}

// kafkaSender publishes rows as Kafka records in one Publish call.
type kafkaSender struct {
	r   *Relay
	pub kafkabus.Publisher
}

func (s kafkaSender) send(ctx context.Context, rows []row) ([]error, error) {
	msgs := make([]kafka.Message, len(rows))
	spans := make([]trace.Span, len(rows))
	for i, rw := range rows {
		msgs[i], spans[i] = s.message(ctx, rw)
	}
	pubCtx, cancel := context.WithTimeout(ctx, s.r.opts.PublishTimeout)
	err := s.pub.Publish(pubCtx, msgs...)
	cancel()
	failed := perMessage[kafka.WriteErrors](err, len(rows))
	endSpans(spans, failed)
	return failed, err
}

// message builds a row's record and starts its send span. The stored trace
// context is the span's parent, so the span is a child of the request that
// enqueued the event; the record carries the send span's own context, so
// consumers become its children.
func (s kafkaSender) message(ctx context.Context, rw row) (kafka.Message, trace.Span) {
	r := s.r
	headers := make([]kafka.Header, 0, len(rw.headers)+len(r.propagationFields))
	for _, k := range slices.Sorted(maps.Keys(rw.headers)) {
		if !r.propagationFields[strings.ToLower(k)] {
			headers = append(headers, kafka.Header{Key: k, Value: []byte(rw.headers[k])})
		}
	}
	msg := kafka.Message{Topic: rw.topic, Key: []byte(rw.key), Value: rw.payload, Headers: headers}
	spanCtx, span := kafkabus.StartSendSpan(r.parentContext(ctx, rw), r.tracer, msg)
	r.p.Propagator.Inject(spanCtx, kafkabus.Carrier(&msg.Headers))
	return msg, span
}

// amqpSender sends rows as jobs to RabbitMQ work queues in one Publish
// call, which waits for the broker's confirm of each.
type amqpSender struct {
	r   *Relay
	pub JobPublisher
}

func (s amqpSender) send(ctx context.Context, rows []row) ([]error, error) {
	msgs := make([]workqueue.Message, len(rows))
	spans := make([]trace.Span, len(rows))
	for i, rw := range rows {
		msgs[i], spans[i] = s.message(ctx, rw)
	}
	pubCtx, cancel := context.WithTimeout(ctx, s.r.opts.PublishTimeout)
	err := s.pub.Publish(pubCtx, msgs...)
	cancel()
	failed := perMessage[workqueue.PublishErrors](err, len(rows))
	endSpans(spans, failed)
	return failed, err
}

// message builds a row's job and starts its send span. The row stores the
// envelope under the Kafka binding's names (ce_id, ...), the outbox's one
// storage format; the job carries them as the AMQP binding's properties.
func (s amqpSender) message(ctx context.Context, rw row) (workqueue.Message, trace.Span) {
	r := s.r
	m := workqueue.Message{
		Queue:   rw.topic,
		ID:      rw.headers[kafkabus.HeaderID],
		Type:    rw.headers[kafkabus.HeaderType],
		Source:  rw.headers[kafkabus.HeaderSource],
		Key:     rw.key,
		Body:    rw.payload,
		Attempt: 1,
	}
	if t, err := time.Parse(time.RFC3339Nano, rw.headers[kafkabus.HeaderTime]); err == nil {
		m.Time = t
	}
	spanCtx, span := workqueue.StartSendSpan(r.parentContext(ctx, rw), r.tracer, m)
	r.p.Propagator.Inject(spanCtx, workqueue.Carrier(&m))
	return m, span
}

func deleteRows(ctx context.Context, tx *sql.Tx, rows []row) error {
	args := make([]any, len(rows))
	marks := make([]string, len(rows))
	for i, rw := range rows {
		args[i] = rw.seq
		marks[i] = "$" + strconv.Itoa(i+1)
	}
	query := `DELETE FROM outbox_events WHERE seq IN (` + strings.Join(marks, ", ") + `)` //nolint:gosec // G202: only placeholders are concatenated; values are bound
	if _, err := tx.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("delete published outbox events: %w", err)
	}
	return nil
}

func (r *Relay) observePublished(ctx context.Context, rows, sent []row) {
	now := r.now()
	for _, rw := range sent {
		attrs := metric.WithAttributes(semconv.MessagingDestinationName(rw.topic))
		r.published.Add(ctx, 1, attrs)
		r.lag.Record(ctx, now.Sub(rw.createdAt).Seconds(), attrs)
	}
	if len(sent) < len(rows) {
		r.log.DebugContext(ctx, "outbox batch partly published", slog.Int("published", len(sent)), slog.Int("batch", len(rows)))
	}
}

// registerBacklogGauge reports the outbox's size and the age of its oldest
// event on each metric collection: the two numbers to alert on when the
// relay cannot publish.
func (r *Relay) registerBacklogGauge() (metric.Registration, error) {
	backlog, err := r.meter.Int64ObservableGauge("outbox.backlog",
		metric.WithUnit("{event}"),
		metric.WithDescription("Events waiting in the outbox to be published."))
	if err != nil {
		return nil, err
	}
	age, err := r.meter.Float64ObservableGauge("outbox.oldest_event.age",
		metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest event waiting in the outbox (0 when empty)."))
	if err != nil {
		return nil, err
	}
	return r.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(unsampled(ctx), 5*time.Second)
		defer cancel()
		var (
			n      int64
			oldest time.Time
		)
		err := r.db.QueryRowContext(ctx, `SELECT count(*), min(created_at) FROM outbox_events WHERE destination = $1`, r.dest).
			Scan(&n, database.ScanTime(&oldest))
		if err != nil {
			return fmt.Errorf("measure outbox backlog: %w", err)
		}
		attrs := metric.WithAttributes(attribute.String("vidstream.outbox.destination", r.dest))
		o.ObserveInt64(backlog, n, attrs)
		var seconds float64
		if !oldest.IsZero() {
			seconds = max(r.now().Sub(oldest).Seconds(), 0)
		}
		o.ObserveFloat64(age, seconds, attrs)
		return nil
	}, backlog, age)
}

func (r *Relay) counter(name, desc string) metric.Int64Counter {
	c, err := r.meter.Int64Counter(name, metric.WithUnit("{event}"), metric.WithDescription(desc))
	if err != nil {
		r.log.Error("create metric instrument", slog.String("name", name), slog.Any("error", err))
		return noopmetric.Int64Counter{}
	}
	return c
}

// unsampled returns ctx under a remote parent that is not sampled, so a
// parent-based sampler (the SDK default) drops the database spans of the
// relay's polling. An idle relay would otherwise emit a trace of a few
// spans every PollInterval per replica, burying the traces that matter. The
// send spans are unaffected: their parent is the trace context stored in
// each row.
func unsampled(ctx context.Context) context.Context {
	var tid trace.TraceID
	var sid trace.SpanID
	_, _ = rand.Read(tid[:]) // crypto/rand.Read never fails
	_, _ = rand.Read(sid[:])
	return trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid,
		SpanID:  sid,
		// TraceFlags zero: not sampled.
	}))
}
