package kafkabus_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
)

// fixture is one consumer test's world: a broker with a fresh topic and its
// DLQ, a migrated database with an effects table the handler writes to.
type fixture struct {
	brokers []string
	topic   string
	group   string
	db      *database.DB
}

func newFixture(t *testing.T, db *database.DB, brokers []string, partitions int) fixture {
	t.Helper()
	f := fixture{brokers: brokers, topic: kafkatest.Name(t, "topic"), group: kafkatest.Name(t, "group"), db: db}
	kafkatest.CreateTopic(t, brokers, f.topic, partitions)
	if err := kafkabus.MigrateInbox(t.Context(), db); err != nil {
		t.Fatalf("MigrateInbox: %v", err)
	}
	// The handler's "effect": one row per application of an event.
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE effects (event_id TEXT NOT NULL, video_id TEXT NOT NULL)`); err != nil {
		t.Fatalf("create effects table: %v", err)
	}
	return f
}

// effectHandler decodes a WatchProgressed and records it in effects. An
// undecodable payload is a permanent failure.
func effectHandler(ctx context.Context, tx *sql.Tx, m kafkabus.Message) error {
	var ev eventsv1.WatchProgressed
	if err := proto.Unmarshal(m.Value, &ev); err != nil {
		return kafkabus.Permanent(fmt.Errorf("decode WatchProgressed: %w", err))
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO effects (event_id, video_id) VALUES ($1, $2)`, m.ID(), ev.GetVideoId())
	return err
}

func (f fixture) effects(t *testing.T) map[string]int {
	t.Helper()
	rows, err := f.db.QueryContext(t.Context(), `SELECT event_id FROM effects`)
	if err != nil {
		t.Fatalf("read effects: %v", err)
	}
	defer func() { _ = rows.Close() }()
	got := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatalf("read effects: %v", err)
		}
		got[id]++
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read effects: %v", err)
	}
	return got
}

func (f fixture) waitEffects(t *testing.T, n int) map[string]int {
	t.Helper()
	var got map[string]int
	kafkatest.Eventually(t, func() error {
		got = f.effects(t)
		total := 0
		for _, c := range got {
			total += c
		}
		if total < n {
			return fmt.Errorf("%d effects, want %d", total, n)
		}
		return nil
	})
	return got
}

func (f fixture) consumer(t *testing.T, h kafkabus.Handler, p telemetry.Providers, mod ...func(*kafkabus.ConsumerConfig)) *kafkabus.Consumer {
	t.Helper()
	cfg := kafkabus.ConsumerConfig{
		Brokers:     f.brokers,
		GroupID:     f.group,
		Topic:       f.topic,
		MaxAttempts: 3,
		Backoff:     kafkabus.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := kafkabus.NewConsumer(cfg, f.db, h, p)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	return c
}

// start runs c until the returned stop is called (or the test ends) and
// returns Run's result from stop.
func start(t *testing.T, c *kafkabus.Consumer) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// record builds a record the way the outbox relay does.
func record(t *testing.T, topic, id, key string, payload proto.Message) kafka.Message {
	t.Helper()
	value, err := proto.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{
		Topic: topic,
		Key:   []byte(key),
		Value: value,
		Headers: []kafka.Header{
			{Key: kafkabus.HeaderSpecVersion, Value: []byte(kafkabus.SpecVersion)},
			{Key: kafkabus.HeaderID, Value: []byte(id)},
			{Key: kafkabus.HeaderType, Value: []byte(topic + ".WatchProgressed")},
			{Key: kafkabus.HeaderSource, Value: []byte("/services/test")},
			{Key: kafkabus.HeaderTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
			{Key: kafkabus.HeaderContentType, Value: []byte(kafkabus.ContentTypeProtobuf)},
		},
	}
}

func progressed(video string) *eventsv1.WatchProgressed {
	return &eventsv1.WatchProgressed{UserId: "u1", VideoId: video, PositionSeconds: 1, DurationSeconds: 10}
}

func TestConsumerAppliesADuplicateOnce(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, kafkatest.Broker(t), 1)
		dup, other := uuid.NewString(), uuid.NewString()
		kafkatest.Publish(t, f.brokers,
			record(t, f.topic, dup, "u1", progressed("v1")),
			record(t, f.topic, dup, "u1", progressed("v1")), // the same event published twice
			record(t, f.topic, other, "u1", progressed("v2")),
		)
		p, spans := telemetrytest.New(t)
		stop := start(t, f.consumer(t, effectHandler, p))

		// The last record applied means the duplicate before it was seen.
		f.waitEffects(t, 2)
		waitCommitted(t, f, 0, 3)
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got := f.effects(t); got[dup] != 1 || got[other] != 1 || len(got) != 2 {
			t.Fatalf("effects = %v, want %s and %s once each", got, dup, other)
		}
		// At least one: a rebalance may redeliver a record a second time,
		// which is what the inbox is for.
		if n := countOutcome(spans, "duplicate"); n < 1 {
			t.Fatalf("no process span with outcome duplicate; the second copy was not recognized")
		}
	})
}

