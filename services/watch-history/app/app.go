// Package app is the watch-history service's composition root: it wires the
// database, the outbox and its relay, the Kafka consumers, the clients of
// the user and video services, and the REST and gRPC adapters into a
// runnable App. It lives outside internal/ so that cross-service tests can
// run the real service in-process, with their own telemetry providers.
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
	videov1 "github.com/vidstream/vidstream/services/api/video/v1"
	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/lifecycle"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/watch-history/internal/catalog"
	"github.com/vidstream/vidstream/services/watch-history/internal/consumers"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
	"github.com/vidstream/vidstream/services/watch-history/internal/grpcapi"
	"github.com/vidstream/vidstream/services/watch-history/internal/httpapi"
	"github.com/vidstream/vidstream/services/watch-history/internal/store"
)

// ServiceName names the service in telemetry; EventSource is the CloudEvents
// source of the events it publishes.
const (
	ServiceName = "watch-history"
	EventSource = "/services/watch-history"
)

// Defaults for the fields that must not be empty; the env tags repeat them
// so that Config{} in a test and an empty environment behave the same.
const (
	DefaultHTTPAddr      = "127.0.0.1:8083"
	DefaultGRPCAddr      = "127.0.0.1:9083"
	DefaultDatabaseURL   = "sqlite://.data/watch-history.db"
	DefaultUserGRPCAddr  = "127.0.0.1:9081"
	DefaultVideoGRPCAddr = "127.0.0.1:9082"
	DefaultKafkaBrokers  = "127.0.0.1:9092"
)

// Config is the service's configuration, loaded from the environment by
// config.Load.
type Config struct {
	HTTPAddr    string `env:"HTTP_ADDR, default=127.0.0.1:8083"`
	GRPCAddr    string `env:"GRPC_ADDR, default=127.0.0.1:9083"`
	DatabaseURL string `env:"DATABASE_URL, default=sqlite://.data/watch-history.db"`
	// UserGRPCAddr is the user service, asked about every bearer token.
	UserGRPCAddr string `env:"USER_GRPC_ADDR, default=127.0.0.1:9081"`
	// VideoGRPCAddr is the video service, asked about the video of every
	// progress report.
	VideoGRPCAddr string `env:"VIDEO_GRPC_ADDR, default=127.0.0.1:9082"`
	// KafkaBrokers are the bootstrap brokers, comma-separated.
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

	// UsersGroup and VideosGroup are the consumer groups; empty means
	// events.HistoryUsersGroup and events.HistoryVideosGroup, the contract's names (DESIGN
	// §6). Not read from the environment: only tests sharing one real
	// cluster between several instances need different ones.
	UsersGroup  string
	VideosGroup string
	// ConsumerBackoff spaces a failing event's attempts; zero means
	// kafkabus's default. Not read from the environment.
	ConsumerBackoff kafkabus.Backoff
}

// App is a wired watch-history service with its listeners bound.
type App struct {
	group    *lifecycle.Group
	httpAddr string
	grpcAddr string
}

