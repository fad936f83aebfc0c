package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// config is what one devstack run does. Every flag has an environment
// variable, read as the flag's default, so `make run` can be steered either
// way: `KAFKA_BROKERS=... make run` or `go run ./services/devstack -kafka ...`.
type config struct {
	// root is the repository: where the services' sources, the Jaeger tools
	// module and observability/ are.
	root string
	// dataDir holds the SQLite databases, the broker's log and the process
	// logs; kept across runs.
	dataDir string
	// binDir receives the built binaries.
	binDir string

	// kafka are existing brokers to use instead of the embedded one.
	kafka []string
	// redis is an existing Redis (a URL) to use instead of the embedded one.
	redis string
	// rabbitmq is an existing RabbitMQ to use ("off": run without the job
	// queue); empty means devstack's own node, if rabbitmq-server is
	// installed. rabbitmqServer names the rabbitmq-server to run.
	rabbitmq       string
	rabbitmqServer string
	// otlp is an existing OTLP/HTTP endpoint to use instead of Jaeger.
	otlp string
	// jaegerBin is a Jaeger v2 binary to run instead of the module build.
	jaegerBin string
	// jaegerRelease allows downloading the pinned Jaeger release archive.
	jaegerRelease bool
	// jaegerUIAssets is a directory with a built Jaeger UI, served by the
	// module-built Jaeger instead of its placeholder page.
	jaegerUIAssets string
	// databaseURL overrides a service's database, by service name.
	databaseURL map[string]string

	readyTimeout time.Duration
	stopTimeout  time.Duration
	// color is "auto", "always" or "never".
	color   string
	rawLogs bool
	// buildOnly builds the binaries and exits (`devstack build`).
	buildOnly bool
}

// databaseEnv names each service's override of DATABASE_URL. A plain
// DATABASE_URL in devstack's environment would point all three services at
// one database, which would break their ownership of their schemas; it is
// therefore never passed on.
var databaseEnv = map[string]string{
	"user":          "USER_DATABASE_URL",
	"video":         "VIDEO_DATABASE_URL",
	"watch-history": "WATCH_HISTORY_DATABASE_URL",
}

func parseConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	envDuration := func(key string, def time.Duration) (time.Duration, error) {
		v := getenv(key)
		if v == "" {
			return def, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		return d, nil
	}
	readyDefault, err := envDuration("DEVSTACK_READY_TIMEOUT", 60*time.Second)
	if err != nil {
		return config{}, err
	}
	stopDefault, err := envDuration("DEVSTACK_STOP_TIMEOUT", 15*time.Second)
	if err != nil {
		return config{}, err
	}

	var (
		cfg   config
		kafka string
	)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.root, "root", getenv("DEVSTACK_ROOT"), "repository root (default: found from the working directory) [DEVSTACK_ROOT]")
	fs.StringVar(&cfg.dataDir, "data", getenv("DEVSTACK_DATA"), "data directory, kept across runs (default: <root>/.data) [DEVSTACK_DATA]")
	fs.StringVar(&kafka, "kafka", getenv("KAFKA_BROKERS"), "use these Kafka brokers (comma-separated) instead of the embedded broker [KAFKA_BROKERS]")
	fs.StringVar(&cfg.redis, "redis", getenv("REDIS_URL"), "use this Redis (redis://host:port/db) for the video read cache's invalidations instead of the embedded one [REDIS_URL]")
	fs.StringVar(&cfg.rabbitmq, "rabbitmq", getenv("RABBITMQ_URL"), "use this RabbitMQ for the transcode job queue instead of starting a node of devstack's own (when rabbitmq-server is installed); \"off\" runs without the job queue [RABBITMQ_URL]")
	fs.StringVar(&cfg.rabbitmqServer, "rabbitmq-server", getenv("RABBITMQ_SERVER"), "the rabbitmq-server script to start (default: Debian's, else the one on PATH) [RABBITMQ_SERVER]")
	fs.StringVar(&cfg.otlp, "otlp", getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "export traces to this OTLP/HTTP endpoint instead of starting Jaeger [OTEL_EXPORTER_OTLP_ENDPOINT]")
	fs.StringVar(&cfg.jaegerBin, "jaeger-bin", getenv("JAEGER_BIN"), "Jaeger v2 binary to run (default: `jaeger` on PATH, else the pinned release archive, else built from hack/tools/jaeger) [JAEGER_BIN]")
	fs.BoolVar(&cfg.jaegerRelease, "jaeger-release", getenv("JAEGER_RELEASE") != "off", "download the pinned Jaeger release archive (checksum verified, cached in .cache/devstack) when no Jaeger is given; JAEGER_RELEASE=off turns it off, JAEGER_RELEASE_URL names a mirror [JAEGER_RELEASE]")
	fs.StringVar(&cfg.jaegerUIAssets, "jaeger-ui-assets", getenv("JAEGER_UI_ASSETS"), "directory of a built Jaeger UI, served instead of the module build's placeholder page [JAEGER_UI_ASSETS]")
	fs.DurationVar(&cfg.readyTimeout, "ready-timeout", readyDefault, "how long each part may take to become ready [DEVSTACK_READY_TIMEOUT]")
	fs.DurationVar(&cfg.stopTimeout, "stop-timeout", stopDefault, "how long each process may take to stop before it is killed [DEVSTACK_STOP_TIMEOUT]")
	fs.StringVar(&cfg.color, "color", "auto", "colour the log prefixes: auto (when stdout is a terminal and NO_COLOR is unset), always or never")
	fs.BoolVar(&cfg.rawLogs, "raw-logs", false, "print the services' JSON log lines as they are, instead of condensed")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [build] [flags]\n\nStarts vidstream on this machine (see `go doc ./services/devstack`).\n\nFlags:\n", name)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nPer-service databases (default: SQLite under the data directory):\n  USER_DATABASE_URL, VIDEO_DATABASE_URL, WATCH_HISTORY_DATABASE_URL\n")
	}
	if len(args) > 0 && args[0] == "build" {
		cfg.buildOnly = true
		args = args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	switch cfg.color {
	case "auto", "always", "never":
	default:
		return config{}, fmt.Errorf("-color: %q is not auto, always or never", cfg.color)
	}
	if getenv("NO_COLOR") != "" && cfg.color == "auto" {
		cfg.color = "never"
	}
	for b := range strings.SplitSeq(kafka, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.kafka = append(cfg.kafka, b)
		}
	}
	cfg.databaseURL = map[string]string{}
	for svc, key := range databaseEnv {
		if v := getenv(key); v != "" {
			cfg.databaseURL[svc] = v
		}
	}

	if cfg.root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return config{}, fmt.Errorf("working directory: %w", err)
		}
		if cfg.root, err = findRoot(wd); err != nil {
			return config{}, err
		}
	}
	if cfg.root, err = filepath.Abs(cfg.root); err != nil {
		return config{}, fmt.Errorf("root: %w", err)
	}
	if cfg.dataDir == "" {
		cfg.dataDir = filepath.Join(cfg.root, ".data")
	}
	if cfg.dataDir, err = filepath.Abs(cfg.dataDir); err != nil {
		return config{}, fmt.Errorf("data directory: %w", err)
	}
	// Binaries are build output, not data: a fresh data directory (as the
	// end-to-end test uses) must not mean rebuilding Jaeger.
	cfg.binDir = filepath.Join(cfg.root, ".cache", "devstack", "bin")
	return cfg, nil
}

// modulePath identifies the repository's go.mod.
const modulePath = "github.com/vidstream/vidstream"

// findRoot walks up from dir to the directory whose go.mod declares
// modulePath, so devstack works from any folder of the repository.
func findRoot(dir string) (string, error) {
	for d := dir; ; {
		b, err := os.ReadFile(filepath.Join(d, "go.mod")) //nolint:gosec // G304: reading the go.mod files above a directory is the point
		if err == nil && moduleOf(b) == modulePath {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("not inside the vidstream repository (no go.mod of " + modulePath + " above " + dir + "); use -root")
		}
		d = parent
	}
}

func moduleOf(gomod []byte) string {
	for line := range strings.SplitSeq(string(gomod), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}
