package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
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

	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
	"github.com/vidstream/vidstream/services/user/app"
	"github.com/vidstream/vidstream/services/user/internal/store"
)

// feed reads a topic from its start as the only member of a consumer group
// of its own, as a downstream service would, and keeps every record. The
// topic name is fixed by the contract, so on a shared real broker it also
// holds other tests' records: assertions pick theirs by key or content.
type feed struct {
	mu   sync.Mutex
	msgs []kafka.Message
}

func readTopic(t *testing.T, brokers []string, topic string) *feed {
	t.Helper()
	// A kafka-go group reader that joins before its topic exists does not
	// see the partitions until the next rebalance, so make sure it exists
	// (the service creates it too, in the background).
	if err := kafkabus.EnsureTopics(t.Context(), brokers, kafkabus.TopicSpec{Name: topic}); err != nil {
		t.Fatalf("ensure %s: %v", topic, err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     brokers,
		GroupID:     kafkatest.Name(t, "user-test-feed"),
		Topic:       topic,
		StartOffset: kafka.FirstOffset,
		// Close waits for the fetch in flight up to MaxWait.
		MaxWait: 100 * time.Millisecond,
	})
	f := &feed{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("read %s: %v", topic, err)
				}
				return
			}
			f.mu.Lock()
			f.msgs = append(f.msgs, m)
			f.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = r.Close()
	})
	return f
}

// wait polls until every key in counts has at least that many records and
// returns each key's records in topic order.
func (f *feed) wait(t *testing.T, counts map[string]int) map[string][]kafka.Message {
	t.Helper()
	var got map[string][]kafka.Message
	kafkatest.Eventually(t, func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		got = map[string][]kafka.Message{}
		for _, m := range f.msgs {
			if _, ok := counts[string(m.Key)]; ok {
				got[string(m.Key)] = append(got[string(m.Key)], m)
			}
		}
		for key, n := range counts {
			if len(got[key]) < n {
				return fmt.Errorf("%d of %d records keyed %s arrived", len(got[key]), n, key)
			}
		}
		return nil
	})
	return got
}

// all returns every record read so far.
func (f *feed) all() []kafka.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.msgs)
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// checkEnvelope checks the CloudEvents Kafka binary binding of a record
// (DESIGN §6).
func checkEnvelope(t *testing.T, m kafka.Message, wantType string) {
	t.Helper()
	for key, want := range map[string]string{
		kafkabus.HeaderSpecVersion: "1.0",
		kafkabus.HeaderType:        wantType,
		kafkabus.HeaderSource:      app.EventSource,
		kafkabus.HeaderContentType: "application/protobuf",
	} {
		if got := header(m, key); got != want {
			t.Errorf("%s record: %s = %q, want %q", wantType, key, got, want)
		}
	}
	if _, err := uuid.Parse(header(m, kafkabus.HeaderID)); err != nil {
		t.Errorf("%s record: ce_id %q is not a UUID", wantType, header(m, kafkabus.HeaderID))
	}
	if ts, err := time.Parse(time.RFC3339Nano, header(m, kafkabus.HeaderTime)); err != nil || ts.Location() != time.UTC {
		t.Errorf("%s record: ce_time %q is not RFC 3339 UTC (%v)", wantType, header(m, kafkabus.HeaderTime), err)
	}
}