// New opens (and migrates) the database, builds the service, its clients,
// relay and consumers, and binds both listeners, so a configuration error
// surfaces here and ":0" addresses have their real port when New returns.
//
// Nothing here needs Kafka, the user service or the video service to be up:
// gRPC clients connect lazily, events wait in the outbox, and consumers
// keep retrying. The service serves as soon as its database does.
func New(ctx context.Context, cfg Config, p telemetry.Providers) (a *App, err error) {
	cfg = cfg.withDefaults()
	log := p.Log()
	var closers lifecycle.Closers
	defer closers.CloseOnError(&err)

	db, err := database.Open(ctx, cfg.DatabaseURL, store.Migrations(), p)
	if err != nil {
		return nil, fmt.Errorf("watch-history: open database: %w", err)
	}
	closers.Add(db.Close)
	// The outbox and the inbox version their tables on their own, next to
	// the service's schema.
	if err := outbox.Migrate(ctx, db); err != nil {
		return nil, fmt.Errorf("watch-history: %w", err)
	}
	if err := kafkabus.MigrateInbox(ctx, db); err != nil {
		return nil, fmt.Errorf("watch-history: %w", err)
	}

	userConn, err := grpcx.Dial(cfg.UserGRPCAddr, p, grpcx.WithDefaultTimeout(cfg.RPCTimeout))
	if err != nil {
		return nil, fmt.Errorf("watch-history: dial user service: %w", err)
	}
	closers.AddCloser("user service connection", userConn)
	videoConn, err := grpcx.Dial(cfg.VideoGRPCAddr, p, grpcx.WithDefaultTimeout(cfg.RPCTimeout))
	if err != nil {
		return nil, fmt.Errorf("watch-history: dial video service: %w", err)
	}
	closers.AddCloser("video service connection", videoConn)

	ob := outbox.New(db, EventSource, p)
	st := store.New(db, ob)
	svc := domain.NewService(st, catalog.New(videov1.NewVideoServiceClient(videoConn)))

	health := &httpx.Health{}
	health.AddCheck("database", db.PingContext)
	httpSrv := &http.Server{
		Handler: httpapi.NewServer(httpapi.Deps{
			Service:       svc,
			Authenticator: auth.NewGRPCAuthenticator(userv1.NewUserServiceClient(userConn)),
			Providers:     p,
			Health:        health,
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

	handlers := consumers.New(svc, st)
	usersConsumer, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{
		Brokers: cfg.KafkaBrokers,
		GroupID: cfg.UsersGroup,
		Topic:   events.UsersTopic,
		Backoff: cfg.ConsumerBackoff,
	}, db, handlers.Users, p)
	if err != nil {
		return nil, fmt.Errorf("watch-history: %w", err)
	}
	videosConsumer, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{
		Brokers: cfg.KafkaBrokers,
		GroupID: cfg.VideosGroup,
		Topic:   events.VideosTopic,
		Backoff: cfg.ConsumerBackoff,
	}, db, handlers.Videos, p)
	if err != nil {
		return nil, fmt.Errorf("watch-history: %w", err)
	}

	httpLn, err := lifecycle.Listen(ctx, cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("watch-history: http: %w", err)
	}
	closers.AddCloser("listener", httpLn)
	grpcLn, err := lifecycle.Listen(ctx, cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("watch-history: grpc: %w", err)
	}

	g := &lifecycle.Group{Logger: log, ShutdownTimeout: cfg.ShutdownTimeout, DrainDelay: cfg.DrainDelay}
	g.AddReadiness(health)
	g.AddReadiness(lifecycle.GRPCHealth(grpcHealth))
	g.AddHTTP("watch-history http", httpSrv, httpLn)
	g.AddGRPC("watch-history grpc", grpcSrv, grpcLn)

	topics := kafkabus.NewTopicGate(cfg.KafkaBrokers, cfg.KafkaTopicsManaged, log,
		kafkabus.TopicSpec{Name: events.WatchTopic}, kafkabus.TopicSpec{Name: events.UsersTopic}, kafkabus.TopicSpec{Name: events.VideosTopic})
	g.AddWorker("kafka topics", topics.Ensure)
	g.AddWorker("outbox relay", relay.Run)
	g.AddWorker("users consumer", topics.Then(usersConsumer.Run))
	g.AddWorker("videos consumer", topics.Then(videosConsumer.Run))

	// Hooks run last registered first, after servers and workers stopped:
	// nothing can still be using the clients, the producer or the pool.
	g.OnShutdown(func(context.Context) error { return db.Close() })
	g.OnShutdown(func(context.Context) error { return lifecycle.CloseNamed("video service connection", videoConn) })
	g.OnShutdown(func(context.Context) error { return lifecycle.CloseNamed("user service connection", userConn) })
	g.OnShutdown(func(context.Context) error { return producer.Close() })

	return &App{group: g, httpAddr: httpLn.Addr().String(), grpcAddr: grpcLn.Addr().String()}, nil
}

// HTTPAddr is the bound REST address, e.g. "127.0.0.1:53211".
func (a *App) HTTPAddr() string { return a.httpAddr }

// GRPCAddr is the bound gRPC address.
func (a *App) GRPCAddr() string { return a.grpcAddr }

// Run serves until ctx is canceled or a component fails, then drains the
// servers, stops the relay and consumers and closes the database. Call it
// once.
func (a *App) Run(ctx context.Context) error {
	if err := a.group.Run(ctx); err != nil {
		return fmt.Errorf("watch-history: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.HTTPAddr, DefaultHTTPAddr)
	def(&c.GRPCAddr, DefaultGRPCAddr)
	def(&c.DatabaseURL, DefaultDatabaseURL)
	def(&c.UserGRPCAddr, DefaultUserGRPCAddr)
	def(&c.VideoGRPCAddr, DefaultVideoGRPCAddr)
	def(&c.UsersGroup, events.HistoryUsersGroup)
	def(&c.VideosGroup, events.HistoryVideosGroup)
	if c.RPCTimeout <= 0 {
		c.RPCTimeout = grpcx.DefaultTimeout
	}
	if len(c.KafkaBrokers) == 0 {
		c.KafkaBrokers = strings.Split(DefaultKafkaBrokers, ",")
	}
	return c
}
