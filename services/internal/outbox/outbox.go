// Package outbox publishes domain events with the transactional outbox
// pattern: a service writes its events into a table in the same database
// transaction as the change they describe (Enqueue), and a Relay publishes
// them to Kafka afterwards. Either both the change and its events are
// committed or neither is, and no event is lost while Kafka is down: writes
// keep succeeding, and the events wait in the table.
//
// Wiring in a service:
//
//	if err := outbox.Migrate(ctx, db); err != nil { ... }
//	ob := outbox.New(db, "/services/user", p)
//
//	// in the domain's transaction
//	err := db.InTx(ctx, func(tx *sql.Tx) error {
//		if err := createUser(ctx, tx, u); err != nil {
//			return err
//		}
//		return ob.Enqueue(ctx, tx, outbox.Event{Topic: "vidstream.users.v1", Key: u.ID, Payload: &eventsv1.UserCreated{...}})
//	})
//	if err == nil {
//		ob.Notify() // publish now instead of at the next poll
//	}
//
//	// next to the servers, until shutdown
//	relay := outbox.NewRelay(db, kafkabus.NewProducer(brokers, p), p, outbox.RelayOptions{Wake: ob.Wakeups()})
//	go relay.Run(ctx)
//
// # Jobs
//
// The outbox also carries jobs for RabbitMQ work queues (package
// workqueue): an Event with Queue instead of Topic. A job is enqueued in the
// domain's transaction like an event, and a relay of its own (NewJobRelay)
// sends it, so a job is never lost while RabbitMQ is down, and RabbitMQ
// being down never delays the Kafka events (nor Kafka the jobs):
//
//	ob.Enqueue(ctx, tx, outbox.Event{Queue: events.TranscodeQueue, Key: v.ID, Payload: &jobsv1.TranscodeRequested{...}})
//
//	jobs := outbox.NewJobRelay(db, workqueue.NewPublisher(url, p), p, outbox.RelayOptions{Wake: ob.Wakeups()})
//	go jobs.Run(ctx)
//
// Delivery is at least once: a relay that crashes after the broker
// acknowledged a batch but before deleting its rows publishes them again.
// Consumers deduplicate on ce_id (see kafkabus.Consumer). Events of one key
// are published in the order their transactions committed them, also with
// several relay replicas; see Relay.
package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/api/events"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// Event is one domain event to publish, or one job to send. Exactly one of
// Topic and Queue is set.
type Event struct {
	// Topic is the Kafka topic, e.g. "vidstream.users.v1".
	Topic string
	// Queue is the RabbitMQ work queue of a job, e.g.
	// "vidstream.transcode". The job relay (NewJobRelay) sends it; the
	// Kafka relay never sees it.
	Queue string
	// Key is the partitioning key (the aggregate's id). Events of one key
	// reach consumers in the order they were enqueued; jobs of one key are
	// sent in that order.
	Key string
	// Payload is a services/api/events/v1 message (a services/api/jobs/v1
	// one for a job). Its name completes the CloudEvents type: Topic (or
	// Queue) + "." + message name, e.g. "vidstream.users.v1.UserDeleted".
	Payload proto.Message
}

// Destinations, stored with each row: each has a relay of its own.
const (
	destinationKafka = "kafka"
	destinationAMQP  = "amqp"
)

// target returns where e goes: the destination and the topic or queue.
func (e Event) target() (destination, name string, err error) {
	switch {
	case e.Topic != "" && e.Queue != "":
		return "", "", fmt.Errorf("event for topic %s and queue %s: set one", e.Topic, e.Queue)
	case e.Queue != "":
		return destinationAMQP, e.Queue, nil
	case e.Topic != "":
		return destinationKafka, e.Topic, nil
	default:
		return "", "", errors.New("empty topic")
	}
}

// MaxPayloadBytes bounds an event's encoded payload. Events carry facts, not
// blobs; the bound also keeps every row far below Kafka's 1 MiB record limit,
// which a row over it would hit at publish time, after its transaction has
// committed, blocking its key's later events for good.
const MaxPayloadBytes = 256 << 10

// lanes is how many hash partitions of the key space relays claim work in
// (see Relay). It is stored with each row, so changing it needs a migration
// that recomputes the column; 64 leaves room for many more replicas than
// one service will run.
const lanes = 64

// Outbox writes events into the outbox table. It is safe for concurrent use.
type Outbox struct {
	db     *database.DB
	source string
	prop   propagation.TextMapPropagator
	wake   chan struct{}
	now    func() time.Time
}

