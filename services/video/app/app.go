// Package app is the video service's composition root: it wires the
// database, the domain, the outbox and its relay, the view counter (a Kafka
// consumer), the REST and gRPC adapters and the client of the user service
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
	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/lifecycle"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/internal/consumers"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/grpcapi"
	"github.com/vidstream/vidstream/services/video/internal/httpapi"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// ServiceName names the service in telemetry; EventSource is the CloudEvents
// source of the events it publishes.
const (
	ServiceName = "video"
	EventSource = "/services/video"
)

// Defaults for the fields that must not be empty; the env tags repeat them
// so `Config{}` in a test and an empty environment behave the same.
const (
	DefaultHTTPAddr     = "127.0.0.1:8082"
	DefaultGRPCAddr     = "127.0.0.1:9082"
	DefaultDatabaseURL  = "sqlite://.data/video.db"
	DefaultUserGRPCAddr = "127.0.0.1:9081"
	DefaultKafkaBrokers = "127.0.0.1:9092"
)

// Config is the video service's configuration, loaded from the environment
// by config.Load.
type Config struct {
	HTTPAddr    string `env:"HTTP_ADDR, default=127.0.0.1:8082"`
	GRPCAddr    string `env:"GRPC_ADDR, default=127.0.0.1:9082"`
	DatabaseURL string `env:"DATABASE_URL, default=sqlite://.data/video.db"`
	// UserGRPCAddr is the user service, asked about every bearer token.
	UserGRPCAddr string `env:"USER_GRPC_ADDR, default=127.0.0.1:9081"`
	// KafkaBrokers are the bootstrap brokers, comma-separated. Kafka being
	// unreachable never stops the service: events wait in the outbox and
	// the view counter starts once the broker answers.
	KafkaBrokers []string `env:"KAFKA_BROKERS, default=127.0.0.1:9092"`
	// KafkaTopicsManaged says someone else owns the topics (in Kubernetes,
	// the topic operator). Otherwise, as in `make run` and tests, the
	// service creates the topics it produces to and consumes from, and
	// their dead-letter topics, when they are missing.
	KafkaTopicsManaged bool `env:"KAFKA_TOPICS_MANAGED, default=false"`

	// ShutdownTimeout bounds each shutdown phase; DrainDelay keeps serving
	// after readiness turns false so load balancers catch up (a few seconds
	// in Kubernetes).
	// RPCTimeout is the deadline of a call to another service when the
	// incoming request has none closer. It bounds how long a slow
	// dependency can hold a request (and its goroutine) before the client
	// gets a 503.
	RPCTimeout time.Duration `env:"RPC_TIMEOUT, default=2s"`

	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT, default=10s"`
	DrainDelay      time.Duration `env:"SHUTDOWN_DRAIN_DELAY, default=0s"`

	// ViewCounterGroup is the view counter's consumer group; empty means
	// events.ViewCounterGroup, the contract's name (DESIGN §6). Not read
	// from the environment: only tests sharing one real cluster between
	// several instances need different ones.
	ViewCounterGroup string
	// ConsumerBackoff spaces a failing event's attempts; zero means
	// kafkabus's default. Not read from the environment.
	ConsumerBackoff kafkabus.Backoff
}

// App is a wired video service with its listeners bound.
type App struct {
	group    *lifecycle.Group
	httpAddr string
	grpcAddr string
}

