package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
)

// watchFeed is a real kafkabus consumer of vidstream.watch.v1, in a group of
// its own, that keeps the records keyed by one user: the view a downstream
// service (video's view counter) gets of watch history's events.
type watchFeed struct {
	mu   sync.Mutex
	msgs []kafkabus.Message
}

func consumeWatch(t *testing.T, brokers []string, userID string) *watchFeed {
	t.Helper()
	// The service creates the topic in the background; a group consumer
	// that joined before it existed would not see its partitions until the
	// next rebalance (a kafka-go limitation), so make sure it exists.
	if err := kafkabus.EnsureTopics(t.Context(), brokers, kafkabus.TopicSpec{Name: events.WatchTopic}); err != nil {
		t.Fatalf("ensure %s: %v", events.WatchTopic, err)
	}
	db := databasetest.OpenSQLite(t, nil)
	if err := kafkabus.MigrateInbox(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	f := &watchFeed{}
	c, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{
		Brokers: brokers,
		GroupID: kafkatest.Name(t, "watch-feed"),
		Topic:   events.WatchTopic,
	}, db, func(_ context.Context, _ *sql.Tx, m kafkabus.Message) error {
		if string(m.Key) == userID {
			f.mu.Lock()
			f.msgs = append(f.msgs, m)
			f.mu.Unlock()
		}
		return nil
	}, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "watch feed consumer", c.Run)
	return f
}

// wait returns the first n records, failing t if they do not arrive.
func (f *watchFeed) wait(t *testing.T, n int) []kafkabus.Message {
	t.Helper()
	var got []kafkabus.Message
	eventually(t, func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.msgs) < n {
			return fmt.Errorf("%d of %d records arrived", len(f.msgs), n)
		}
		got = slices.Clone(f.msgs)
		return nil
	})
	return got
}

