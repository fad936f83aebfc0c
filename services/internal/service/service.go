// Package service is the skeleton every vidstream service runs on. A
// service describes itself in a Spec (its name, ports, schema, the topics
// it produces and a Build function that returns its HTTP routes, gRPC
// services and Kafka consumers); New turns that into an App that owns
// everything the services would otherwise each repeat: the database and
// its migrations, the outbox and its relay, the inbox, the topic gate, the
// REST and gRPC servers with their timeouts and ops routes (healthz,
// readyz, metrics, openapi.json), the clients of other services, and the
// shutdown order.
//
// What is left in a service's app package is what is really its own: its
// configuration beyond Base, and how its domain, store and adapters are
// wired together.
package service

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/sethvargo/go-envconfig"
	"google.golang.org/grpc"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/lifecycle"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/workqueue"
)

// Base is the configuration every service shares. A service embeds it in
// its own Config, so the variables below are read for every service by
// config.Load; defaults are stated here, in the env tags, and nowhere else.
// The listen addresses and the database default per service (see Spec).
type Base struct {
	// HTTPAddr and GRPCAddr are where the service listens; empty means
	// 127.0.0.1 on the Spec's port, which is what `make run` uses.
	HTTPAddr string `env:"HTTP_ADDR"`
	GRPCAddr string `env:"GRPC_ADDR"`
	// DatabaseURL is sqlite://path or postgres://...; empty means
	// sqlite://.data/<service>.db.
	DatabaseURL string `env:"DATABASE_URL"`
	// KafkaBrokers are the bootstrap brokers, comma-separated. Kafka being
	// unreachable never stops a service: events wait in the outbox and
	// consumers start once the broker answers.
	KafkaBrokers []string `env:"KAFKA_BROKERS, default=127.0.0.1:9092"`
	// RabbitMQURL is the AMQP URL of the broker behind the work queues
	// (amqp://user:password@host:port/vhost). Empty turns the job queue
	// off: Kit.Jobs is nil, and a service with Parts.Jobs refuses to start.
	// RabbitMQ being unreachable never stops a service: jobs wait in the
	// outbox and workers start once the broker answers.
	RabbitMQURL string `env:"RABBITMQ_URL"`
	// KafkaTopicsManaged says someone else owns the topics (in Kubernetes,
	// the topic operator). Otherwise, as in `make run` and tests, the
	// service creates the topics it produces to and consumes from, and
	// their dead-letter topics, when they are missing.
	KafkaTopicsManaged bool `env:"KAFKA_TOPICS_MANAGED, default=false"`
	// RPCTimeout is the deadline of a call to another service when the
	// incoming request has none closer. It bounds how long a slow
	// dependency can hold a request (and its goroutine) before the client
	// gets a 503.
	RPCTimeout time.Duration `env:"RPC_TIMEOUT, default=2s"`
	// ShutdownTimeout bounds each shutdown phase; DrainDelay keeps serving
	// after readiness turns false so load balancers catch up (a few seconds
	// in Kubernetes).
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT, default=10s"`
	DrainDelay      time.Duration `env:"SHUTDOWN_DRAIN_DELAY, default=0s"`

	// ServiceAuth is "required" (every gRPC call between services carries
	// a token signed by the calling service, see package peerauth) or
	// "off". ServiceKey (or the file ServiceKeyFile, a mounted Secret) is
	// this service's private key; ServicePeers ("name=key,...") and the
	// directory ServicePeersDir (<name>.crt or <name>.pub files) are the
	// public keys of the services allowed to call it.
	ServiceAuth     string `env:"SERVICE_AUTH, default=required"`
	ServiceKey      string `env:"SERVICE_KEY"`
	ServiceKeyFile  string `env:"SERVICE_KEY_FILE"`
	ServicePeers    string `env:"SERVICE_PEERS"`
	ServicePeersDir string `env:"SERVICE_PEERS_DIR"`

	// ConsumerGroupSuffix is appended to every consumer group. Not read
	// from the environment: only tests sharing one real Kafka cluster
	// between several instances of a service need it.
	ConsumerGroupSuffix string
	// ConsumerBackoff spaces a failing event's attempts; zero means
	// kafkabus's default. Not read from the environment.
	ConsumerBackoff kafkabus.Backoff
}

