package consumers_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/watch-history/internal/consumers"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
	"github.com/vidstream/vidstream/services/watch-history/internal/store"
)

// discard drops the events of seeded progress reports; these tests are
// about what the service consumes, not what it publishes.
type discard struct{}

func (discard) Enqueue(context.Context, *sql.Tx, ...outbox.Event) error { return nil }
func (discard) Notify()                                                 {}

// catalog knows every video the test registers.
type catalog map[uuid.UUID]domain.Video

func (c catalog) Video(_ context.Context, id uuid.UUID) (domain.Video, error) {
	v, ok := c[id]
	if !ok {
		return domain.Video{}, apperr.New(apperr.NotFound, "video %s not found", id)
	}
	return v, nil
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// harness is watch history's consumers on a real broker (kfake unless a
// real cluster is configured), over a real SQLite database.
type harness struct {
	t        *testing.T
	brokers  []string
	users    string // topic standing in for vidstream.users.v1
	videos   string // topic standing in for vidstream.videos.v1
	svc      *domain.Service
	store    *store.Store
	videoIDs catalog
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := t.Context()
	db := databasetest.OpenSQLite(t, store.Migrations())
	if err := kafkabus.MigrateInbox(ctx, db); err != nil {
		t.Fatalf("migrate inbox: %v", err)
	}
	h := &harness{
		t:        t,
		brokers:  kafkatest.Broker(t),
		users:    kafkatest.Name(t, "users"),
		videos:   kafkatest.Name(t, "videos"),
		store:    store.New(db, discard{}),
		videoIDs: catalog{},
	}
	h.svc = domain.NewService(h.store, h.videoIDs)
	kafkatest.CreateTopic(t, h.brokers, h.users, 1)
	kafkatest.CreateTopic(t, h.brokers, h.videos, 1)

	handlers := consumers.New(h.svc, h.store)
	h.run(db, h.users, handlers.Users)
	h.run(db, h.videos, handlers.Videos)
	return h
}

// run consumes topic with handler until the test ends.
func (h *harness) run(db *database.DB, topic string, handler kafkabus.Handler) {
	t := h.t
	c, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{
		Brokers: h.brokers,
		GroupID: kafkatest.Name(t, "group"),
		Topic:   topic,
		// Poison goes to the dead-letter topic at once (Permanent); a
		// quick schedule keeps any transient retry short.
		Backoff: kafkabus.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
	}, db, handler, telemetry.Noop())
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer on %s: %v", topic, err)
		}
	})
}

func (h *harness) addVideo(title string) domain.Video {
	v := domain.Video{ID: uuid.New(), Title: title, DurationSeconds: 600, UpdatedAt: t0}
	h.videoIDs[v.ID] = v
	return v
}

func (h *harness) watch(user uuid.UUID, v domain.Video, position int) {
	h.t.Helper()
	if _, err := h.svc.RecordProgress(h.t.Context(), user, v.ID, position); err != nil {
		h.t.Fatalf("RecordProgress: %v", err)
	}
}

func (h *harness) history(user uuid.UUID) map[uuid.UUID]domain.Entry {
	h.t.Helper()
	page, err := h.svc.List(h.t.Context(), user, domain.ListQuery{Limit: domain.MaxPageSize})
	if err != nil {
		h.t.Fatalf("List: %v", err)
	}
	out := make(map[uuid.UUID]domain.Entry, len(page.Items))
	for _, e := range page.Items {
		out[e.VideoID] = e
	}
	return out
}

