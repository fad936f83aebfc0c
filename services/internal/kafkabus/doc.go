// Package kafkabus moves domain events between services over Kafka, on top of
// segmentio/kafka-go.
//
// It has three parts:
//
//   - [Producer] writes records with acks=all and a hash balancer, so every
//     event of one key lands on one partition, in the order it was written.
//     The outbox relay (package outbox) is its main caller.
//   - [Consumer] reads a topic as a member of a consumer group and hands each
//     record to a [Handler] inside a database transaction that also records
//     the event's ce_id for that group. A record seen before is skipped, so a
//     redelivery (after a crash, a rebalance or a duplicate publish) has no
//     second effect; the Kafka offset is committed only after that
//     transaction committed. A failing record is retried with backoff and,
//     after [ConsumerConfig.MaxAttempts] (or at once, for a [Permanent]
//     error), copied to the topic's dead-letter topic with headers saying
//     why, and the consumer moves on.
//   - [EnsureTopics] creates topics and their dead-letter topics for
//     development and tests; in Kubernetes the topic operator owns them.
//
// # Message format
//
// Records follow the CloudEvents Kafka binary binding: the payload is the
// protobuf encoding of a services/api/events/v1 message and the envelope is in
// headers (ce_specversion, ce_id, ce_type, ce_source, ce_time, content-type),
// next to the W3C trace context (traceparent, tracestate, baggage). ce_id is
// the idempotency key consumers deduplicate on.
//
// # Tracing
//
// Span names and attributes follow the OpenTelemetry messaging conventions
// (1.44): "send <topic>" for the PRODUCER span of each record, "process
// <topic>" for the CONSUMER span of its handling. The consumer continues the
// producer's trace: its process span is a child of the span whose context is
// in the record's traceparent, so one request is one trace, and it also
// links to it, as the conventions ask (the link is what survives when a
// backend shows a long-delayed consumer as its own trace).
package kafkabus