// Spec describes a service to the skeleton.
type Spec struct {
	// Name names the service in telemetry, logs, errors and the default
	// database file; the CloudEvents source of its events is
	// /services/<Name>.
	Name string
	// HTTPPort and GRPCPort are the service's default ports on 127.0.0.1.
	// A zero GRPCPort means the service serves no gRPC.
	HTTPPort, GRPCPort int
	// Migrations is the service's schema (database.MigrationsIn); nil
	// means the service has no database, and so no outbox or consumers.
	Migrations fs.FS
	// OpenAPI is the REST contract, served at /openapi.json.
	OpenAPI []byte
	// Produces lists the topics the service's outbox publishes to.
	Produces []string
	// Sends lists the work queues the service's outbox sends jobs to
	// (Kit.Jobs); the skeleton runs their relay when RABBITMQ_URL is set.
	Sends []string
	// GRPCCallers lists, per full method name, the services allowed to
	// call it. A method not listed is refused to every service (health
	// and reflection excepted): a new method stays closed until opened here.
	GRPCCallers map[string][]string
	// Build wires the service's own parts from what the skeleton provides.
	Build func(ctx context.Context, k *Kit) (Parts, error)
}

// Parts are what a service adds to the skeleton.
type Parts struct {
	// HTTP adds the service's routes to base, which already has the
	// shared middleware and the ops routes, and returns the handler to
	// serve.
	HTTP func(base chi.Router) http.Handler
	// GRPC registers the service's gRPC services; nil when GRPCPort is 0.
	GRPC func(*grpc.Server)
	// Consumers are the Kafka consumers, one group each.
	Consumers []Consumer
	// Workers run until shutdown, stopped with the relay and the
	// consumers after the servers have drained. One returning an error
	// stops the service.
	Workers []Worker
	// Jobs are the work-queue workers, one per queue; they need
	// RABBITMQ_URL.
	Jobs []JobConsumer
}

// Worker is a long-running part of a service, such as a subscription.
type Worker struct {
	Name string
	Run  func(ctx context.Context) error
}

// JobConsumer works off one RabbitMQ work queue: every job on Queue goes
// through Handle, at least once (see workqueue.Handler), with manual acks,
// retries after RetryDelay and the dead-letter queue after MaxAttempts.
// Zero fields take workqueue's defaults. On shutdown the worker takes no
// new jobs and finishes those in flight, within Base.ShutdownTimeout.
type JobConsumer struct {
	// Queue is the work queue, e.g. events.TranscodeQueue.
	Queue  string
	Handle workqueue.Handler
	// Prefetch is how many jobs run at once (default 1).
	Prefetch int
	// MaxAttempts is how often a job is tried before it is dead-lettered
	// (default 5).
	MaxAttempts int
	// RetryDelay is how long a failed job waits before its next attempt
	// (default 5 s).
	RetryDelay time.Duration
	// HandlerTimeout bounds one attempt (default 5 min).
	HandlerTimeout time.Duration
}

// Consumer is one Kafka subscription: every record of Topic goes through
// Handle, exactly once in effect per Group.
type Consumer struct {
	Topic  string
	Group  string
	Handle kafkabus.Handler
}

// Kit is what Build gets to wire a service with. Everything in it is
// closed by the App, in the right order, after the servers have drained.
type Kit struct {
	Base      Base
	Providers telemetry.Providers
	Log       *slog.Logger
	// DB is the service's database, migrated; nil without Migrations.
	DB *database.DB
	// Outbox stores events in the caller's transaction; the App's relay
	// publishes them. Nil when the Spec produces and sends nothing.
	Outbox *outbox.Outbox
	// Jobs enqueues jobs (outbox.Event with Queue set, a queue of
	// Spec.Sends) in the caller's transaction; the App's job relay sends
	// them to RabbitMQ. It is Outbox itself, so events and jobs of one
	// transaction commit together. Nil when RABBITMQ_URL is empty or the
	// Spec sends nothing: the job queue is off, and the domain must do
	// without it (video, for one, marks a new video ready at once).
	Jobs outbox.Writer
	// Health backs /healthz and /readyz; the database is already a
	// readiness check.
	Health *httpx.Health

	name     string
	identity identity
	closers  *lifecycle.Closers
	hooks    []func(context.Context) error
}

