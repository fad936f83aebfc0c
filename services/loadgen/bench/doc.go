// Package bench measures every hop of vidstream against the bare library
// it is built on, in one process, so each figure is a ratio taken on the
// same machine at the same moment. Its benchmarks are what `make bench`
// runs; docs/benchmarks.md explains each one and records the figures.
//
//   - BenchmarkPutProgress: PUT /v1/history/{video_id} through the real
//     services (REST, two gRPC calls, a transaction with the outbox), with
//     tracing off and with every request traced and exported, against a
//     bare chi handler doing one upsert on the same kind of database:
//     throughput at saturation (closed model) and latency at half of it
//     (open model).
//   - BenchmarkGetVideo: the video service's gRPC GetVideo against a bare
//     grpc-go server answering the same message.
//   - BenchmarkEventLatency: from a progress report's commit to the view
//     count it causes, at a fixed rate of events.
//   - BenchmarkProcesses: each service as a process of its own: time to
//     ready, resident memory idle and under load, against a bare process.
//
// The services run from their composition roots (app.New) on 127.0.0.1
// ephemeral ports, with SQLite files of their own (PostgreSQL too when
// VIDSTREAM_TEST_POSTGRES_URL is set) and a Kafka broker (kfake unless
// VIDSTREAM_TEST_KAFKA_BROKERS names a real one). The load comes from
// loadgen's client and load models, in the same process: client and
// servers share the CPUs, on both sides of every ratio alike.
//
// TestScenarios runs each scenario once, small, and checks that it did
// what it claims (every request answered, every event counted), so the
// benchmarks cannot rot between `make bench` runs.
package bench
