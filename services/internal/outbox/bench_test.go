package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// The two benchmarks below publish the same records (same keys, payloads
// and CloudEvents headers, batches of the relay's default size) to the same
// kind of broker, so that their events/s compare the relay with the least a
// Kafka producer has to do. What the relay adds: reading and deleting the
// rows (in a transaction that, on PostgreSQL, also claims lanes), decoding
// the stored headers, and a span per event.
//
//	go test ./services/internal/outbox -run '^$' -bench 'Relay|BareWriter' -benchtime 20000x

const (
	benchPartitions = 8
	benchKeys       = 1000
	benchBatch      = 100 // RelayOptions.BatchSize's default
)

// BenchmarkRelay measures how fast a relay drains a backlog of b.N events.
// Enqueueing them is the service's cost, not the relay's, and is not timed.
func BenchmarkRelay(b *testing.B) {
	for _, d := range databasetest.Backends() {
		b.Run(d.String(), func(b *testing.B) {
			db := databasetest.Open(b, d, nil)
			if err := outbox.Migrate(b.Context(), db); err != nil {
				b.Fatal(err)
			}
			brokers := kafkatest.Broker(b)
			topic := kafkatest.Name(b, "bench")
			kafkatest.CreateTopic(b, brokers, topic, benchPartitions)
			ob := outbox.New(db, "/services/bench", telemetry.Noop())
			pr := kafkabus.NewProducer(brokers, telemetry.Noop())
			b.Cleanup(func() { _ = pr.Close() })
			relay := outbox.NewRelay(db, pr, telemetry.Noop(), outbox.RelayOptions{BatchSize: benchBatch})

			b.StopTimer()
			for i := 0; i < b.N; i += benchBatch {
				events := make([]outbox.Event, 0, benchBatch)
				for j := i; j < min(i+benchBatch, b.N); j++ {
					events = append(events, outbox.Event{Topic: topic, Key: benchKey(j), Payload: progressed(benchKey(j), int32(j))})
				}
				if err := db.InTx(b.Context(), func(tx *sql.Tx) error { return ob.Enqueue(b.Context(), tx, events...) }); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()

			for published := 0; published < b.N; {
				n, err := relay.RunOnce(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				published += n
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkBareWriter writes the same records with a kafka-go Writer
// configured as kafkabus.Producer configures it, and nothing else.
func BenchmarkBareWriter(b *testing.B) {
	brokers := kafkatest.Broker(b)
	topic := kafkatest.Name(b, "bench")
	kafkatest.CreateTopic(b, brokers, topic, benchPartitions)
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		BatchSize:    kafkabus.DefaultBatchSize,
		Transport:    &kafka.Transport{},
	}
	b.Cleanup(func() { _ = w.Close() })

	b.StopTimer()
	msgs := make([]kafka.Message, b.N)
	for i := range msgs {
		msgs[i] = benchRecord(b, topic, i)
	}
	b.StartTimer()

	for i := 0; i < b.N; i += benchBatch {
		if err := w.WriteMessages(context.Background(), msgs[i:min(i+benchBatch, b.N)]...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func benchKey(i int) string { return fmt.Sprintf("user-%04d", i%benchKeys) }

// benchRecord is the record the relay would publish for event i.
func benchRecord(b *testing.B, topic string, i int) kafka.Message {
	b.Helper()
	value, err := proto.Marshal(progressed(benchKey(i), int32(i)))
	if err != nil {
		b.Fatal(err)
	}
	h := func(k, v string) kafka.Header { return kafka.Header{Key: k, Value: []byte(v)} }
	return kafka.Message{
		Topic: topic,
		Key:   []byte(benchKey(i)),
		Value: value,
		Headers: []kafka.Header{
			h(kafkabus.HeaderContentType, kafkabus.ContentTypeProtobuf),
			h(kafkabus.HeaderID, "0196f1c2-3a4b-7c5d-8e9f-0a1b2c3d4e5f"),
			h(kafkabus.HeaderSource, "/services/bench"),
			h(kafkabus.HeaderSpecVersion, kafkabus.SpecVersion),
			h(kafkabus.HeaderTime, time.Now().UTC().Format(time.RFC3339Nano)),
			h(kafkabus.HeaderType, topic+".WatchProgressed"),
		},
	}
}