// Dial returns a client connection to another service (see grpcx.Dial),
// with Base.RPCTimeout as its default deadline, a circuit breaker and
// bulkhead named for the dependency, and this service's signed token on
// every call. name is the other service's name, the token's audience. It connects lazily, so the
// other service need not be up yet; the App closes it on shutdown.
func (k *Kit) Dial(name, addr string) (*grpc.ClientConn, error) {
	creds, err := k.identity.dialOptions(k.name, name)
	if err != nil {
		return nil, fmt.Errorf("dial %s service: %w", name, err)
	}
	conn, err := grpcx.Dial(addr, k.Providers,
		grpcx.WithDefaultTimeout(k.Base.RPCTimeout),
		grpcx.WithDependency(name, grpcx.DefaultResilience),
		grpcx.WithGRPCOptions(creds...))
	if err != nil {
		return nil, fmt.Errorf("dial %s service at %s: %w", name, addr, err)
	}
	what := name + " service connection"
	k.closers.AddCloser(what, conn)
	k.hooks = append(k.hooks, func(context.Context) error { return lifecycle.CloseNamed(what, conn) })
	return conn, nil
}

// App is a wired service with its listeners bound.
type App struct {
	name     string
	group    *lifecycle.Group
	httpAddr string
	grpcAddr string
	routes   chi.Routes
}

// Routes is the service's REST router, for what walks every route
// (chi.Walk): the security tests, for one. Nil if Parts.HTTP returned a
// handler that is not a chi router.
func (a *App) Routes() chi.Routes { return a.routes }

// HTTPAddr is the bound REST address, e.g. "127.0.0.1:53211".
func (a *App) HTTPAddr() string { return a.httpAddr }

// GRPCAddr is the bound gRPC address; empty without gRPC.
func (a *App) GRPCAddr() string { return a.grpcAddr }

// Run serves until ctx is canceled or a component fails, then shuts down
// in order: readiness off, servers drained, workers (relay, consumers)
// stopped, then clients, producer and database closed. Call it once.
func (a *App) Run(ctx context.Context) error {
	if err := a.group.Run(ctx); err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	return nil
}

// ApplyDefaults fills every zero field of cfg, a pointer to a config
// struct, from its env tag's default. It is what config.Load does with an
// empty environment, so `Config{}` in a test and an empty environment
// behave the same, and fields already set are kept.
func ApplyDefaults(ctx context.Context, cfg any) error {
	err := envconfig.ProcessWith(ctx, &envconfig.Config{
		Target:   cfg,
		Lookuper: envconfig.LookuperFunc(func(string) (string, bool) { return "", false }),
	})
	if err != nil {
		return fmt.Errorf("config defaults: %w", err)
	}
	return nil
}

// New builds the service that spec describes: it opens and migrates the
// database, calls Build, and binds the listeners, so a configuration error
// surfaces here and ":0" addresses have their real port when New returns.
// Nothing here needs Kafka or another service to be up. base must have
// had its defaults applied (config.Load or ApplyDefaults).
func New(ctx context.Context, spec Spec, base Base, p telemetry.Providers) (a *App, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("%s: %w", spec.Name, err)
		}
	}()
	base = spec.defaults(base)
	log := p.Log()
	var closers lifecycle.Closers
	defer closers.CloseOnError(&err)
	id, err := loadIdentity(base)
	if err != nil {
		return nil, err
	}
	k := &Kit{Base: base, Providers: p, Log: log, Health: &httpx.Health{}, name: spec.Name, identity: id, closers: &closers}

	if spec.Migrations != nil {
		if k.DB, err = database.Open(ctx, base.DatabaseURL, spec.Migrations, p); err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		closers.Add(k.DB.Close)
		// Only the database gates readiness: with Kafka or another service
		// down a service still answers what it can, and its events wait in
		// the outbox.
		k.Health.AddCheck("database", k.DB.PingContext)
		if len(spec.Produces) > 0 || len(spec.Sends) > 0 {
			// The outbox versions its table on its own, next to the schema.
			if err := outbox.Migrate(ctx, k.DB); err != nil {
				return nil, err
			}
			k.Outbox = outbox.New(k.DB, "/services/"+spec.Name, p)
			switch {
			case len(spec.Sends) > 0 && base.RabbitMQURL != "":
				k.Jobs = k.Outbox
			case len(spec.Sends) > 0:
				log.InfoContext(ctx, "RABBITMQ_URL is not set: the job queue is off")
			}
		}
	}

	parts, err := spec.Build(ctx, k)
	if err != nil {
		return nil, err
	}

	g := &lifecycle.Group{Logger: log, ShutdownTimeout: base.ShutdownTimeout, DrainDelay: base.DrainDelay}
	g.AddReadiness(k.Health)
	a = &App{name: spec.Name, group: g}
	if err := spec.bind(ctx, g, k, parts, &closers, a); err != nil {
		return nil, err
	}
	if err := spec.addKafka(ctx, g, k, parts, &closers); err != nil {
		return nil, err
	}
	if err := spec.addWorkQueues(g, k, parts); err != nil {
		return nil, err
	}
	for _, w := range parts.Workers {
		g.AddWorker(w.Name, w.Run)
	}

	// Hooks run last registered first, after servers and workers stopped,
	// so nothing can still be using a client, the producer or the pool:
	// the database closes last.
	if k.DB != nil {
		g.OnShutdown(func(context.Context) error { return k.DB.Close() })
	}
	for _, h := range k.hooks {
		g.OnShutdown(h)
	}
	return a, nil
}