func TestConsumerDeadLettersPoisonAndMovesOn(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, kafkatest.Broker(t), 1)
		good := uuid.NewString()
		failing := uuid.NewString()
		undecodable := record(t, f.topic, uuid.NewString(), "u1", progressed("x"))
		undecodable.Value = []byte{0xff, 0xff, 0xff} // not a protobuf message
		noID := record(t, f.topic, "not-a-uuid", "u1", progressed("x"))
		kafkatest.Publish(t, f.brokers,
			noID,
			undecodable,
			record(t, f.topic, failing, "u1", progressed("always-fails")),
			record(t, f.topic, good, "u1", progressed("v1")),
		)

		var attemptsOnFailing atomic.Int32
		h := func(ctx context.Context, tx *sql.Tx, m kafkabus.Message) error {
			if m.ID() == failing {
				attemptsOnFailing.Add(1)
				// Written before failing: the rollback must undo it.
				if err := effectHandler(ctx, tx, m); err != nil {
					return err
				}
				return errors.New("downstream says no")
			}
			return effectHandler(ctx, tx, m)
		}
		p, spans := telemetrytest.New(t)
		stop := start(t, f.consumer(t, h, p))

		dlq := kafkatest.WaitForRecords(t, f.brokers, events.DLQ(f.topic), 3)
		got := f.waitEffects(t, 1)
		waitCommitted(t, f, 0, 4)
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}

		if len(got) != 1 || got[good] != 1 {
			t.Fatalf("effects = %v, want only %s once", got, good)
		}
		// A rebalance may hand a record to the consumer twice; each delivery
		// gets MaxAttempts and may be dead-lettered again. DLQ readers
		// deduplicate by ce_id like any consumer, and so does this test.
		if n := attemptsOnFailing.Load(); n < 3 || n%3 != 0 {
			t.Fatalf("failing record tried %d times, want MaxAttempts = 3 per delivery", n)
		}
		dlq = firstPerOriginalOffset(dlq)
		if len(dlq) != 3 {
			t.Fatalf("DLQ holds records of %d original offsets, want 3", len(dlq))
		}
		want := []struct {
			original  kafka.Message
			offset    int
			attempts  string
			permanent string
		}{
			{noID, 0, "0", "true"},
			{undecodable, 1, "1", "true"},
			{record(t, f.topic, failing, "u1", progressed("always-fails")), 2, "3", "false"},
		}
		for i, w := range want {
			m := dlq[i]
			if string(m.Key) != string(w.original.Key) || string(m.Value) != string(w.original.Value) {
				t.Errorf("DLQ record %d: key/value differ from the original", i)
			}
			h := headers(m)
			if h[kafkabus.HeaderID] != headers(w.original)[kafkabus.HeaderID] {
				t.Errorf("DLQ record %d: ce_id = %q, want the original's", i, h[kafkabus.HeaderID])
			}
			checks := map[string]string{
				kafkabus.HeaderDLQOriginalTopic:     f.topic,
				kafkabus.HeaderDLQOriginalPartition: "0",
				kafkabus.HeaderDLQOriginalOffset:    strconv.Itoa(w.offset),
				kafkabus.HeaderDLQConsumerGroup:     f.group,
				kafkabus.HeaderDLQAttempts:          w.attempts,
				kafkabus.HeaderDLQPermanent:         w.permanent,
			}
			for k, v := range checks {
				if h[k] != v {
					t.Errorf("DLQ record %d: %s = %q, want %q", i, k, h[k], v)
				}
			}
			if h[kafkabus.HeaderDLQError] == "" {
				t.Errorf("DLQ record %d: no %s", i, kafkabus.HeaderDLQError)
			}
			if _, err := time.Parse(time.RFC3339Nano, h[kafkabus.HeaderDLQFailedAt]); err != nil {
				t.Errorf("DLQ record %d: %s: %v", i, kafkabus.HeaderDLQFailedAt, err)
			}
		}

		// Each dead-lettering is a "send <dlq>" PRODUCER span inside the
		// record's "process <topic>" span.
		stubs := tracetest.SpanStubsFromReadOnlySpans(spans.Ended())
		process := map[trace.SpanID]bool{}
		for _, s := range stubs {
			if s.Name == "process "+f.topic {
				process[s.SpanContext.SpanID()] = true
			}
		}
		sends := 0
		for _, s := range stubs {
			if s.Name != "send "+events.DLQ(f.topic) {
				continue
			}
			sends++
			if s.SpanKind != trace.SpanKindProducer || !process[s.Parent.SpanID()] {
				t.Errorf("DLQ span: kind %v, parent a process span %v; want a producer span inside one", s.SpanKind, process[s.Parent.SpanID()])
			}
			got := map[attribute.Key]string{}
			for _, kv := range s.Attributes {
				got[kv.Key] = kv.Value.String()
			}
			for k, v := range map[attribute.Key]string{
				"messaging.system":            "kafka",
				"messaging.operation.name":    "send",
				"messaging.operation.type":    "send",
				"messaging.destination.name":  events.DLQ(f.topic),
				"messaging.kafka.message.key": "u1",
			} {
				if got[k] != v {
					t.Errorf("DLQ span attribute %s = %q, want %q", k, got[k], v)
				}
			}
		}
		if sends < 3 {
			t.Errorf("%d DLQ send spans, want one per dead-lettered record (3)", sends)
		}
	})
}

