// Package app is the video service's composition root: it wires the
// database, the domain, the REST and gRPC adapters and the client of the
// user service into a runnable App. It lives outside internal/ so that
// cross-service tests can run the real service in-process, with their own
// telemetry providers.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/lifecycle"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/grpcapi"
	"github.com/vidstream/vidstream/services/video/internal/httpapi"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// ServiceName names the service in telemetry.
const ServiceName = "video"

// Defaults for the fields that must not be empty; the env tags repeat them
// so `Config{}` in a test and an empty environment behave the same.
const (
	DefaultHTTPAddr     = "127.0.0.1:8082"
	DefaultGRPCAddr     = "127.0.0.1:9082"
	DefaultDatabaseURL  = "sqlite://.data/video.db"
	DefaultUserGRPCAddr = "127.0.0.1:9081"
)

// Config is the video service's configuration, loaded from the environment
// by config.Load.
type Config struct {
	HTTPAddr    string `env:"HTTP_ADDR, default=127.0.0.1:8082"`
	GRPCAddr    string `env:"GRPC_ADDR, default=127.0.0.1:9082"`
	DatabaseURL string `env:"DATABASE_URL, default=sqlite://.data/video.db"`
	// UserGRPCAddr is the user service, asked about every bearer token.
	UserGRPCAddr string `env:"USER_GRPC_ADDR, default=127.0.0.1:9081"`

	// ShutdownTimeout bounds each shutdown phase; DrainDelay keeps serving
	// after readiness turns false so load balancers catch up (a few seconds
	// in Kubernetes).
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT, default=10s"`
	DrainDelay      time.Duration `env:"SHUTDOWN_DRAIN_DELAY, default=0s"`
}

// App is a wired video service with its listeners bound.
type App struct {
	group    *lifecycle.Group
	httpAddr string
	grpcAddr string
}

// New opens (and migrates) the database, connects to the user service,
// builds both APIs and binds their listeners, so a configuration error
// surfaces here and ":0" addresses have their real port when New returns.
func New(ctx context.Context, cfg Config, p telemetry.Providers) (a *App, err error) {
	cfg = cfg.withDefaults()
	var cleanup []func() error
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				err = errors.Join(err, cleanup[i]())
			}
		}
	}()

	db, err := database.Open(ctx, cfg.DatabaseURL, store.Migrations(), p)
	if err != nil {
		return nil, fmt.Errorf("video: open database: %w", err)
	}
	cleanup = append(cleanup, db.Close)

	// grpc.NewClient connects lazily, so the user service need not be up
	// yet: until it is, authenticated requests answer 503 and reads work.
	userConn, err := grpcx.Dial(cfg.UserGRPCAddr, p)
	if err != nil {
		return nil, fmt.Errorf("video: dial user service at %s: %w", cfg.UserGRPCAddr, err)
	}
	cleanup = append(cleanup, userConn.Close)

	svc := domain.NewService(store.New(db))
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
		ErrorLog:          slog.NewLogLogger(loggerOf(p).Handler(), slog.LevelWarn),
	}
	grpcSrv, grpcHealth := grpcx.NewServer(p)
	grpcapi.Register(grpcSrv, svc)

	httpLn, err := lifecycle.Listen(ctx, cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("video: http: %w", err)
	}
	cleanup = append(cleanup, ignoreClosed(httpLn))
	grpcLn, err := lifecycle.Listen(ctx, cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("video: grpc: %w", err)
	}

	g := &lifecycle.Group{
		Logger:          loggerOf(p),
		ShutdownTimeout: cfg.ShutdownTimeout,
		DrainDelay:      cfg.DrainDelay,
	}
	g.AddReadiness(health)
	g.AddReadiness(lifecycle.GRPCHealth(grpcHealth))
	g.AddHTTP("video http", httpSrv, httpLn)
	g.AddGRPC("video grpc", grpcSrv, grpcLn)
	// Hooks run after both servers have drained, last registered first: no
	// request can still be using the pool or the user connection.
	g.OnShutdown(func(context.Context) error { return db.Close() })
	g.OnShutdown(func(context.Context) error {
		if err := userConn.Close(); err != nil {
			return fmt.Errorf("close user service connection: %w", err)
		}
		return nil
	})

	return &App{group: g, httpAddr: httpLn.Addr().String(), grpcAddr: grpcLn.Addr().String()}, nil
}

// HTTPAddr is the bound REST address, e.g. "127.0.0.1:53211".
func (a *App) HTTPAddr() string { return a.httpAddr }

// GRPCAddr is the bound gRPC address.
func (a *App) GRPCAddr() string { return a.grpcAddr }

// Run serves until ctx is canceled or a server fails, then drains both
// servers, closes the user service connection and the database. Call it once.
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
	return c
}

func loggerOf(p telemetry.Providers) *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

// ignoreClosed closes ln, which a failed New owns, for the cleanup list.
func ignoreClosed(ln net.Listener) func() error {
	return func() error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("close listener: %w", err)
		}
		return nil
	}
}
