// Package app is the user service's composition root: it wires
// configuration, database, domain, the outbox and its relay, and transports
// into a runnable App. It lives outside internal/ so that cross-service
// tests can run the real service in-process, with their own telemetry
// providers.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vidstream/vidstream/services/api/events"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/lifecycle"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/user/internal/domain"
	"github.com/vidstream/vidstream/services/user/internal/grpcapi"
	"github.com/vidstream/vidstream/services/user/internal/httpapi"
	"github.com/vidstream/vidstream/services/user/internal/store"
)

// ServiceName names the service in telemetry; EventSource is the CloudEvents
// source of the events it publishes.
const (
	ServiceName = "user"
	EventSource = "/services/user"
)

// Defaults for the fields that must not be empty; the env tags repeat them
// so `Config{}` in a test and an empty environment behave the same.
const (
	DefaultHTTPAddr     = "127.0.0.1:8081"
	DefaultGRPCAddr     = "127.0.0.1:9081"
	DefaultDatabaseURL  = "sqlite://.data/user.db"
	DefaultKafkaBrokers = "127.0.0.1:9092"
)

// Config is the user service's configuration, loaded from the environment
// by config.Load. Zero values of the tuning fields mean the domain's
// defaults, so tests only set what they care about.
type Config struct {
	HTTPAddr    string `env:"HTTP_ADDR, default=127.0.0.1:8081"`
	GRPCAddr    string `env:"GRPC_ADDR, default=127.0.0.1:9081"`
	DatabaseURL string `env:"DATABASE_URL, default=sqlite://.data/user.db"`
	// KafkaBrokers are the bootstrap brokers, comma-separated. Kafka being
	// unreachable never stops the service: events wait in the outbox.
	KafkaBrokers []string `env:"KAFKA_BROKERS, default=127.0.0.1:9092"`
	// KafkaTopicsManaged says someone else owns the topics (in Kubernetes,
	// the topic operator). Otherwise, as in `make run` and tests, the
	// service creates the topic it publishes to, and its dead-letter
	// topic, when they are missing.
	KafkaTopicsManaged bool `env:"KAFKA_TOPICS_MANAGED, default=false"`

	// SessionTTL is how long a login token stays valid.
	SessionTTL time.Duration `env:"SESSION_TTL, default=24h"`
	// LoginMaxFailures failed logins for one email within
	// LoginFailureWindow get further attempts a 429 (negative disables).
	LoginMaxFailures int `env:"LOGIN_MAX_FAILURES, default=5"`
	// LoginMaxFailuresPerIP is the same limit per client address (IPv6 per
	// /64); higher, since many users can share one address.
	LoginMaxFailuresPerIP int           `env:"LOGIN_MAX_FAILURES_PER_IP, default=50"`
	LoginFailureWindow    time.Duration `env:"LOGIN_FAILURE_WINDOW, default=15m"`
	// TrustedProxyHops is how many reverse proxies append to
	// X-Forwarded-For in front of the service (1 behind an ingress); 0
	// ignores the header, which any client can forge.
	TrustedProxyHops int `env:"TRUSTED_PROXY_HOPS, default=0"`

	// argon2id cost for new password hashes; defaults follow OWASP
	// (19 MiB, 2 passes, 1 lane). Existing hashes keep their own cost.
	Argon2MemoryKiB   uint32 `env:"ARGON2_MEMORY_KIB, default=19456"`
	Argon2Iterations  uint32 `env:"ARGON2_ITERATIONS, default=2"`
	Argon2Parallelism uint8  `env:"ARGON2_PARALLELISM, default=1"`
	// MaxConcurrentHashes bounds argon2id runs in flight, and so the
	// memory logins can take (default: GOMAXPROCS).
	MaxConcurrentHashes int `env:"ARGON2_MAX_CONCURRENT"`

	// ShutdownTimeout bounds each shutdown phase; DrainDelay keeps serving
	// after readiness turns false so load balancers catch up (a few seconds
	// in Kubernetes).
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT, default=10s"`
	DrainDelay      time.Duration `env:"SHUTDOWN_DRAIN_DELAY, default=0s"`

	// Now replaces the clock; tests use it to expire tokens without
	// sleeping. Not read from the environment.
	Now func() time.Time
}

// App is a wired user service with its listeners bound.
type App struct {
	group    *lifecycle.Group
	httpAddr string
	grpcAddr string
}

