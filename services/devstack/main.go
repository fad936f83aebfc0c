// Command devstack runs the whole of vidstream on one machine; it is what
// `make run` starts. It builds the service binaries, then starts, each as
// its own OS process:
//
//   - an embedded Kafka-protocol broker (kfake) on 127.0.0.1:9092, keeping
//     its log under .data/kfake;
//   - Jaeger v2 all-in-one on 127.0.0.1 (UI and query API on 16686, OTLP on
//     4317 and 4318), configured by observability/jaeger-local.yaml;
//   - the user, video and watch-history services on SQLite files under
//     .data/, exporting their traces to that Jaeger.
//
// It waits until every part is ready, prints where everything is, streams
// the logs with a prefix per process and, on Ctrl-C or SIGTERM, stops the
// processes in reverse order. Data survives a restart; Jaeger's traces,
// held in memory, do not.
//
// Usage:
//
//	devstack [flags]        build, start everything, run until interrupted
//	devstack build [flags]  only build the binaries (what CI does first)
//	devstack broker [flags] run the embedded broker alone (devstack starts
//	                        it this way, as a process of its own)
//
// Run `devstack -h` for the flags, and the environment variables that set
// them: an existing Kafka (KAFKA_BROKERS), PostgreSQL (USER_DATABASE_URL,
// VIDEO_DATABASE_URL, WATCH_HISTORY_DATABASE_URL) or OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT) replaces the embedded one, and JAEGER_BIN
// picks the Jaeger binary.
package main

import (
	"github.com/vidstream/vidstream/services/internal/lifecycle"
)

func main() { lifecycle.Main("devstack", run) }
