package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
)

func migrated(t *testing.T, db *database.DB) {
	t.Helper()
	if err := outbox.Migrate(t.Context(), db); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
}

func enqueue(ctx context.Context, t *testing.T, db *database.DB, ob *outbox.Outbox, events ...outbox.Event) {
	t.Helper()
	if err := db.InTx(ctx, func(tx *sql.Tx) error { return ob.Enqueue(ctx, tx, events...) }); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

func backlog(t *testing.T, db *database.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM outbox_events`).Scan(&n); err != nil {
		t.Fatalf("count outbox rows: %v", err)
	}
	return n
}

func producer(t *testing.T, brokers []string) *kafkabus.Producer {
	t.Helper()
	pr := kafkabus.NewProducer(brokers, telemetry.Noop())
	t.Cleanup(func() { _ = pr.Close() })
	return pr
}

func progressed(user string, position int32) *eventsv1.WatchProgressed {
	return &eventsv1.WatchProgressed{UserId: user, VideoId: "v1", PositionSeconds: position, DurationSeconds: 100}
}

// runRelay runs r until the test ends.
func runRelay(t *testing.T, r *outbox.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Relay.Run: %v", err)
		}
	})
}

func TestRolledBackEnqueuePublishesNothing(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		migrated(t, db)
		brokers := kafkatest.Broker(t)
		topic := kafkatest.Name(t, "topic")
		kafkatest.CreateTopic(t, brokers, topic, 1)
		ob := outbox.New(db, "/services/test", telemetry.Noop())

		domainErr := errors.New("domain rule violated")
		err := db.InTx(t.Context(), func(tx *sql.Tx) error {
			if err := ob.Enqueue(t.Context(), tx, outbox.Event{Topic: topic, Key: "u1", Payload: progressed("u1", 1)}); err != nil {
				return err
			}
			return domainErr
		})
		if !errors.Is(err, domainErr) {
			t.Fatalf("InTx = %v, want the domain error", err)
		}

		relay := outbox.NewRelay(db, producer(t, brokers), telemetry.Noop(), outbox.RelayOptions{})
		if n, err := relay.RunOnce(t.Context()); n != 0 || err != nil {
			t.Fatalf("RunOnce = %d, %v; want nothing to publish", n, err)
		}
		if got := kafkatest.Records(t, brokers, topic); len(got) != 0 {
			t.Fatalf("topic holds %d records after a rollback", len(got))
		}
	})
}

func TestCommittedEventIsPublishedWithCloudEventsHeadersAndTrace(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		migrated(t, db)
		brokers := kafkatest.Broker(t)
		topic := kafkatest.Name(t, "topic")
		kafkatest.CreateTopic(t, brokers, topic, 2)
		p, spans := telemetrytest.New(t)
		ob := outbox.New(db, "/services/watch-history", p)

		// The request that causes the event, carrying baggage too.
		member, err := baggage.NewMember("tenant", "acme")
		if err != nil {
			t.Fatal(err)
		}
		bag, err := baggage.New(member)
		if err != nil {
			t.Fatal(err)
		}
		ctx := baggage.ContextWithBaggage(t.Context(), bag)
		ctx, request := p.Tracer.Tracer("test").Start(ctx, "PUT /v1/history/{video_id}", trace.WithSpanKind(trace.SpanKindServer))
		before := time.Now().UTC()
		enqueue(ctx, t, db, ob, outbox.Event{Topic: topic, Key: "user-42", Payload: progressed("user-42", 30)})
		request.End()

		relay := outbox.NewRelay(db, producer(t, brokers), p, outbox.RelayOptions{})
		if n, err := relay.RunOnce(t.Context()); n != 1 || err != nil {
			t.Fatalf("RunOnce = %d, %v; want 1 published", n, err)
		}
		if n := backlog(t, db); n != 0 {
			t.Fatalf("%d rows left in the outbox after publishing", n)
		}

		got := kafkatest.WaitForRecords(t, brokers, topic, 1)
		m := got[0]
		if string(m.Key) != "user-42" {
			t.Errorf("key = %q, want user-42", m.Key)
		}
		var payload eventsv1.WatchProgressed
		if err := proto.Unmarshal(m.Value, &payload); err != nil || payload.GetPositionSeconds() != 30 {
			t.Errorf("payload = %v (%v), want the enqueued WatchProgressed", &payload, err)
		}
		h := headerMap(m)
		for k, want := range map[string]string{
			"ce_specversion": "1.0",
			"ce_type":        topic + ".WatchProgressed",
			"ce_source":      "/services/watch-history",
			"content-type":   "application/protobuf",
			"baggage":        "tenant=acme",
		} {
			if h[k] != want {
				t.Errorf("header %s = %q, want %q", k, h[k], want)
			}
		}
		if _, err := uuid.Parse(h["ce_id"]); err != nil {
			t.Errorf("ce_id %q: %v", h["ce_id"], err)
		}
		ceTime, err := time.Parse(time.RFC3339Nano, h["ce_time"])
		if err != nil || ceTime.Location() != time.UTC || ceTime.Before(before.Truncate(time.Microsecond)) {
			t.Errorf("ce_time = %q (%v), want an RFC 3339 UTC time of the enqueue", h["ce_time"], err)
		}

		send := findSpan(t, spans.Ended(), "send "+topic)
		if send.SpanKind() != trace.SpanKindProducer {
			t.Errorf("send span kind = %v, want producer", send.SpanKind())
		}
		if send.Parent().SpanID() != request.SpanContext().SpanID() || send.SpanContext().TraceID() != request.SpanContext().TraceID() {
			t.Errorf("send span is not a child of the request span")
		}
		// The record carries the send span's context, not the request's.
		wantParent := fmt.Sprintf("00-%s-%s-01", send.SpanContext().TraceID(), send.SpanContext().SpanID())
		if h["traceparent"] != wantParent {
			t.Errorf("traceparent = %q, want the send span's %q", h["traceparent"], wantParent)
		}
		checkAttributes(t, send, map[attribute.Key]string{
			"messaging.system":            "kafka",
			"messaging.destination.name":  topic,
			"messaging.operation.name":    "send",
			"messaging.operation.type":    "send",
			"messaging.kafka.message.key": "user-42",
			"messaging.message.id":        h["ce_id"],
		})
	})
}

func TestOneTraceFromRequestThroughRelayToConsumer(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		migrated(t, db)
		if err := kafkabus.MigrateInbox(t.Context(), db); err != nil {
			t.Fatal(err)
		}
		brokers := kafkatest.Broker(t)
		topic := kafkatest.Name(t, "topic")
		kafkatest.CreateTopic(t, brokers, topic, 1)
		// Each side with its own providers, as in separate services.
		producerSide, producerSpans := telemetrytest.New(t)
		consumerSide, consumerSpans := telemetrytest.New(t)
		ob := outbox.New(db, "/services/watch-history", producerSide)

		ctx, request := producerSide.Tracer.Tracer("test").Start(t.Context(), "PUT /v1/history/{video_id}")
		enqueue(ctx, t, db, ob, outbox.Event{Topic: topic, Key: "u1", Payload: progressed("u1", 1)})
		request.End()
		runRelay(t, outbox.NewRelay(db, producer(t, brokers), producerSide, outbox.RelayOptions{Wake: ob.Wakeups()}))
		ob.Notify()

		handled := make(chan struct{}, 1)
		c, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Brokers: brokers, GroupID: kafkatest.Name(t, "group"), Topic: topic}, db,
			func(context.Context, *sql.Tx, kafkabus.Message) error {
				select {
				case handled <- struct{}{}:
				default: // a redelivery; the first one was signaled
				}
				return nil
			}, consumerSide)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(cctx) }()
		<-handled
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("consumer Run: %v", err)
		}

		send := findSpan(t, producerSpans.Ended(), "send "+topic)
		process := findSpan(t, consumerSpans.Ended(), "process "+topic)
		traceID := request.SpanContext().TraceID()
		if send.SpanContext().TraceID() != traceID || process.SpanContext().TraceID() != traceID {
			t.Fatalf("spans in traces %s (send) and %s (process), want both in the request's %s",
				send.SpanContext().TraceID(), process.SpanContext().TraceID(), traceID)
		}
		if send.Parent().SpanID() != request.SpanContext().SpanID() {
			t.Errorf("send span's parent is not the request span")
		}
		if process.Parent().SpanID() != send.SpanContext().SpanID() {
			t.Errorf("process span's parent is not the send span")
		}
		if links := process.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != send.SpanContext().SpanID() {
			t.Errorf("process span links = %v, want one link to the send span", links)
		}
	})
}

func TestEventsWaitWhileKafkaIsDownAndArriveExactlyOnceAfter(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		migrated(t, db)
		cluster := kafkatest.NewCluster(t)
		brokers := cluster.Brokers()
		topic := kafkatest.Name(t, "topic")
		kafkatest.CreateTopic(t, brokers, topic, 3)
		p, _, metrics := telemetrytest.NewWithMetrics(t)
		ob := outbox.New(db, "/services/test", p)
		pub := &countingPublisher{Publisher: producer(t, brokers)}
		runRelay(t, outbox.NewRelay(db, pub, p, outbox.RelayOptions{
			PollInterval: 10 * time.Millisecond,
			Backoff:      kafkabus.Backoff{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond},
			Wake:         ob.Wakeups(),
		}))

		cluster.Stop()
		const n = 30
		for i := range n {
			// Writes keep succeeding while the broker is unreachable.
			enqueue(t.Context(), t, db, ob, outbox.Event{Topic: topic, Key: fmt.Sprintf("user-%d", i%7), Payload: progressed("u", int32(i))})
			ob.Notify()
		}
		kafkatest.Eventually(t, func() error {
			if f := pub.failures.Load(); f < 2 {
				return fmt.Errorf("%d failed publishes so far, want the relay to have retried", f)
			}
			return nil
		})
		if got := backlog(t, db); got != n {
			t.Fatalf("outbox holds %d rows while Kafka is down, want %d", got, n)
		}
		if got := gauge(t, metrics, "outbox.backlog"); got != n {
			t.Fatalf("outbox.backlog = %d, want %d", got, n)
		}
		if got := sumCounter(t, metrics, "outbox.publish.errors"); got == 0 {
			t.Fatal("outbox.publish.errors = 0 after failed publishes")
		}

		cluster.Start()
		kafkatest.Eventually(t, func() error {
			if got := backlog(t, db); got != 0 {
				return fmt.Errorf("%d rows still in the outbox", got)
			}
			return nil
		})
		records := kafkatest.WaitForRecords(t, brokers, topic, n)
		perID := map[string]int{}
		for _, m := range records {
			perID[headerMap(m)["ce_id"]]++
		}
		if len(records) != n || len(perID) != n {
			t.Fatalf("topic holds %d records with %d distinct ce_ids, want %d of each", len(records), len(perID), n)
		}
		if got := sumCounter(t, metrics, "outbox.events.published"); got != n {
			t.Fatalf("outbox.events.published = %d, want %d", got, n)
		}
	})
}

// TestTwoRelaysKeepPerKeyOrder runs two relays, as two replicas would, on one
// PostgreSQL outbox while events keep coming, with a publisher that adds
// random latency so that their passes interleave. Every key's events must
// reach Kafka in enqueue order, and both relays must have done part of the
// work (or the test would prove nothing about concurrency).
func TestTwoRelaysKeepPerKeyOrder(t *testing.T) {
	db := databasetest.OpenPostgres(t, nil)
	migrated(t, db)
	brokers := kafkatest.Broker(t)
	topic := kafkatest.Name(t, "topic")
	kafkatest.CreateTopic(t, brokers, topic, 4)
	ob := outbox.New(db, "/services/test", telemetry.Noop())

	const keys, perKey = 24, 25
	enqueueRange := func(from, to int) {
		var wg sync.WaitGroup
		for k := range keys {
			wg.Go(func() {
				// One key's events in order, in transactions that commit
				// one after the other, like requests on one aggregate.
				for i := from; i < to; i++ {
					enqueue(t.Context(), t, db, ob, outbox.Event{Topic: topic, Key: fmt.Sprintf("user-%02d", k), Payload: progressed("u", int32(i))})
				}
			})
		}
		wg.Wait()
	}
	enqueueRange(0, perKey/2) // a backlog for both relays to compete over

	var relays [2]*jitterPublisher
	for i := range relays {
		relays[i] = &jitterPublisher{Publisher: producer(t, brokers)}
		runRelay(t, outbox.NewRelay(db, relays[i], telemetry.Noop(), outbox.RelayOptions{
			PollInterval: 5 * time.Millisecond,
			BatchSize:    7,
			LanesPerPass: 3,
		}))
	}
	enqueueRange(perKey/2, perKey) // and more arriving while they run

	records := kafkatest.WaitForRecords(t, brokers, topic, keys*perKey)
	seen := map[string]bool{}
	next := map[string]int32{}
	for _, m := range records { // partition by partition, in offset order
		id := headerMap(m)["ce_id"]
		if seen[id] {
			continue // an at-least-once duplicate; consumers skip it too
		}
		seen[id] = true
		var ev eventsv1.WatchProgressed
		if err := proto.Unmarshal(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		key := string(m.Key)
		if ev.GetPositionSeconds() != next[key] {
			t.Fatalf("key %s: event %d arrived when %d was due", key, ev.GetPositionSeconds(), next[key])
		}
		next[key]++
	}
	if len(next) != keys {
		t.Fatalf("%d keys arrived, want %d", len(next), keys)
	}
	for i, r := range relays {
		if r.published.Load() == 0 {
			t.Fatalf("relay %d published nothing; the test did not exercise concurrency", i)
		}
	}
	t.Logf("relay 0 published %d events, relay 1 %d", relays[0].published.Load(), relays[1].published.Load())
}

func TestWakeStartsAPassOfAnIdleRelay(t *testing.T) {
	db := databasetest.OpenSQLite(t, nil)
	migrated(t, db)
	brokers := kafkatest.Broker(t)
	topic := kafkatest.Name(t, "topic")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	ob := outbox.New(db, "/services/test", telemetry.Noop())
	// Unbuffered, so a send completes only when the relay is idle, waiting
	// for it; and a poll interval no test waits out, so only the wake-up
	// can start the pass that publishes.
	wake := make(chan struct{})
	runRelay(t, outbox.NewRelay(db, producer(t, brokers), telemetry.Noop(), outbox.RelayOptions{PollInterval: time.Hour, Wake: wake}))
	wake <- struct{}{} // the relay is past its first pass and idle

	enqueue(t.Context(), t, db, ob, outbox.Event{Topic: topic, Key: "u1", Payload: progressed("u1", 1)})
	wake <- struct{}{}
	kafkatest.WaitForRecords(t, brokers, topic, 1)
}

func TestNotifyNeverBlocksAndCoalesces(t *testing.T) {
	ob := outbox.New(databasetest.OpenSQLite(t, nil), "/services/test", telemetry.Noop())
	ob.Notify()
	ob.Notify() // must not block although nobody listens
	select {
	case <-ob.Wakeups():
	default:
		t.Fatal("no wake-up after Notify")
	}
	select {
	case <-ob.Wakeups():
		t.Fatal("two wake-ups pending; one is enough")
	default:
	}
}

func TestEnqueueRejectsInvalidEvents(t *testing.T) {
	db := databasetest.OpenSQLite(t, nil)
	migrated(t, db)
	ob := outbox.New(db, "/services/test", telemetry.Noop())
	big := &eventsv1.VideoUpdated{VideoId: "v", Description: string(make([]byte, outbox.MaxPayloadBytes))}
	for name, e := range map[string]outbox.Event{
		"no topic":      {Key: "k", Payload: progressed("u", 1)},
		"no key":        {Topic: "t", Payload: progressed("u", 1)},
		"no payload":    {Topic: "t", Key: "k"},
		"payload > max": {Topic: "t", Key: "k", Payload: big},
	} {
		err := db.InTx(t.Context(), func(tx *sql.Tx) error { return ob.Enqueue(t.Context(), tx, e) })
		if err == nil {
			t.Errorf("%s: Enqueue succeeded", name)
		}
	}
	if n := backlog(t, db); n != 0 {
		t.Fatalf("%d rows enqueued from invalid events", n)
	}
}

// TestMigrateCoexistsWithServiceMigrations checks the outbox's own goose
// version table: the service's migration 1 and the outbox's migration 1 are
// different migrations, and neither run mistakes the other's for its own.
func TestMigrateCoexistsWithServiceMigrations(t *testing.T) {
	service := fstest.MapFS{
		"postgres/00001_init.sql": {Data: []byte("-- +goose Up\nCREATE TABLE users (id TEXT PRIMARY KEY);\n-- +goose Down\nDROP TABLE users;\n")},
		"sqlite/00001_init.sql":   {Data: []byte("-- +goose Up\nCREATE TABLE users (id TEXT PRIMARY KEY);\n-- +goose Down\nDROP TABLE users;\n")},
	}
	databasetest.ForEachBackend(t, service, func(t *testing.T, db *database.DB) {
		for range 2 {
			migrated(t, db)
		}
		for _, table := range []string{"users", "outbox_events"} {
			if _, err := db.ExecContext(t.Context(), "SELECT count(*) FROM "+table); err != nil {
				t.Errorf("table %s: %v", table, err)
			}
		}
	})
}

func TestPartlyFailedBatchKeepsOnlyTheFailedEvents(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		migrated(t, db)
		ob := outbox.New(db, "/services/test", telemetry.Noop())
		for _, key := range []string{"a", "bad", "c"} {
			enqueue(t.Context(), t, db, ob, outbox.Event{Topic: "t", Key: key, Payload: progressed(key, 1)})
		}
		relay := outbox.NewRelay(db, rejectKey("bad"), telemetry.Noop(), outbox.RelayOptions{})
		n, err := relay.RunOnce(t.Context())
		if n != 2 || err == nil {
			t.Fatalf("RunOnce = %d, %v; want 2 published and an error for the third", n, err)
		}
		var key string
		if err := db.QueryRowContext(t.Context(), `SELECT event_key FROM outbox_events`).Scan(&key); err != nil || key != "bad" {
			t.Fatalf("left in the outbox: %q (%v), want only the rejected event", key, err)
		}
	})
}

// rejectKey is a Publisher that "writes" every record except those with the
// given key, reporting per-record errors as kafka-go does.
type rejectKey string

func (k rejectKey) Publish(_ context.Context, msgs ...kafka.Message) error {
	werrs := make(kafka.WriteErrors, len(msgs))
	failed := false
	for i, m := range msgs {
		if string(m.Key) == string(k) {
			werrs[i] = kafka.NotLeaderForPartition
			failed = true
		}
	}
	if failed {
		return werrs
	}
	return nil
}

// countingPublisher counts calls and failures of the Publisher it wraps.
type countingPublisher struct {
	kafkabus.Publisher
	calls, failures atomic.Int64
}

func (c *countingPublisher) Publish(ctx context.Context, msgs ...kafka.Message) error {
	c.calls.Add(1)
	err := c.Publisher.Publish(ctx, msgs...)
	if err != nil {
		c.failures.Add(1)
	}
	return err
}

// jitterPublisher adds up to 3 ms of latency before each publish, so that
// two relays' passes overlap in every possible way, and counts what it
// published.
type jitterPublisher struct {
	kafkabus.Publisher
	published atomic.Int64
}

func (j *jitterPublisher) Publish(ctx context.Context, msgs ...kafka.Message) error {
	time.Sleep(time.Duration(rand.Int64N(int64(3 * time.Millisecond))))
	err := j.Publisher.Publish(ctx, msgs...)
	if err == nil {
		j.published.Add(int64(len(msgs)))
	}
	return err
}

func headerMap(m kafka.Message) map[string]string {
	out := map[string]string{}
	for _, h := range m.Headers {
		out[h.Key] = string(h.Value)
	}
	return out
}

func findSpan(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range spans {
		if s.Name() == name {
			return s
		}
	}
	var names []string
	for _, s := range spans {
		names = append(names, s.Name())
	}
	t.Fatalf("no span %q among %v", name, names)
	return nil
}

func checkAttributes(t *testing.T, s sdktrace.ReadOnlySpan, want map[attribute.Key]string) {
	t.Helper()
	got := map[attribute.Key]string{}
	for _, kv := range s.Attributes() {
		got[kv.Key] = kv.Value.String()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("span %q: %s = %q, want %q", s.Name(), k, got[k], v)
		}
	}
}

func collect(t *testing.T, r *sdkmetric.ManualReader) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(t.Context(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	return rm
}

func gauge(t *testing.T, r *sdkmetric.ManualReader, name string) int64 {
	t.Helper()
	for _, sm := range collect(t, r).ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == name && len(g.DataPoints) > 0 {
				return g.DataPoints[0].Value
			}
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

func sumCounter(t *testing.T, r *sdkmetric.ManualReader, name string) int64 {
	t.Helper()
	var total int64
	for _, sm := range collect(t, r).ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, dp := range s.DataPoints {
					total += dp.Value
				}
			}
		}
	}
	return total
}