// New opens (and migrates) the database, connects to the user service,
// builds both APIs, the outbox relay and the view counter, and binds the
// listeners, so a configuration error surfaces here and ":0" addresses have
// their real port when New returns. Nothing here needs Kafka or the user
// service to be up.
func New(ctx context.Context, cfg Config, p telemetry.Providers) (a *App, err error) {
	cfg = cfg.withDefaults()
	log := p.Log()
	var closers lifecycle.Closers
	defer closers.CloseOnError(&err)

	db, err := database.Open(ctx, cfg.DatabaseURL, store.Migrations(), p)
	if err != nil {
		return nil, fmt.Errorf("video: open database: %w", err)
	}
	closers.Add(db.Close)
	// The outbox and the inbox version their tables on their own, next to
	// the service's schema.
	if err := outbox.Migrate(ctx, db); err != nil {
		return nil, fmt.Errorf("video: %w", err)
	}
	if err := kafkabus.MigrateInbox(ctx, db); err != nil {
		return nil, fmt.Errorf("video: %w", err)
	}

	// grpc.NewClient connects lazily, so the user service need not be up
	// yet: until it is, authenticated requests answer 503 and reads work.
	userConn, err := grpcx.Dial(cfg.UserGRPCAddr, p, grpcx.WithDefaultTimeout(cfg.RPCTimeout))
	if err != nil {
		return nil, fmt.Errorf("video: dial user service at %s: %w", cfg.UserGRPCAddr, err)
	}
	closers.AddCloser("user service connection", userConn)

	ob := outbox.New(db, EventSource, p)
	st := store.New(db, ob)
	svc := domain.NewService(st)
	health := &httpx.Health{}
	// Only the database gates readiness. The user service does not: reads
	// are public and would be refused for nothing while it restarts.
	health.AddCheck("database", db.PingContext)

	httpSrv := &http.Server{
		Handler: httpapi.NewServer(httpapi.Deps{
			Service: svc,
			// No caching in front of the user service: a logout must take
			// effect here at once (see auth.NewGRPCAuthenticator).
			Auth:      auth.NewGRPCAuthenticator(userv1.NewUserServiceClient(userConn)),
			Providers: p,
			Health:    health,
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
	viewCounter, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{
		Brokers: cfg.KafkaBrokers,
		GroupID: cfg.ViewCounterGroup,
		Topic:   events.WatchTopic,
		Backoff: cfg.ConsumerBackoff,
	}, db, consumers.NewViewCounter(svc, st, log.With(slog.String("component", "view-counter"))).Handle, p)
	if err != nil {
		return nil, fmt.Errorf("video: %w", err)
	}

	httpLn, err := lifecycle.Listen(ctx, cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("video: http: %w", err)
	}
	closers.AddCloser("listener", httpLn)
	grpcLn, err := lifecycle.Listen(ctx, cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("video: grpc: %w", err)
	}

	g := &lifecycle.Group{
		Logger:          log,
		ShutdownTimeout: cfg.ShutdownTimeout,
		DrainDelay:      cfg.DrainDelay,
	}
	g.AddReadiness(health)
	g.AddReadiness(lifecycle.GRPCHealth(grpcHealth))
	g.AddHTTP("video http", httpSrv, httpLn)
	g.AddGRPC("video grpc", grpcSrv, grpcLn)

	topics := kafkabus.NewTopicGate(cfg.KafkaBrokers, cfg.KafkaTopicsManaged, log,
		kafkabus.TopicSpec{Name: events.VideosTopic}, kafkabus.TopicSpec{Name: events.WatchTopic})
	g.AddWorker("kafka topics", topics.Ensure)
	g.AddWorker("outbox relay", relay.Run)
	g.AddWorker("view counter", topics.Then(viewCounter.Run))

	// Hooks run last registered first, after servers and workers stopped:
	// no request, relay pass or event can still be using the pool, the
	// producer or the user connection.
	g.OnShutdown(func(context.Context) error { return db.Close() })
	g.OnShutdown(func(context.Context) error { return producer.Close() })
	g.OnShutdown(func(context.Context) error { return lifecycle.CloseNamed("user service connection", userConn) })

	return &App{group: g, httpAddr: httpLn.Addr().String(), grpcAddr: grpcLn.Addr().String()}, nil
}

// HTTPAddr is the bound REST address, e.g. "127.0.0.1:53211".
func (a *App) HTTPAddr() string { return a.httpAddr }

// GRPCAddr is the bound gRPC address.
func (a *App) GRPCAddr() string { return a.grpcAddr }

// Run serves until ctx is canceled or a component fails, then drains both
// servers, stops the relay and the view counter, and closes the user
// service connection and the database. Call it once.
func (a *App) Run(ctx context.Context) error {
	if err := a.group.Run(ctx); err != nil {
		return fmt.Errorf("video: %w", err)
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
	if c.UserGRPCAddr == "" {
		c.UserGRPCAddr = DefaultUserGRPCAddr
	}
	if c.RPCTimeout <= 0 {
		c.RPCTimeout = grpcx.DefaultTimeout
	}
	if len(c.KafkaBrokers) == 0 {
		c.KafkaBrokers = strings.Split(DefaultKafkaBrokers, ",")
	}
	if c.ViewCounterGroup == "" {
		c.ViewCounterGroup = events.ViewCounterGroup
	}
	return c
}
