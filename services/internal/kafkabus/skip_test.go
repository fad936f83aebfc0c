package kafkabus_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vidstream/vidstream/services/api/events"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
)

// A record the handler skips (an event type newer than the consumer) is
// acknowledged and counted with outcome "skipped", never retried nor
// dead-lettered, and the consumer moves on.
func TestConsumerSkipsWithoutDeadLettering(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, kafkatest.Broker(t), 1)
		newer := record(t, f.topic, uuid.NewString(), "u1", progressed("x"))
		for i, h := range newer.Headers {
			if h.Key == kafkabus.HeaderType {
				newer.Headers[i].Value = []byte(f.topic + ".WatchRated")
			}
		}
		good := uuid.NewString()
		poison := record(t, f.topic, uuid.NewString(), "u1", progressed("x"))
		poison.Value = []byte{0xff, 0xff, 0xff}
		kafkatest.Publish(t, f.brokers, newer, record(t, f.topic, good, "u1", progressed("v1")), poison)

		var attemptsOnNewer int
		h := func(ctx context.Context, tx *sql.Tx, m kafkabus.Message) error {
			if strings.HasSuffix(m.Type(), ".WatchRated") {
				attemptsOnNewer++
				return kafkabus.Skip("unknown event type " + m.Type())
			}
			return effectHandler(ctx, tx, m)
		}
		p, _, reader := telemetrytest.NewWithMetrics(t)
		stop := start(t, f.consumer(t, h, p))

		dlq := kafkatest.WaitForRecords(t, f.brokers, events.DLQ(f.topic), 1)
		waitCommitted(t, f, 0, 3)
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if len(dlq) != 1 || kafkatest.Header(dlq[0], kafkabus.HeaderID) != kafkatest.Header(poison, kafkabus.HeaderID) {
			t.Fatalf("dead-letter topic: %d records, want the poison alone", len(dlq))
		}
		if got := f.effects(t); len(got) != 1 || got[good] != 1 {
			t.Fatalf("effects = %v, want %s once", got, good)
		}
		if attemptsOnNewer != 1 {
			t.Fatalf("skipped record handled %d times, want once (no retries)", attemptsOnNewer)
		}

		var rm metricdata.ResourceMetrics
		if err := reader.Collect(t.Context(), &rm); err != nil {
			t.Fatal(err)
		}
		skipped := int64(0)
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name != "messaging.client.consumed.messages" {
					continue
				}
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					if v, _ := dp.Attributes.Value("vidstream.consumer.outcome"); v.AsString() == "skipped" {
						skipped += dp.Value
					}
				}
			}
		}
		if skipped != 1 {
			t.Fatalf("consumed messages with outcome skipped = %d, want 1", skipped)
		}
	})
}