// publish writes one event as the outbox would: protobuf payload, the
// CloudEvents envelope in headers. ceType is the production ce_type, whatever
// the test's topic is called, because that is what the handlers dispatch on.
func (h *harness) publish(topic, ceID, ceType, key string, payload []byte) {
	h.t.Helper()
	kafkatest.Publish(h.t, h.brokers, kafka.Message{
		Topic: topic,
		Key:   []byte(key),
		Value: payload,
		Headers: []kafka.Header{
			{Key: kafkabus.HeaderSpecVersion, Value: []byte(kafkabus.SpecVersion)},
			{Key: kafkabus.HeaderID, Value: []byte(ceID)},
			{Key: kafkabus.HeaderType, Value: []byte(ceType)},
			{Key: kafkabus.HeaderSource, Value: []byte("/services/test")},
			{Key: kafkabus.HeaderTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
			{Key: kafkabus.HeaderContentType, Value: []byte(kafkabus.ContentTypeProtobuf)},
		},
	})
}

func (h *harness) publishEvent(topic, ceID, key string, m proto.Message) {
	h.t.Helper()
	payload, err := proto.Marshal(m)
	if err != nil {
		h.t.Fatalf("marshal %T: %v", m, err)
	}
	base := events.UsersTopic
	if topic == h.videos {
		base = events.VideosTopic
	}
	h.publish(topic, ceID, events.Type(base, m), key, payload)
}

func (h *harness) deleteUser(ceID string, user uuid.UUID) {
	h.t.Helper()
	h.publishEvent(h.users, ceID, user.String(), &eventsv1.UserDeleted{UserId: user.String(), DeletedAt: timestamppb.Now()})
}

// eventually polls cond until it holds; the consumers run asynchronously.
func (h *harness) eventually(cond func() error) {
	h.t.Helper()
	kafkatest.Eventually(h.t, cond)
}

func (h *harness) waitForgotten(user uuid.UUID) {
	h.t.Helper()
	h.eventually(func() error {
		if n := len(h.history(user)); n != 0 {
			return fmt.Errorf("user %s still has %d entries", user, n)
		}
		return nil
	})
}

func TestUserDeletedPurgesOnlyThatUser(t *testing.T) {
	h := newHarness(t)
	film, show := h.addVideo("Film"), h.addVideo("Show")
	alice, bob := uuid.New(), uuid.New()
	h.watch(alice, film, 10)
	h.watch(alice, show, 20)
	h.watch(bob, film, 30)

	// UserCreated shares the topic and must be acknowledged without effect,
	// not retried or dead-lettered: the UserDeleted behind it on the same
	// partition could not be processed otherwise.
	h.publishEvent(h.users, uuid.NewString(), bob.String(), &eventsv1.UserCreated{UserId: bob.String(), DisplayName: "Bob"})
	h.deleteUser(uuid.NewString(), alice)

	h.waitForgotten(alice)
	if got := h.history(bob); len(got) != 1 || got[film.ID].PositionSeconds != 30 {
		t.Fatalf("bob's history = %+v, want his one entry untouched", got)
	}
}

func TestDuplicateUserDeletedHasOneEffect(t *testing.T) {
	h := newHarness(t)
	film := h.addVideo("Film")
	alice, marker := uuid.New(), uuid.New()
	h.watch(alice, film, 10)
	id := uuid.NewString()
	h.deleteUser(id, alice)
	h.waitForgotten(alice)

	// Alice's id is reused only to make a second effect observable: were the
	// redelivered event applied again, it would erase this new entry.
	h.watch(alice, film, 42)
	h.watch(marker, film, 1)
	h.deleteUser(id, alice)
	// Records of one partition are processed in order, so once the marker
	// is forgotten the duplicate before it has been dealt with.
	h.deleteUser(uuid.NewString(), marker)
	h.waitForgotten(marker)

	if got := h.history(alice); got[film.ID].PositionSeconds != 42 {
		t.Fatalf("alice's history = %+v; the duplicate event was applied twice", got)
	}
}

func TestVideoUpdatedRenames(t *testing.T) {
	h := newHarness(t)
	film, other := h.addVideo("Film"), h.addVideo("Other")
	alice, bob := uuid.New(), uuid.New()
	h.watch(alice, film, 500)
	h.watch(bob, film, 100)
	h.watch(bob, other, 100)

	h.publishEvent(h.videos, uuid.NewString(), film.ID.String(), &eventsv1.VideoPublished{VideoId: uuid.NewString(), Title: "ignored"})
	h.publishEvent(h.videos, uuid.NewString(), film.ID.String(), &eventsv1.VideoUpdated{
		VideoId: film.ID.String(), Title: "Film (Director's Cut)", DurationSeconds: 300,
		UpdatedAt: timestamppb.New(t0.Add(time.Hour)),
	})
	h.eventually(func() error {
		for _, user := range []uuid.UUID{alice, bob} {
			if e := h.history(user)[film.ID]; e.Title != "Film (Director's Cut)" || e.DurationSeconds != 300 {
				return fmt.Errorf("user %s sees %q (%d s)", user, e.Title, e.DurationSeconds)
			}
		}
		return nil
	})
	if e := h.history(alice)[film.ID]; e.PositionSeconds != 300 {
		t.Errorf("alice's position = %d, want clamped to the new duration 300", e.PositionSeconds)
	}
	if e := h.history(bob)[other.ID]; e.Title != "Other" {
		t.Errorf("another video was renamed to %q", e.Title)
	}
}

func TestVideoDeletedRemovesEntries(t *testing.T) {
	h := newHarness(t)
	film, other := h.addVideo("Film"), h.addVideo("Other")
	alice, bob := uuid.New(), uuid.New()
	h.watch(alice, film, 10)
	h.watch(bob, film, 10)
	h.watch(bob, other, 10)

	h.publishEvent(h.videos, uuid.NewString(), film.ID.String(), &eventsv1.VideoDeleted{VideoId: film.ID.String(), DeletedAt: timestamppb.Now()})
	h.eventually(func() error {
		if _, ok := h.history(alice)[film.ID]; ok {
			return errors.New("alice still has the deleted video")
		}
		if _, ok := h.history(bob)[film.ID]; ok {
			return errors.New("bob still has the deleted video")
		}
		return nil
	})
	if _, ok := h.history(bob)[other.ID]; !ok {
		t.Fatal("bob's entry for another video was removed")
	}
}

func TestPoisonIsDeadLettered(t *testing.T) {
	h := newHarness(t)
	film := h.addVideo("Film")
	alice := uuid.New()
	h.watch(alice, film, 10)

	typ := events.UsersTopic + ".UserDeleted"
	h.publish(h.users, uuid.NewString(), typ, "k", []byte{0xff, 0xff, 0xff}) // not protobuf
	h.publishEvent(h.users, uuid.NewString(), "k", &eventsv1.UserDeleted{UserId: "not-a-uuid"})
	h.publishEvent(h.videos, uuid.NewString(), "k", &eventsv1.VideoUpdated{VideoId: film.ID.String(), Title: "x", DurationSeconds: 10})          // no updated_at
	h.publishEvent(h.videos, uuid.NewString(), "k", &eventsv1.VideoUpdated{VideoId: film.ID.String(), Title: "x", UpdatedAt: timestamppb.Now()}) // duration 0

	kafkatest.WaitForRecords(t, h.brokers, events.DLQ(h.users), 2)
	kafkatest.WaitForRecords(t, h.brokers, events.DLQ(h.videos), 2)

	// The consumers moved on past the poison.
	h.deleteUser(uuid.NewString(), alice)
	h.waitForgotten(alice)
}

// TestNewerProducer: a producer newer than this consumer may add a field to
// an event and add event types (docs/versioning.md). The v1 consumer
// applies the event with the added field, ignoring the field, and skips the
// unknown type without dead-lettering it.
func TestNewerProducer(t *testing.T) {
	h := newHarness(t)
	film := h.addVideo("Film")
	alice := uuid.New()
	h.watch(alice, film, 10)

	// An event type this consumer's contract does not have yet, with a
	// payload it could not decode anyway.
	h.publish(h.users, uuid.NewString(), events.UsersTopic+".UserRenamed", alice.String(), []byte{0xff, 0xff})

	// UserDeleted as a newer schema writes it: the v1 fields plus field
	// 15, a string this consumer's generated code has never heard of.
	payload, err := proto.Marshal(&eventsv1.UserDeleted{UserId: alice.String(), DeletedAt: timestamppb.Now()})
	if err != nil {
		t.Fatal(err)
	}
	payload = protowire.AppendTag(payload, 15, protowire.BytesType)
	payload = protowire.AppendString(payload, "erasure requested by the user")
	h.publish(h.users, uuid.NewString(), events.Type(events.UsersTopic, &eventsv1.UserDeleted{}), alice.String(), payload)
	h.waitForgotten(alice)

	// Then a real poison record: the dead-letter topic holds it alone, so
	// the unknown type before it was skipped, not dead-lettered.
	poisonID := uuid.NewString()
	h.publishEvent(h.users, poisonID, "k", &eventsv1.UserDeleted{UserId: "not-a-uuid"})
	dlq := kafkatest.WaitForRecords(t, h.brokers, events.DLQ(h.users), 1)
	if len(dlq) != 1 || kafkatest.Header(dlq[0], kafkabus.HeaderID) != poisonID {
		t.Fatalf("dead-letter topic holds %d records (first ce_id %q), want only the poison %s",
			len(dlq), kafkatest.Header(dlq[0], kafkabus.HeaderID), poisonID)
	}
}