func TestConsumerRedeliveryAfterCrashBetweenTxAndCommitHasNoSecondEffect(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, kafkatest.Broker(t), 1)
		id := uuid.NewString()
		kafkatest.Publish(t, f.brokers, record(t, f.topic, id, "u1", progressed("v1")))

		crashed := errors.New("killed before committing the offset")
		first := f.consumer(t, effectHandler, telemetry.Noop())
		kafkabus.SetBeforeCommit(first, func(kafkabus.Message) error { return crashed })
		stop := start(t, first)
		f.waitEffects(t, 1)
		if err := stop(); !errors.Is(err, crashed) {
			t.Fatalf("first Run = %v, want the simulated crash", err)
		}
		if off := kafkatest.CommittedOffsets(t, f.brokers, f.group, f.topic)[0]; off >= 1 {
			t.Fatalf("offset %d committed before the crash point", off)
		}

		// A new member of the group gets the record again.
		p, spans := telemetrytest.New(t)
		stop = start(t, f.consumer(t, effectHandler, p))
		waitCommitted(t, f, 0, 1)
		if err := stop(); err != nil {
			t.Fatalf("second Run: %v", err)
		}
		if got := f.effects(t); got[id] != 1 {
			t.Fatalf("effects = %v, want %s applied once", got, id)
		}
		if n := countOutcome(spans, "duplicate"); n < 1 {
			t.Fatalf("no duplicate process span; the record was not redelivered")
		}
	})
}

func TestConsumerShutdownFinishesAndCommitsTheRecordInFlight(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, kafkatest.Broker(t), 1)
		id := uuid.NewString()
		kafkatest.Publish(t, f.brokers, record(t, f.topic, id, "u1", progressed("v1")))

		entered := make(chan struct{})
		var enteredOnce sync.Once
		release := make(chan struct{})
		h := func(ctx context.Context, tx *sql.Tx, m kafkabus.Message) error {
			enteredOnce.Do(func() { close(entered) })
			<-release
			return effectHandler(ctx, tx, m)
		}
		stop := start(t, f.consumer(t, h, telemetry.Noop()))
		<-entered
		stopped := make(chan error, 1)
		go func() { stopped <- stop() }()
		// Shutdown has begun; Run must wait for the handler.
		select {
		case err := <-stopped:
			t.Fatalf("Run returned (%v) while the handler was still running", err)
		default:
		}
		close(release)
		if err := <-stopped; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got := f.effects(t); got[id] != 1 {
			t.Fatalf("effects = %v, want %s once", got, id)
		}
		if off := kafkatest.CommittedOffsets(t, f.brokers, f.group, f.topic)[0]; off != 1 {
			t.Fatalf("committed offset = %d after shutdown, want 1", off)
		}
	})
}

