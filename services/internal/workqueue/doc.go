// Package workqueue sends jobs to RabbitMQ work queues and works them off,
// on top of github.com/rabbitmq/amqp091-go.
//
// A work queue carries requests for work that exactly one worker does (a
// video to transcode), where a Kafka topic carries facts that every
// consumer group reads. The package has three parts:
//
//   - [Declare] creates a queue's [Topology]: the work queue (a quorum
//     queue: replicated, and durable across a broker restart), its retry
//     queue, where a failed job waits out the retry delay (the queue's
//     message TTL) before the broker dead-letters it back to the work
//     queue, and its dead-letter queue, where a job goes after its last
//     attempt.
//   - [Publisher] sends persistent messages with publisher confirms: Publish
//     returns once the broker has taken every message into the queue, and
//     otherwise returns an error naming the messages it failed for (a nack,
//     a closed channel, an unroutable message), which the caller retries.
//     The outbox relay is its main caller.
//   - [Consumer] takes deliveries with manual acknowledgements and a
//     prefetch limit, and runs a [Handler] for each. A job is acknowledged
//     only once its fate is settled: handled, or republished (with a
//     publisher confirm) to the retry queue with its attempt count raised,
//     or to the dead-letter queue with the error in a header. A failure
//     anywhere in between leaves the delivery unacknowledged, so the
//     broker redelivers it: at least once, never lost.
//
// Both reconnect after a broker restart or a dropped connection. On
// cancellation the Consumer stops taking deliveries and lets the jobs in
// flight finish before it returns.
//
// # Message format
//
// Messages follow the CloudEvents AMQP binding (binary mode): the body is
// the protobuf encoding of a services/api/jobs/v1 message, content-type
// application/protobuf, and the envelope is in application properties
// (cloudEvents:specversion, cloudEvents:id, cloudEvents:type,
// cloudEvents:source, cloudEvents:time); message-id is the CloudEvents id.
// Next to them travel the W3C trace context (traceparent, tracestate) and
// x-vidstream-attempt, the attempt this delivery is (1 the first time).
//
// # Tracing
//
// Spans follow the OpenTelemetry messaging conventions (1.44), as package
// kafkabus does: "send <queue>" is the PRODUCER span of a message,
// "process <queue>" the CONSUMER span of one attempt at it, with
// messaging.system=rabbitmq. The process span is a child of the send span
// whose context is in the message's traceparent, and links to it. A retried
// job keeps its original traceparent, so every attempt is a child of the
// one send span and a job is one trace however often it is retried.
package workqueue
