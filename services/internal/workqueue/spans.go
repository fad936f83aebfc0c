package workqueue

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Span names are "{messaging.operation.name} {queue}", as kafkabus names
// them for topics: "send vidstream.transcode", "process vidstream.transcode".
const (
	opSend    = "send"
	opProcess = "process"
)

// StartSendSpan starts the PRODUCER span of sending m. The caller injects
// the returned context into m.Headers (so the consumer continues the
// trace), publishes m, and ends the span.
func StartSendSpan(ctx context.Context, tracer trace.Tracer, m Message) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemRabbitMQ,
		semconv.MessagingOperationName(opSend),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingDestinationName(m.Queue),
		// Jobs go through the default exchange, whose routing key is the
		// queue's name.
		semconv.MessagingRabbitMQDestinationRoutingKey(m.Queue),
		semconv.MessagingMessageBodySize(len(m.Body)),
		attribute.Int(attrAttempt, m.attempt()),
	}
	if m.ID != "" {
		attrs = append(attrs, semconv.MessagingMessageID(m.ID))
	}
	return tracer.Start(ctx, opSend+" "+m.Queue, //nolint:spancheck // the caller ends the span after publishing
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
}

const (
	attrAttempt = "vidstream.workqueue.attempt"
	attrOutcome = "vidstream.workqueue.outcome"
)