func TestConsumerSpanContinuesTheProducersTrace(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, kafkatest.Broker(t), 1)
		p, spans := telemetrytest.New(t)

		// Stand in for the relay: a PRODUCER span whose context travels in
		// the record's headers.
		ctx, producer := p.Tracer.Tracer("test").Start(t.Context(), "send "+f.topic, trace.WithSpanKind(trace.SpanKindProducer))
		rec := record(t, f.topic, uuid.NewString(), "user-7", progressed("v1"))
		p.Propagator.Inject(ctx, kafkabus.Carrier(&rec.Headers))
		producer.End()
		kafkatest.Publish(t, f.brokers, rec)

		stop := start(t, f.consumer(t, effectHandler, p))
		f.waitEffects(t, 1)
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}

		var process tracetest.SpanStub
		for _, s := range tracetest.SpanStubsFromReadOnlySpans(spans.Ended()) {
			if s.Name == "process "+f.topic {
				process = s
			}
		}
		if process.Name == "" {
			t.Fatalf("no %q span", "process "+f.topic)
		}
		if process.SpanKind != trace.SpanKindConsumer {
			t.Errorf("kind = %v, want consumer", process.SpanKind)
		}
		psc := producer.SpanContext()
		if process.Parent.SpanID() != psc.SpanID() || process.SpanContext.TraceID() != psc.TraceID() {
			t.Errorf("process span's parent = %v, want the producer span %v", process.Parent.SpanID(), psc.SpanID())
		}
		if len(process.Links) != 1 || process.Links[0].SpanContext.SpanID() != psc.SpanID() {
			t.Errorf("process span links = %+v, want one link to the producer span", process.Links)
		}
		want := map[attribute.Key]string{
			"messaging.system":                   "kafka",
			"messaging.destination.name":         f.topic,
			"messaging.operation.name":           "process",
			"messaging.operation.type":           "process",
			"messaging.consumer.group.name":      f.group,
			"messaging.kafka.message.key":        "user-7",
			"messaging.kafka.offset":             "0",
			"messaging.destination.partition.id": "0",
			"vidstream.consumer.outcome":         "processed",
		}
		got := map[attribute.Key]string{}
		for _, kv := range process.Attributes {
			got[kv.Key] = kv.Value.String()
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("attribute %s = %q, want %q", k, got[k], v)
			}
		}
	})
}

func TestConsumerRecoversFromAPanickingHandler(t *testing.T) {
	db := databasetest.OpenSQLite(t, nil)
	f := newFixture(t, db, kafkatest.Broker(t), 1)
	kafkatest.Publish(t, f.brokers, record(t, f.topic, uuid.NewString(), "u1", progressed("v1")))
	h := func(context.Context, *sql.Tx, kafkabus.Message) error { panic("handler bug") }
	stop := start(t, f.consumer(t, h, telemetry.Noop()))
	dlq := kafkatest.WaitForRecords(t, f.brokers, events.DLQ(f.topic), 1)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if h := headers(dlq[0]); h[kafkabus.HeaderDLQAttempts] != "3" {
		t.Fatalf("panicking record dead-lettered after %s attempts, want 3", h[kafkabus.HeaderDLQAttempts])
	}
}

func TestNewConsumerRejectsIncompleteConfig(t *testing.T) {
	db := databasetest.OpenSQLite(t, nil)
	h := func(context.Context, *sql.Tx, kafkabus.Message) error { return nil }
	valid := kafkabus.ConsumerConfig{Brokers: []string{"127.0.0.1:1"}, GroupID: "g", Topic: "t"}
	for name, mod := range map[string]func(*kafkabus.ConsumerConfig){
		"no brokers":    func(c *kafkabus.ConsumerConfig) { c.Brokers = nil },
		"no group":      func(c *kafkabus.ConsumerConfig) { c.GroupID = "" },
		"no topic":      func(c *kafkabus.ConsumerConfig) { c.Topic = "" },
		"dlq is itself": func(c *kafkabus.ConsumerConfig) { c.DLQTopic = "t" },
	} {
		cfg := valid
		mod(&cfg)
		if _, err := kafkabus.NewConsumer(cfg, db, h, telemetry.Noop()); err == nil {
			t.Errorf("%s: NewConsumer succeeded", name)
		}
	}
	if _, err := kafkabus.NewConsumer(valid, db, h, telemetry.Noop()); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

func waitCommitted(t *testing.T, f fixture, partition int, offset int64) {
	t.Helper()
	kafkatest.Eventually(t, func() error {
		if got := kafkatest.CommittedOffsets(t, f.brokers, f.group, f.topic)[partition]; got != offset {
			return fmt.Errorf("committed offset of partition %d = %d, want %d", partition, got, offset)
		}
		return nil
	})
}

// firstPerOriginalOffset keeps the first DLQ record of each original offset.
func firstPerOriginalOffset(dlq []kafka.Message) []kafka.Message {
	seen := map[string]bool{}
	var out []kafka.Message
	for _, m := range dlq {
		off := headers(m)[kafkabus.HeaderDLQOriginalOffset]
		if !seen[off] {
			seen[off] = true
			out = append(out, m)
		}
	}
	return out
}

func countOutcome(spans *tracetest.SpanRecorder, outcome string) int {
	n := 0
	for _, s := range spans.Ended() {
		for _, kv := range s.Attributes() {
			if kv.Key == "vidstream.consumer.outcome" && kv.Value.AsString() == outcome {
				n++
			}
		}
	}
	return n
}

func headers(m kafka.Message) map[string]string {
	out := map[string]string{}
	for _, h := range m.Headers {
		out[h.Key] = string(h.Value)
	}
	return out
}