// New returns an Outbox writing to db's outbox table (see Migrate). source is
// the CloudEvents source of every event, e.g. "/services/user".
func New(db *database.DB, source string, p telemetry.Providers) *Outbox {
	prop := p.Propagator
	if prop == nil {
		prop = telemetry.Noop().Propagator
	}
	return &Outbox{db: db, source: source, prop: prop, wake: make(chan struct{}, 1), now: time.Now}
}

// Writer is what a store needs of an outbox: Enqueue in the store's
// transaction, and Notify once it committed, so the relay publishes now
// rather than at its next poll. *Outbox is the production one;
// outboxtest.Table keeps events where a test can read them.
type Writer interface {
	Enqueue(ctx context.Context, tx *sql.Tx, events ...Event) error
	Notify()
}

var _ Writer = (*Outbox)(nil)

// EnqueueAll converts a service's domain events with toEvent and enqueues
// them in tx through w, in one call; it returns how many it enqueued, so
// the store knows whether to Notify after the commit.
func EnqueueAll[E any](ctx context.Context, w Writer, tx *sql.Tx, events []E, toEvent func(E) (Event, error)) (int, error) {
	out := make([]Event, 0, len(events))
	for _, e := range events {
		oe, err := toEvent(e)
		if err != nil {
			return 0, err
		}
		out = append(out, oe)
	}
	if err := w.Enqueue(ctx, tx, out...); err != nil {
		return 0, fmt.Errorf("enqueue %d events: %w", len(out), err)
	}
	return len(out), nil
}

// Enqueue inserts events into the outbox within tx, the caller's
// transaction: they are published if and only if tx commits. With each
// event it stores the CloudEvents attributes and the W3C trace context of
// ctx, so that the relay's send span, and through it the consumers'
// spans, join the trace of the request that caused the event.
func (o *Outbox) Enqueue(ctx context.Context, tx *sql.Tx, events ...Event) error {
	now := database.Timestamp(o.now())
	for _, e := range events {
		if err := o.insert(ctx, tx, e, now); err != nil {
			return fmt.Errorf("enqueue event: %w", err)
		}
	}
	return nil
}

func (o *Outbox) insert(ctx context.Context, tx *sql.Tx, e Event, now time.Time) error {
	dest, topic, err := e.target()
	if err != nil {
		return err
	}
	e.Topic = topic
	switch {
	case e.Key == "":
		// Without a key the event has no partition of its own and no
		// order relative to anything; every event here is about some
		// aggregate, whose id is the key.
		return fmt.Errorf("%s: empty key", e.Topic)
	case e.Payload == nil:
		return fmt.Errorf("%s: nil payload", e.Topic)
	}
	payload, err := proto.Marshal(e.Payload)
	if err != nil {
		return fmt.Errorf("%s: encode payload: %w", e.Topic, err)
	}
	if len(payload) > MaxPayloadBytes {
		return fmt.Errorf("%s: payload of %d bytes exceeds %d", e.Topic, len(payload), MaxPayloadBytes)
	}
	// Version 7: time-ordered, so consumers' inbox primary keys grow at
	// the end of the index instead of landing at random pages.
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("%s: new event id: %w", e.Topic, err)
	}
	headers := propagation.MapCarrier{
		kafkabus.HeaderSpecVersion: kafkabus.SpecVersion,
		kafkabus.HeaderID:          id.String(),
		kafkabus.HeaderType:        events.Type(e.Topic, e.Payload),
		kafkabus.HeaderSource:      o.source,
		kafkabus.HeaderTime:        now.Format(time.RFC3339Nano),
		kafkabus.HeaderContentType: kafkabus.ContentTypeProtobuf,
	}
	o.prop.Inject(ctx, headers)
	headerJSON, err := json.Marshal(headers)
	if err != nil {
		return fmt.Errorf("%s: encode headers: %w", e.Topic, err)
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO outbox_events (id, destination, topic, event_key, lane, payload, headers, created_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id.String(), dest, e.Topic, e.Key, lane(e.Key), payload, string(headerJSON), now)
	if err != nil {
		return fmt.Errorf("%s: insert: %w", e.Topic, err)
	}
	return nil
}

// Notify tells a relay in this process that events were committed, so it
// publishes them now rather than at its next poll. Call it after the
// transaction that enqueued them committed; calling it before only wakes the
// relay too early. It never blocks.
func (o *Outbox) Notify() {
	select {
	case o.wake <- struct{}{}:
	default: // a wake-up is already pending; one is enough
	}
}

// Wakeups is the channel Notify signals; pass it as RelayOptions.Wake.
func (o *Outbox) Wakeups() <-chan struct{} { return o.wake }

// lane maps a key to its hash partition. FNV-1a: fast, stable across
// processes and versions (unlike hash/maphash), and spread well enough.
func lane(key string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key)) // hash.Hash never fails
	return int(h.Sum32() % lanes)
}
