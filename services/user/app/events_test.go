package app_test

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
)

func TestPublishesAccountEvents(t *testing.T) {
	for _, d := range databasetest.Backends() {
		t.Run(d.String(), func(t *testing.T) {
			brokers := kafkatest.Broker(t)
			cfg := testConfig(t, databasetest.URL(t, d))
			cfg.KafkaBrokers = brokers
			p, spans := telemetrytest.New(t)
			_, c := startAppWith(t, cfg, p)
			f := kafkatest.NewFeed(t, brokers, events.UsersTopic)

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

			got := map[string][]kafka.Message{u.ID: f.Wait(t, 2, kafkatest.Keyed(u.ID)), marker.ID: f.Wait(t, 1, kafkatest.Keyed(marker.ID))}
			if n := len(got[u.ID]); n != 2 {
				t.Fatalf("%d records keyed by the user, want UserCreated and UserDeleted", n)
			}
			createdRec, deletedRec := got[u.ID][0], got[u.ID][1]
			kafkatest.CheckEnvelope(t, createdRec, "vidstream.users.v1.UserCreated", "/services/user")
			kafkatest.CheckEnvelope(t, deletedRec, "vidstream.users.v1.UserDeleted", "/services/user")
			if kafkatest.Header(createdRec, kafkabus.HeaderID) == kafkatest.Header(deletedRec, kafkabus.HeaderID) {
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

			for _, m := range f.All() {
				if kafkatest.Header(m, kafkabus.HeaderType) != "vidstream.users.v1.UserCreated" {
					continue
				}
				var ev eventsv1.UserCreated
				if proto.Unmarshal(m.Value, &ev) == nil && ev.GetDisplayName() == twin {
					t.Errorf("the rolled-back sign-up was published: %v", &ev)
				}
			}

			kafkatest.AssertRequestTrace(t, spans, createdRec, events.UsersTopic, "POST /v1/users")
			kafkatest.AssertRequestTrace(t, spans, deletedRec, events.UsersTopic, "DELETE /v1/users/me")
		})
	}
}

// TestServesWhileKafkaIsDown starts the service with its broker stopped: it
// must start, serve sign-ups (their events wait in the outbox) and publish
// them once the broker is back.
func TestServesWhileKafkaIsDown(t *testing.T) {
	cluster := kafkatest.NewCluster(t)
	cluster.Stop()
	cfg := testConfig(t, databasetest.URL(t, "sqlite"))
	cfg.KafkaBrokers = cluster.Brokers()
	_, c := startApp(t, cfg)

	c.request(http.MethodGet, "/readyz", "", nil).want(http.StatusOK)
	u := c.register("offline-"+rand.Text()+"@example.com", "correct horse", "Offline")
	c.request(http.MethodGet, "/v1/users/"+u.ID, "", nil).want(http.StatusOK)

	cluster.Start()
	f := kafkatest.NewFeed(t, cluster.Brokers(), events.UsersTopic)
	got := f.Wait(t, 1, kafkatest.Keyed(u.ID))
	kafkatest.CheckEnvelope(t, got[0], "vidstream.users.v1.UserCreated", "/services/user")
}