// New opens (and migrates) the database, builds the service and the outbox
// relay and binds both listeners, so a configuration error surfaces here and
// ":0" addresses have their real port by the time New returns. Nothing here
// needs Kafka to be up.
func New(ctx context.Context, cfg Config, p telemetry.Providers) (a *App, err error) {
	cfg = cfg.withDefaults()
	log := p.Log()
	var closers lifecycle.Closers
	defer closers.CloseOnError(&err)

	db, err := database.Open(ctx, cfg.DatabaseURL, store.Migrations(), p)
	if err != nil {
		return nil, fmt.Errorf("user: open database: %w", err)
	}
	closers.Add(db.Close)
	// The outbox versions its table on its own, next to the service's schema.
	if err := outbox.Migrate(ctx, db); err != nil {
		return nil, fmt.Errorf("user: %w", err)
	}
	ob := outbox.New(db, EventSource, p)

	svc, err := domain.NewService(ctx, store.New(db, ob), domain.Config{
		SessionTTL:            cfg.SessionTTL,
		LoginMaxFailures:      cfg.LoginMaxFailures,
		LoginMaxFailuresPerIP: cfg.LoginMaxFailuresPerIP,
		LoginFailureWindow:    cfg.LoginFailureWindow,
		Argon2: domain.Argon2Params{
			MemoryKiB:   cfg.Argon2MemoryKiB,
			Iterations:  cfg.Argon2Iterations,
			Parallelism: cfg.Argon2Parallelism,
		},
		MaxConcurrentHashes: cfg.MaxConcurrentHashes,
		Now:                 cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("user: %w", err)
	}

	health := &httpx.Health{}
	health.AddCheck("database", db.PingContext)
	httpSrv := &http.Server{
		Handler: httpapi.NewServer(httpapi.Deps{
			Service:          svc,
			Providers:        p,
			Health:           health,
			TrustedProxyHops: cfg.TrustedProxyHops,
		}),
		// Bounded so slow or stalled clients cannot hold connections (and
		// goroutines) forever.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	grpcSrv, grpcHealth := grpcx.NewServer(p)
	grpcapi.Register(grpcSrv, svc)

	producer := kafkabus.NewProducer(cfg.KafkaBrokers, p)
	closers.Add(producer.Close)
	relay := outbox.NewRelay(db, producer, p, outbox.RelayOptions{Wake: ob.Wakeups()})

	httpLn, err := lifecycle.Listen(ctx, cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("user: http: %w", err)
	}
	closers.AddCloser("listener", httpLn)
	grpcLn, err := lifecycle.Listen(ctx, cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("user: grpc: %w", err)
	}

	g := &lifecycle.Group{
		Logger:          log,
		ShutdownTimeout: cfg.ShutdownTimeout,
		DrainDelay:      cfg.DrainDelay,
	}
	// Readiness is the database's alone: with Kafka down the service still
	// serves, and its events wait in the outbox.
	g.AddReadiness(health)
	g.AddReadiness(lifecycle.GRPCHealth(grpcHealth))
	g.AddHTTP("user http", httpSrv, httpLn)
	g.AddGRPC("user grpc", grpcSrv, grpcLn)
	topics := kafkabus.NewTopicGate(cfg.KafkaBrokers, cfg.KafkaTopicsManaged, log,
		kafkabus.TopicSpec{Name: events.UsersTopic})
	g.AddWorker("kafka topics", topics.Ensure)
	g.AddWorker("outbox relay", relay.Run)
	// Hooks run last registered first, after servers and workers stopped:
	// no request or relay pass can still be using the producer or the pool.
	g.OnShutdown(func(context.Context) error { return db.Close() })
	g.OnShutdown(func(context.Context) error { return producer.Close() })

	return &App{group: g, httpAddr: httpLn.Addr().String(), grpcAddr: grpcLn.Addr().String()}, nil
}

// HTTPAddr is the bound REST address, e.g. "127.0.0.1:53211".
func (a *App) HTTPAddr() string { return a.httpAddr }

// GRPCAddr is the bound gRPC address.
func (a *App) GRPCAddr() string { return a.grpcAddr }

// Run serves until ctx is canceled or a component fails, then drains both
// servers, stops the relay and closes the database. Call it once.
func (a *App) Run(ctx context.Context) error {
	if err := a.group.Run(ctx); err != nil {
		return fmt.Errorf("user: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.GRPCAddr == "" {
		c.GRPCAddr = DefaultGRPCAddr
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = DefaultDatabaseURL
	}
	if len(c.KafkaBrokers) == 0 {
		c.KafkaBrokers = strings.Split(DefaultKafkaBrokers, ",")
	}
	return c
}