// bind creates both servers and binds their listeners.
func (s Spec) bind(ctx context.Context, g *lifecycle.Group, k *Kit, parts Parts, closers *lifecycle.Closers, a *App) error {
	if parts.HTTP == nil {
		return fmt.Errorf("spec %s: Build returned no HTTP handler", s.Name)
	}
	handler := parts.HTTP(NewRouter(s.Name, k.Providers, k.Health, s.OpenAPI))
	a.routes, _ = handler.(chi.Routes)
	httpSrv := &http.Server{
		Handler: handler,
		// Bounded so slow or stalled clients cannot hold connections (and
		// goroutines) forever.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(k.Log.Handler(), slog.LevelWarn),
	}
	httpLn, err := lifecycle.Listen(ctx, k.Base.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	closers.AddCloser("http listener", httpLn)
	g.AddHTTP(s.Name+" http", httpSrv, httpLn)
	a.httpAddr = httpLn.Addr().String()

	if s.GRPCPort == 0 {
		if parts.GRPC != nil {
			return fmt.Errorf("spec %s: gRPC services but no GRPCPort", s.Name)
		}
		return nil
	}
	if k.identity.required && len(k.identity.callers) == 0 && len(s.GRPCCallers) > 0 {
		k.Log.WarnContext(ctx, "no caller public keys (SERVICE_PEERS, SERVICE_PEERS_DIR): every gRPC call from another service will be refused")
	}
	grpcSrv, grpcHealth := grpcx.NewServer(k.Providers, k.identity.serverOptions(s.Name, s.GRPCCallers)...)
	if parts.GRPC != nil {
		parts.GRPC(grpcSrv)
	}
	grpcLn, err := lifecycle.Listen(ctx, k.Base.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc: %w", err)
	}
	closers.AddCloser("grpc listener", grpcLn)
	g.AddReadiness(lifecycle.GRPCHealth(grpcHealth))
	g.AddGRPC(s.Name+" grpc", grpcSrv, grpcLn)
	a.grpcAddr = grpcLn.Addr().String()
	return nil
}

// addKafka adds the relay, the consumers and the gate that holds the
// consumers back until their topics exist.
func (s Spec) addKafka(ctx context.Context, g *lifecycle.Group, k *Kit, parts Parts, closers *lifecycle.Closers) error {
	if len(parts.Consumers) > 0 && k.DB == nil {
		return fmt.Errorf("spec %s: consumers need a database (Migrations) for their inbox", s.Name)
	}
	var topics []kafkabus.TopicSpec
	seen := map[string]bool{}
	addTopic := func(name string) {
		if !seen[name] {
			seen[name] = true
			topics = append(topics, kafkabus.TopicSpec{Name: name})
		}
	}
	for _, t := range s.Produces {
		addTopic(t)
	}
	for _, c := range parts.Consumers {
		addTopic(c.Topic)
	}
	if len(topics) == 0 {
		return nil
	}
	gate := kafkabus.NewTopicGate(k.Base.KafkaBrokers, k.Base.KafkaTopicsManaged, k.Log, topics...)
	g.AddWorker("kafka topics", gate.Ensure)

	if k.Outbox != nil {
		producer := kafkabus.NewProducer(k.Base.KafkaBrokers, k.Providers)
		closers.Add(producer.Close)
		relay := outbox.NewRelay(k.DB, producer, k.Providers, outbox.RelayOptions{Wake: k.Outbox.Wakeups()})
		g.AddWorker("outbox relay", relay.Run)
		k.hooks = append(k.hooks, func(ctx context.Context) error { return closeWithin(ctx, "kafka producer", producer.Close) })
	}

	if len(parts.Consumers) == 0 {
		return nil
	}
	// The inbox records processed events, so each is applied once.
	if err := kafkabus.MigrateInbox(ctx, k.DB); err != nil {
		return err
	}
	for _, c := range parts.Consumers {
		consumer, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{
			Brokers: k.Base.KafkaBrokers,
			GroupID: c.Group + k.Base.ConsumerGroupSuffix,
			Topic:   c.Topic,
			Backoff: k.Base.ConsumerBackoff,
		}, k.DB, c.Handle, k.Providers)
		if err != nil {
			return err
		}
		g.AddWorker(c.Topic+" consumer", gate.Then(consumer.Run))
	}
	return nil
}

