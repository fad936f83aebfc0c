package app

import "time"

// ServiceName names the operator in telemetry.
const ServiceName = "topic-operator"

// Config is the operator's configuration, loaded from the environment by
// config.Load. In Kubernetes the chart sets every variable; the defaults
// suit running it on a laptop against a kind cluster (`go run
// ./services/topic-operator` with a kubeconfig).
type Config struct {
	// KafkaBrokers are the bootstrap brokers, comma-separated.
	KafkaBrokers []string `env:"KAFKA_BROKERS, default=127.0.0.1:9092"`
	// WatchNamespace limits the operator to one namespace's KafkaTopics,
	// so that a Role (not a ClusterRole) is enough; empty watches every
	// namespace.
	WatchNamespace string `env:"WATCH_NAMESPACE"`

	// LeaderElect makes replicas elect one leader (a Lease in
	// LeaderElectionNamespace), so only one reconciles at a time.
	LeaderElect bool `env:"LEADER_ELECT, default=false"`
	// LeaderElectionNamespace holds the Lease; empty means the namespace
	// the pod runs in.
	LeaderElectionNamespace string `env:"LEADER_ELECTION_NAMESPACE"`

	// MetricsAddr serves Prometheus metrics at /metrics ("0" turns it off);
	// HealthAddr serves /healthz and /readyz.
	MetricsAddr string `env:"METRICS_ADDR, default=127.0.0.1:8080"`
	HealthAddr  string `env:"HEALTH_ADDR, default=127.0.0.1:8081"`

	// ResyncPeriod re-reconciles every topic this often even when nothing
	// changed in Kubernetes, to repair drift made directly in Kafka.
	ResyncPeriod time.Duration `env:"RESYNC_PERIOD, default=5m"`
	// RetryBaseDelay and RetryMaxDelay bound the per-topic exponential
	// backoff while Kafka is unreachable or answers with an error.
	RetryBaseDelay time.Duration `env:"RETRY_BASE_DELAY, default=500ms"`
	RetryMaxDelay  time.Duration `env:"RETRY_MAX_DELAY, default=1m"`
	// KafkaTimeout bounds each admin request to Kafka.
	KafkaTimeout time.Duration `env:"KAFKA_TIMEOUT, default=10s"`

	// SkipNameValidation lets one process start several managers, as
	// tests do; controller-runtime otherwise refuses a second controller
	// of the same name. Not read from the environment.
	SkipNameValidation bool
}
