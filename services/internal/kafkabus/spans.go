package kafkabus

import (
	"context"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Messaging spans follow the OpenTelemetry semantic conventions for
// messaging and Kafka, version 1.44 (semconv v1.43.0's Go constants carry the
// same keys and values). A span is named "{messaging.operation.name}
// {destination}": "send vidstream.watch.v1" for a PRODUCER span,
// "process vidstream.watch.v1" for a CONSUMER span.
const (
	opSend    = "send"
	opProcess = "process"
)

// StartSendSpan starts the PRODUCER span of sending m, named and attributed
// per the messaging conventions. The caller injects the returned context
// into m's headers if consumers are to continue the trace, publishes m, and
// ends the span.
//
// The partition and offset are not attributes: the writer's balancer picks
// the partition inside Publish, and a batch's offsets are not reported back.
func StartSendSpan(ctx context.Context, tracer trace.Tracer, m kafka.Message) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemKafka,
		semconv.MessagingOperationName(opSend),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingDestinationName(m.Topic),
		semconv.MessagingKafkaMessageKey(string(m.Key)),
		semconv.MessagingMessageBodySize(len(m.Value)),
	}
	// ce_id; a dead-lettered record from a foreign producer may lack it.
	if id, ok := header(m.Headers, HeaderID); ok && id != "" {
		attrs = append(attrs, semconv.MessagingMessageID(id))
	}
	return tracer.Start(ctx, opSend+" "+m.Topic, //nolint:spancheck // the caller ends the span after publishing
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
}