// addWorkQueues adds the job relay and the work-queue workers. The job
// relay is a relay of its own, next to the Kafka one, so a RabbitMQ outage
// never holds up the Kafka events (nor a Kafka outage the jobs).
func (s Spec) addWorkQueues(g *lifecycle.Group, k *Kit, parts Parts) error {
	url := k.Base.RabbitMQURL
	if len(parts.Jobs) > 0 && url == "" {
		return fmt.Errorf("spec %s: work-queue workers need RABBITMQ_URL", s.Name)
	}
	if k.Jobs != nil {
		// Declaring the work queues (not their retry queues: the retry
		// delay is the workers' policy) lets the first job go out before
		// any worker has started.
		topos := make([]workqueue.Topology, len(s.Sends))
		for i, q := range s.Sends {
			topos[i] = workqueue.Topology{Queue: q}
		}
		pub := workqueue.NewPublisher(url, k.Providers,
			workqueue.WithTopology(topos...), workqueue.WithConnectionName(s.Name+" outbox"))
		relay := outbox.NewJobRelay(k.DB, pub, k.Providers, outbox.RelayOptions{Wake: k.Outbox.Wakeups()})
		g.AddWorker("outbox job relay", relay.Run)
		k.hooks = append(k.hooks, func(context.Context) error { return pub.Close() })
	}
	for _, j := range parts.Jobs {
		c, err := workqueue.NewConsumer(workqueue.ConsumerConfig{
			URL:            url,
			Topology:       workqueue.Topology{Queue: j.Queue, RetryDelay: j.RetryDelay},
			Prefetch:       j.Prefetch,
			MaxAttempts:    j.MaxAttempts,
			HandlerTimeout: j.HandlerTimeout,
			Name:           s.Name + " " + j.Queue,
		}, j.Handle, k.Providers)
		if err != nil {
			return fmt.Errorf("spec %s: %w", s.Name, err)
		}
		g.AddWorker(j.Queue+" worker", c.Run)
	}
	return nil
}

// defaults fills what depends on the service.
func (s Spec) defaults(b Base) Base {
	if b.HTTPAddr == "" {
		b.HTTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.HTTPPort))
	}
	if b.GRPCAddr == "" && s.GRPCPort != 0 {
		b.GRPCAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.GRPCPort))
	}
	if b.DatabaseURL == "" {
		b.DatabaseURL = "sqlite://.data/" + s.Name + ".db"
	}
	return b
}

// NewRouter returns a router with the middleware every service shares
// (request ids, tracing, access log, panic recovery, body limit; see
// httpx.NewRouter) and the ops routes: /healthz, /readyz, /metrics and
// /openapi.json. The service adds its API to it.
func NewRouter(name string, p telemetry.Providers, health *httpx.Health, openAPI []byte) chi.Router {
	if health == nil {
		health = &httpx.Health{}
	}
	r := httpx.NewRouter(p, name)
	r.Get("/healthz", health.Liveness())
	r.Get("/readyz", health.Readiness())
	r.Method(http.MethodGet, "/metrics", telemetry.MetricsHandler(p))
	r.Get("/openapi.json", httpx.ServeOpenAPI(openAPI))
	return r
}

// closeWithin runs closeFn but stops waiting for it when ctx ends. kafka-go's
// Writer.Close waits for batches still being retried against an
// unreachable broker; the outbox keeps those events, so giving up on them
// loses nothing, and shutdown stays bounded.
func closeWithin(ctx context.Context, what string, closeFn func() error) error {
	done := make(chan error, 1)
	go func() { done <- closeFn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%s: not closed within the shutdown timeout: %w", what, context.Cause(ctx))
	}
}
