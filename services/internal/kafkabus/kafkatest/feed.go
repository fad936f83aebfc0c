package kafkatest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/kafkabus"
)

// Feed reads a topic from its start as the only member of a consumer group
// of its own, as a downstream service would, and keeps every record. On a
// shared real broker a contract topic also holds other tests' records:
// assertions pick theirs by key or content (Keyed).
type Feed struct {
	mu   sync.Mutex
	msgs []kafka.Message
}

// NewFeed starts reading topic (creating it, and its dead-letter topic, if
// missing) until tb ends.
func NewFeed(tb testing.TB, brokers []string, topic string) *Feed {
	tb.Helper()
	// A kafka-go group reader that joins before its topic exists does not
	// see the partitions until the next rebalance.
	if err := kafkabus.EnsureTopics(tb.Context(), brokers, kafkabus.TopicSpec{Name: topic}); err != nil {
		tb.Fatalf("kafkatest: ensure %s: %v", topic, err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     brokers,
		GroupID:     Name(tb, "feed"),
		Topic:       topic,
		StartOffset: kafka.FirstOffset,
		// Close waits for the fetch in flight up to MaxWait.
		MaxWait: 100 * time.Millisecond,
	})
	f := &Feed{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					tb.Errorf("kafkatest: read %s: %v", topic, err)
				}
				return
			}
			f.mu.Lock()
			f.msgs = append(f.msgs, m)
			f.mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
		_ = r.Close()
	})
	return f
}

// Wait polls until at least n records match keep and returns them in topic
// order.
func (f *Feed) Wait(tb testing.TB, n int, keep func(kafka.Message) bool) []kafka.Message {
	tb.Helper()
	var got []kafka.Message
	Eventually(tb, func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		got = slices.DeleteFunc(slices.Clone(f.msgs), func(m kafka.Message) bool { return !keep(m) })
		if len(got) < n {
			return fmt.Errorf("%d of %d records arrived", len(got), n)
		}
		return nil
	})
	return got
}

// All returns every record read so far.
func (f *Feed) All() []kafka.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.msgs)
}

// Keyed selects the records with key.
func Keyed(key string) func(kafka.Message) bool {
	return func(m kafka.Message) bool { return string(m.Key) == key }
}

// Header returns the value of m's header key, "" if it has none.
func Header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// CheckEnvelope checks a record's CloudEvents Kafka binary binding
// (docs/architecture.md#event-envelope): spec version, type, source, content type, a UUID ce_id and an
// RFC 3339 UTC ce_time.
func CheckEnvelope(tb testing.TB, m kafka.Message, wantType, wantSource string) {
	tb.Helper()
	for key, want := range map[string]string{
		kafkabus.HeaderSpecVersion: "1.0",
		kafkabus.HeaderType:        wantType,
		kafkabus.HeaderSource:      wantSource,
		kafkabus.HeaderContentType: "application/protobuf",
	} {
		if got := Header(m, key); got != want {
			tb.Errorf("%s record: %s = %q, want %q", wantType, key, got, want)
		}
	}
	if _, err := uuid.Parse(Header(m, kafkabus.HeaderID)); err != nil {
		tb.Errorf("%s record: ce_id %q is not a UUID", wantType, Header(m, kafkabus.HeaderID))
	}
	if ts, err := time.Parse(time.RFC3339Nano, Header(m, kafkabus.HeaderTime)); err != nil || ts.Location() != time.UTC {
		tb.Errorf("%s record: ce_time %q is not RFC 3339 UTC (%v)", wantType, Header(m, kafkabus.HeaderTime), err)
	}
}

// AssertRequestTrace checks the one-trace design (docs/architecture.md#one-trace)
// for one record of topic: its
// traceparent names the outbox relay's PRODUCER span, which belongs to the
// trace of the request (a SERVER span named request) that caused the event.
func AssertRequestTrace(tb testing.TB, spans *tracetest.SpanRecorder, m kafka.Message, topic, request string) {
	tb.Helper()
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(tb.Context(),
		propagation.MapCarrier{"traceparent": Header(m, "traceparent")}))
	if !sc.IsValid() {
		tb.Fatalf("record carries no valid traceparent: %q", Header(m, "traceparent"))
	}
	Eventually(tb, func() error {
		var producer, server bool
		for _, s := range spans.Ended() {
			if s.SpanContext().TraceID() != sc.TraceID() {
				continue
			}
			if s.SpanContext().SpanID() == sc.SpanID() {
				producer = s.Name() == "send "+topic && s.SpanKind() == trace.SpanKindProducer
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