func TestOutboxPublishesWatchEvents(t *testing.T) {
	e := startDependencies(t, kafkatest.Broker(t))
	p, spans := telemetrytest.New(t)
	e.startHistory(t, historyConfig(t, e, sqliteBackend(t)), p)
	owner, viewer := e.newUser(t), e.newUser(t)
	v := e.newVideo(t, owner, "Night Train", 100)
	feed := consumeWatch(t, e.brokers, viewer.id)

	// 95 completes the video; rewinding to 20 and reaching 99 again must
	// not publish a second VideoWatched.
	for _, pos := range []int{10, 95, 20, 99} {
		e.put(t, viewer, v.ID, pos)
	}
	type want struct {
		typ       string
		position  int32
		completed bool
	}
	wants := []want{
		{"WatchProgressed", 10, false},
		{"WatchProgressed", 95, true},
		{"VideoWatched", 0, false},
		{"WatchProgressed", 20, true},
		{"WatchProgressed", 99, true},
	}
	got := feed.wait(t, len(wants))
	seen := map[string]bool{}
	for i, m := range got {
		w := wants[i]
		if m.Type() != events.WatchTopic+"."+w.typ {
			t.Fatalf("record %d has ce_type %q, want %s: the order of one user's events must be kept", i, m.Type(), w.typ)
		}
		for header, value := range map[string]string{
			kafkabus.HeaderSpecVersion: kafkabus.SpecVersion,
			kafkabus.HeaderSource:      "/services/watch-history",
			kafkabus.HeaderContentType: kafkabus.ContentTypeProtobuf,
		} {
			if got, _ := m.Header(header); got != value {
				t.Errorf("record %d: %s = %q, want %q", i, header, got, value)
			}
		}
		if _, err := uuid.Parse(m.ID()); err != nil || seen[m.ID()] {
			t.Errorf("record %d: ce_id %q is not a fresh UUID", i, m.ID())
		}
		seen[m.ID()] = true
		switch w.typ {
		case "WatchProgressed":
			var ev eventsv1.WatchProgressed
			if err := proto.Unmarshal(m.Value, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.GetUserId() != viewer.id || ev.GetVideoId() != v.ID || ev.GetPositionSeconds() != w.position ||
				ev.GetDurationSeconds() != 100 || ev.GetCompleted() != w.completed || ev.GetOccurredAt() == nil {
				t.Errorf("record %d = %v, want position %d completed %v", i, &ev, w.position, w.completed)
			}
		case "VideoWatched":
			var ev eventsv1.VideoWatched
			if err := proto.Unmarshal(m.Value, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.GetUserId() != viewer.id || ev.GetVideoId() != v.ID || ev.GetWatchedAt() == nil {
				t.Errorf("record %d = %v", i, &ev)
			}
		}
	}

	assertOneTrace(t, spans, got[0])

	// Another user completing the same video gets a VideoWatched of their
	// own: "once" is per user and video.
	other := e.newUser(t)
	otherFeed := consumeWatch(t, e.brokers, other.id)
	e.put(t, other, v.ID, 100)
	if got := otherFeed.wait(t, 2); got[1].Type() != events.WatchTopic+".VideoWatched" {
		t.Fatalf("second viewer's records: %s, %s", got[0].Type(), got[1].Type())
	}
}

// assertOneTrace checks watch history's share of the one-trace design
// (docs/architecture.md#one-trace): the record
// published for a PUT continues the request's trace, which also holds the
// gRPC calls to user and video and the relay's producer span.
func assertOneTrace(t *testing.T, spans *tracetest.SpanRecorder, m kafkabus.Message) {
	t.Helper()
	parent, _ := m.Header("traceparent")
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(t.Context(),
		propagation.MapCarrier{"traceparent": parent}))
	if !sc.IsValid() {
		t.Fatalf("record carries no valid traceparent: %q", parent)
	}
	want := map[string]trace.SpanKind{
		"PUT /v1/history/{video_id}":                      trace.SpanKindServer,
		"vidstream.user.v1.UserService/AuthenticateToken": trace.SpanKindClient,
		"vidstream.video.v1.VideoService/GetVideo":        trace.SpanKindClient,
		"send " + events.WatchTopic:                       trace.SpanKindProducer,
	}
	eventually(t, func() error {
		found := map[string]bool{}
		for _, s := range spans.Ended() {
			if s.SpanContext().TraceID() == sc.TraceID() && want[s.Name()] == s.SpanKind() {
				found[s.Name()] = true
			}
		}
		for name := range want {
			if !found[name] {
				return fmt.Errorf("no %q span in trace %s", name, sc.TraceID())
			}
		}
		return nil
	})
	// The record's traceparent is the producer span itself, so a
	// consumer's span becomes its child.
	for _, s := range spans.Ended() {
		if s.SpanContext().SpanID() == sc.SpanID() && s.Name() != "send "+events.WatchTopic {
			t.Fatalf("traceparent names span %q, want the producer span", s.Name())
		}
	}
}

// TestServesWhileKafkaIsDown starts watch history with its broker stopped:
// it must start, accept reports (their events wait in the outbox) and, once
// the broker is back, publish them and start consuming.
func TestServesWhileKafkaIsDown(t *testing.T) {
	cluster := kafkatest.NewCluster(t)
	cluster.Stop()
	e := startDependencies(t, cluster.Brokers())
	p, _ := telemetrytest.New(t)
	e.startHistory(t, historyConfig(t, e, sqliteBackend(t)), p)

	if r := e.history(t, http.MethodGet, "/readyz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("readyz with Kafka down: %d %s", r.Status, r.Body)
	}
	owner, viewer := e.newUser(t), e.newUser(t)
	v := e.newVideo(t, owner, "Offline", 100)
	e.put(t, viewer, v.ID, 10)
	e.put(t, viewer, v.ID, 95)
	if p := e.list(t, viewer, ""); len(p.Items) != 1 || !p.Items[0].Completed {
		t.Fatalf("listing with Kafka down = %+v", p)
	}

	cluster.Start()
	// The service creates the topic and publishes what waited in the
	// outbox once it reaches the broker.
	kafkatest.WaitForRecords(t, e.brokers, events.WatchTopic, 1)
	feed := consumeWatch(t, e.brokers, viewer.id)
	got := feed.wait(t, 3)
	var types []string
	for _, m := range got {
		types = append(types, m.Type())
	}
	want := []string{events.WatchTopic + ".WatchProgressed", events.WatchTopic + ".WatchProgressed", events.WatchTopic + ".VideoWatched"}
	if !slices.Equal(types, want) {
		t.Fatalf("published after the outage: %v, want %v", types, want)
	}

	// The consumers came up too.
	publish(t, e.brokers, events.UsersTopic, viewer.id, &eventsv1.UserDeleted{UserId: viewer.id, DeletedAt: timestamppb.Now()})
	eventually(t, func() error {
		if p := e.list(t, viewer, ""); len(p.Items) != 0 {
			return fmt.Errorf("%d entries left", len(p.Items))
		}
		return nil
	})
}

// TestConsumesCatalogAndAccountEvents drives the service's own consumer
// groups with the events user and video publish.
func TestConsumesCatalogAndAccountEvents(t *testing.T) {
	e := newEnv(t, sqliteBackend)
	owner, alice, bob := e.newUser(t), e.newUser(t), e.newUser(t)
	film, show := e.newVideo(t, owner, "Film", 100), e.newVideo(t, owner, "Show", 100)
	e.put(t, alice, film.ID, 50)
	e.put(t, alice, show.ID, 50)
	e.put(t, bob, film.ID, 80)

	publish(t, e.brokers, events.VideosTopic, film.ID, &eventsv1.VideoUpdated{
		VideoId: film.ID, Title: "Film (Restored)", DurationSeconds: 60,
		UpdatedAt: timestamppb.New(time.Now().Add(time.Hour)),
	})
	eventually(t, func() error {
		for _, u := range []user{alice, bob} {
			p := e.list(t, u, "")
			i := slices.IndexFunc(p.Items, func(it entry) bool { return it.VideoID == film.ID })
			if i < 0 || p.Items[i].Title != "Film (Restored)" || p.Items[i].DurationSeconds != 60 {
				return fmt.Errorf("user %s sees %+v", u.id, p.Items)
			}
		}
		return nil
	})
	if p := e.list(t, bob, ""); p.Items[0].PositionSeconds != 60 {
		t.Errorf("bob's position %d, want clamped to the new duration", p.Items[0].PositionSeconds)
	}

	publish(t, e.brokers, events.VideosTopic, show.ID, &eventsv1.VideoDeleted{VideoId: show.ID, DeletedAt: timestamppb.Now()})
	publish(t, e.brokers, events.UsersTopic, bob.id, &eventsv1.UserDeleted{UserId: bob.id, DeletedAt: timestamppb.Now()})
	eventually(t, func() error {
		if p := e.list(t, alice, ""); len(p.Items) != 1 || p.Items[0].VideoID != film.ID {
			return fmt.Errorf("alice has %+v, want only the film", p.Items)
		}
		if p := e.list(t, bob, ""); len(p.Items) != 0 {
			return fmt.Errorf("bob still has %+v", p.Items)
		}
		return nil
	})
}

// publish writes one event the way the producing service's outbox does.
func publish(t *testing.T, brokers []string, topic, key string, m proto.Message) {
	t.Helper()
	payload, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.Publish(t, brokers, kafka.Message{
		Topic: topic,
		Key:   []byte(key),
		Value: payload,
		Headers: []kafka.Header{
			{Key: kafkabus.HeaderSpecVersion, Value: []byte(kafkabus.SpecVersion)},
			{Key: kafkabus.HeaderID, Value: []byte(uuid.NewString())},
			{Key: kafkabus.HeaderType, Value: []byte(events.Type(topic, m))},
			{Key: kafkabus.HeaderSource, Value: []byte("/services/test")},
			{Key: kafkabus.HeaderTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
			{Key: kafkabus.HeaderContentType, Value: []byte(kafkabus.ContentTypeProtobuf)},
		},
	})
}
