// Package systemtest runs the user, video and watch-history services (and,
// for the job queue, the transcoder against the RabbitMQ named by
// VIDSTREAM_TEST_RABBITMQ_URL, on queues of each test's own) together, in
// one test process, against a Kafka broker over TCP, and checks
// the behavior no single service's tests can see: events crossing service
// boundaries, a broker outage, duplicate and poison records, and one trace
// spanning every hop (docs/architecture.md).
//
// Each service is its real composition root (app.New, app.Run) on 127.0.0.1
// ephemeral ports with a database of its own and telemetry providers of its
// own, so spans are recorded per service as separate processes would export
// them.
//
// The broker is kfake unless VIDSTREAM_TEST_KAFKA_BROKERS names a real
// cluster (see kafkatest). On a real cluster the topic names are the
// contract's fixed ones and are shared with every other test of the run, so
// these tests only ever look at records keyed by the users they created, and
// give every consumer group a name of its own. The broker-outage test always
// uses a kfake broker it can stop, since stopping a shared broker would break
// other tests.
//
// Every scenario runs on SQLite and, when VIDSTREAM_TEST_POSTGRES_URL is set,
// on PostgreSQL (see databasetest).
package systemtest