func TestPublishesAccountEvents(t *testing.T) {
	for _, d := range databasetest.Backends() {
		t.Run(d.String(), func(t *testing.T) {
			brokers := kafkatest.Broker(t)
			cfg := testConfig(t, databaseURL(t, d))
			cfg.KafkaBrokers = brokers
			p, spans := telemetrytest.New(t)
			_, c := startAppWith(t, cfg, p)
			f := readTopic(t, brokers, store.UsersTopic)

			email := "ann-" + rand.Text() + "@example.com"
			u := c.register(email, "correct horse", "Ann")
			// The duplicate's transaction rolls back: its UserCreated, which
			// would carry this unique display name, must never be published.
			twin := "Twin " + rand.Text()
			c.request(http.MethodPost, "/v1/users", "", map[string]string{"email": email, "password": "correct horse", "display_name": twin}).
				want(http.StatusConflict)
			s := c.login(email, "correct horse")
			c.request(http.MethodDelete, "/v1/users/me", s.Token, nil).want(http.StatusNoContent)
			// The marker's event is enqueued after everything above. The
			// relay publishes in commit order and the topic has one
			// partition (EnsureTopics' default), so once the marker is read,
			// anything the steps above published has been read too.
			marker := c.register("marker-"+rand.Text()+"@example.com", "correct horse", "Marker")

			got := f.wait(t, map[string]int{u.ID: 2, marker.ID: 1})
			if n := len(got[u.ID]); n != 2 {
				t.Fatalf("%d records keyed by the user, want UserCreated and UserDeleted", n)
			}
			createdRec, deletedRec := got[u.ID][0], got[u.ID][1]
			checkEnvelope(t, createdRec, "vidstream.users.v1.UserCreated")
			checkEnvelope(t, deletedRec, "vidstream.users.v1.UserDeleted")
			if header(createdRec, kafkabus.HeaderID) == header(deletedRec, kafkabus.HeaderID) {
				t.Error("UserCreated and UserDeleted share a ce_id")
			}

			var created eventsv1.UserCreated
			if err := proto.Unmarshal(createdRec.Value, &created); err != nil {
				t.Fatalf("decode UserCreated: %v", err)
			}
			if created.GetUserId() != u.ID || created.GetDisplayName() != "Ann" || !created.GetCreatedAt().AsTime().Equal(u.CreatedAt) {
				t.Errorf("UserCreated = %v, want user %s, Ann, created at %s", &created, u.ID, u.CreatedAt)
			}
			// Personal data stays out of the replayable log.
			for _, h := range createdRec.Headers {
				if bytes.Contains(h.Value, []byte(email)) {
					t.Errorf("header %s carries the e-mail address", h.Key)
				}
			}
			if bytes.Contains(createdRec.Value, []byte(email)) {
				t.Error("UserCreated carries the e-mail address")
			}

			var deleted eventsv1.UserDeleted
			if err := proto.Unmarshal(deletedRec.Value, &deleted); err != nil {
				t.Fatalf("decode UserDeleted: %v", err)
			}
			if deleted.GetUserId() != u.ID || deleted.GetDeletedAt().AsTime().Before(u.CreatedAt) {
				t.Errorf("UserDeleted = %v, want user %s deleted after its creation", &deleted, u.ID)
			}

			for _, m := range f.all() {
				if header(m, kafkabus.HeaderType) != "vidstream.users.v1.UserCreated" {
					continue
				}
				var ev eventsv1.UserCreated
				if proto.Unmarshal(m.Value, &ev) == nil && ev.GetDisplayName() == twin {
					t.Errorf("the rolled-back sign-up was published: %v", &ev)
				}
			}

			assertRequestTrace(t, spans, createdRec, "POST /v1/users")
			assertRequestTrace(t, spans, deletedRec, "DELETE /v1/users/me")
		})
	}
}

// assertRequestTrace checks DESIGN §7 for one record: its traceparent is the
// relay's producer span, which belongs to the trace of the request that
// caused the event.
func assertRequestTrace(t *testing.T, spans *tracetest.SpanRecorder, m kafka.Message, request string) {
	t.Helper()
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(t.Context(),
		propagation.MapCarrier{"traceparent": header(m, "traceparent")}))
	if !sc.IsValid() {
		t.Fatalf("record carries no valid traceparent: %q", header(m, "traceparent"))
	}
	kafkatest.Eventually(t, func() error {
		var producer, server bool
		for _, s := range spans.Ended() {
			if s.SpanContext().TraceID() != sc.TraceID() {
				continue
			}
			if s.SpanContext().SpanID() == sc.SpanID() {
				producer = s.Name() == store.UsersTopic+" publish" && s.SpanKind() == trace.SpanKindProducer
			}
			server = server || (s.Name() == request && s.SpanKind() == trace.SpanKindServer)
		}
		if !producer || !server {
			return fmt.Errorf("trace %s: producer span named by traceparent %v, %q server span %v",
				sc.TraceID(), producer, request, server)
		}
		return nil
	})
}

// TestServesWhileKafkaIsDown starts the service with its broker stopped: it
// must start, serve sign-ups (their events wait in the outbox) and publish
// them once the broker is back.
func TestServesWhileKafkaIsDown(t *testing.T) {
	cluster := kafkatest.NewCluster(t)
	cluster.Stop()
	cfg := testConfig(t, databaseURL(t, "sqlite"))
	cfg.KafkaBrokers = cluster.Brokers()
	_, c := startApp(t, cfg)

	c.request(http.MethodGet, "/readyz", "", nil).want(http.StatusOK)
	u := c.register("offline-"+rand.Text()+"@example.com", "correct horse", "Offline")
	c.request(http.MethodGet, "/v1/users/"+u.ID, "", nil).want(http.StatusOK)

	cluster.Start()
	f := readTopic(t, cluster.Brokers(), store.UsersTopic)
	got := f.wait(t, map[string]int{u.ID: 1})
	checkEnvelope(t, got[u.ID][0], "vidstream.users.v1.UserCreated")
}
