package kafkabus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"

	"github.com/vidstream/vidstream/services/api/events"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

func TestEnsureTopicsCreatesTopicAndDLQIdempotently(t *testing.T) {
	brokers := kafkatest.Broker(t)
	topic := kafkatest.Name(t, "topic")
	spec := kafkabus.TopicSpec{Name: topic, Partitions: 3}
	for range 2 {
		if err := kafkabus.EnsureTopics(t.Context(), brokers, spec); err != nil {
			t.Fatalf("EnsureTopics: %v", err)
		}
	}
	transport := &kafka.Transport{} // fresh: no cached metadata from before the topics existed
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: transport}
	md, err := client.Metadata(t.Context(), &kafka.MetadataRequest{Topics: []string{topic, events.DLQ(topic)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range md.Topics {
		if tp.Error != nil || len(tp.Partitions) != 3 {
			t.Errorf("topic %s: err %v, %d partitions, want 3", tp.Name, tp.Error, len(tp.Partitions))
		}
	}
	if len(md.Topics) != 2 {
		t.Fatalf("metadata lists %d topics, want the topic and its DLQ", len(md.Topics))
	}
}

// TestManagedTopicGateWaitsWithoutCreating: where a platform owns the
// topics, a service must not create them (with its own idea of partitions
// and settings), only wait for them.
func TestManagedTopicGateWaitsWithoutCreating(t *testing.T) {
	brokers := kafkatest.Broker(t)
	topic := kafkatest.Name(t, "managed")
	spec := kafkabus.TopicSpec{Name: topic, Partitions: 2}
	if err := kafkabus.TopicsExist(t.Context(), brokers, spec); err == nil {
		t.Fatal("TopicsExist: nil before the topics were created")
	}

	gate := kafkabus.NewTopicGate(brokers, true, telemetry.Noop().Logger, spec)
	ensured := make(chan error, 1)
	go func() { ensured <- gate.Ensure(t.Context()) }()
	ran := make(chan struct{})
	go func() {
		_ = gate.Then(func(context.Context) error { close(ran); return nil })(t.Context())
	}()

	// The gate looks (TopicsExist) but never creates: the topic is still
	// missing however often it has looked, until someone else creates it.
	if err := kafkabus.TopicsExist(t.Context(), brokers, spec); err == nil {
		t.Fatal("the managed gate created the topics")
	}
	kafkatest.CreateTopic(t, brokers, topic, 2)
	select {
	case <-ran:
	case <-time.After(30 * time.Second):
		t.Fatal("the gate did not open within 30s of the topics existing")
	}
	if err := <-ensured; err != nil {
		t.Errorf("Ensure: %v", err)
	}
}

func TestProducerKeepsKeyOrderAndNeverCreatesTopics(t *testing.T) {
	brokers := kafkatest.Broker(t)
	topic := kafkatest.Name(t, "topic")
	kafkatest.CreateTopic(t, brokers, topic, 4)
	pr := kafkabus.NewProducer(brokers, telemetry.Noop())
	t.Cleanup(func() { _ = pr.Close() })

	var msgs []kafka.Message
	for i := range 50 {
		msgs = append(msgs, kafka.Message{Topic: topic, Key: fmt.Appendf(nil, "key-%d", i%5), Value: fmt.Appendf(nil, "%d", i)})
	}
	if err := pr.Publish(t.Context(), msgs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := kafkatest.WaitForRecords(t, brokers, topic, 50)
	partitionOf := map[string]int{}
	last := map[string]int{}
	for _, m := range got {
		k := string(m.Key)
		if p, ok := partitionOf[k]; ok && p != m.Partition {
			t.Fatalf("key %s on partitions %d and %d", k, p, m.Partition)
		}
		partitionOf[k] = m.Partition
		var v int
		if _, err := fmt.Sscan(string(m.Value), &v); err != nil {
			t.Fatal(err)
		}
		if prev, ok := last[k]; ok && v <= prev {
			t.Fatalf("key %s: %d after %d", k, v, prev)
		}
		last[k] = v
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	missing := kafkatest.Name(t, "missing")
	if err := pr.Publish(ctx, kafka.Message{Topic: missing, Value: []byte("x")}); err == nil {
		t.Fatalf("Publish to a missing topic succeeded: it must not be auto-created")
	}
}

func TestGroupMembersShareTheWorkAndApplyEachEventOnce(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, kafkatest.Broker(t), 4)
		start(t, f.consumer(t, effectHandler, telemetry.Noop()))
		start(t, f.consumer(t, effectHandler, telemetry.Noop()))
		kafkatest.WaitGroupStable(t, f.brokers, f.group, 2)

		var msgs []kafka.Message
		for i := range 40 {
			msgs = append(msgs, record(t, f.topic, uuid.NewString(), fmt.Sprintf("user-%d", i%10), progressed(fmt.Sprint(i))))
		}
		kafkatest.Publish(t, f.brokers, msgs...)
		got := f.waitEffects(t, 40)
		for id, n := range got {
			if n != 1 {
				t.Errorf("event %s applied %d times", id, n)
			}
		}
		if len(got) != 40 {
			t.Fatalf("%d distinct events applied, want 40", len(got))
		}
	})
}

func TestCarrierRoundTripsTraceContext(t *testing.T) {
	prop := propagation.TraceContext{}
	in := propagation.MapCarrier{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	ctx := prop.Extract(context.Background(), in)

	headers := []kafka.Header{{Key: "traceparent", Value: []byte("stale")}, {Key: "ce_id", Value: []byte("x")}}
	prop.Inject(ctx, kafkabus.Carrier(&headers))
	if len(headers) != 2 {
		t.Fatalf("Set appended instead of replacing: %v", headers)
	}
	if got := kafkabus.Carrier(&headers).Get("traceparent"); got != in["traceparent"] {
		t.Fatalf("traceparent = %q, want %q", got, in["traceparent"])
	}
	if keys := kafkabus.Carrier(&headers).Keys(); len(keys) != 2 {
		t.Fatalf("Keys = %v", keys)
	}
}

func TestPermanent(t *testing.T) {
	if kafkabus.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
	err := fmt.Errorf("handle: %w", kafkabus.Permanent(io.ErrUnexpectedEOF))
	if !kafkabus.IsPermanent(err) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("wrapped Permanent lost: IsPermanent=%v Is=%v", kafkabus.IsPermanent(err), errors.Is(err, io.ErrUnexpectedEOF))
	}
	if kafkabus.IsPermanent(io.EOF) {
		t.Fatal("plain error reported permanent")
	}
}

func TestMigrateInboxIsIdempotent(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		for range 2 {
			if err := kafkabus.MigrateInbox(t.Context(), db); err != nil {
				t.Fatalf("MigrateInbox: %v", err)
			}
		}
	})
}
