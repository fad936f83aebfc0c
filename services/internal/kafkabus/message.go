package kafkabus

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
)

// CloudEvents Kafka binary binding header names (CloudEvents 1.0, Kafka
// protocol binding, section 3.2). The envelope travels in headers so that the
// payload stays the plain protobuf message.
const (
	HeaderSpecVersion = "ce_specversion"
	HeaderID          = "ce_id"
	HeaderType        = "ce_type"
	HeaderSource      = "ce_source"
	HeaderTime        = "ce_time"
	HeaderContentType = "content-type"
)

// Values the producer side puts in the envelope.
const (
	SpecVersion         = "1.0"
	ContentTypeProtobuf = "application/protobuf"
)

// Message is one record as a Handler sees it.
type Message struct {
	Topic     string
	Key       []byte
	Value     []byte
	Headers   []kafka.Header
	Partition int
	Offset    int64
	// Time is the record's timestamp: when the producer wrote it.
	Time time.Time
}

// Header returns the value of the first header named key, and whether there
// is one.
func (m Message) Header(key string) (string, bool) {
	return header(m.Headers, key)
}

// ID returns the record's ce_id, the idempotency key; empty if absent.
func (m Message) ID() string {
	v, _ := m.Header(HeaderID)
	return v
}

// Type returns the record's ce_type, e.g. "vidstream.users.v1.UserDeleted";
// empty if absent. A handler switches on it to pick the payload's message
// type.
func (m Message) Type() string {
	v, _ := m.Header(HeaderType)
	return v
}

func fromKafka(km kafka.Message) Message {
	return Message{
		Topic:     km.Topic,
		Key:       km.Key,
		Value:     km.Value,
		Headers:   km.Headers,
		Partition: km.Partition,
		Offset:    km.Offset,
		Time:      km.Time,
	}
}

func header(hs []kafka.Header, key string) (string, bool) {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// Carrier adapts a record's headers to an OpenTelemetry TextMapCarrier, so a
// propagator can inject trace context into a record being built or extract
// it from one received. Set replaces an existing header of the same name:
// a record forwarded with a new traceparent must not carry two.
func Carrier(headers *[]kafka.Header) propagation.TextMapCarrier {
	return headerCarrier{headers: headers}
}

type headerCarrier struct{ headers *[]kafka.Header }

func (c headerCarrier) Get(key string) string {
	v, _ := header(*c.headers, key)
	return v
}

func (c headerCarrier) Set(key, value string) {
	for i, h := range *c.headers {
		if h.Key == key {
			(*c.headers)[i].Value = []byte(value)
			return
		}
	}
	*c.headers = append(*c.headers, kafka.Header{Key: key, Value: []byte(value)})
}

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(*c.headers))
	for _, h := range *c.headers {
		keys = append(keys, h.Key)
	}
	return keys
}

// Publisher writes records to Kafka and returns once the broker acknowledged
// every one of them, or with an error. When some records failed and others
// did not, the error is (or wraps) a kafka.WriteErrors with one entry per
// record, nil where the record was written, so a caller can tell which ones
// to retry.
type Publisher interface {
	Publish(ctx context.Context, msgs ...kafka.Message) error
}
