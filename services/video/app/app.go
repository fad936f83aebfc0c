// Package app is the video service's composition root: it wires the
// database, the domain, the REST and gRPC adapters and the client of the
// user service. It is not internal so that cross-service tests can run the
// real service in their own process (see the platform spec's "Service
// composition root").
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/grpcapi"
	"github.com/vidstream/vidstream/services/video/internal/httpapi"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// ServiceName names the service in telemetry.
const ServiceName = "video"

// Config is the service's environment (loaded with services/internal/config).
type Config struct {
	HTTPAddr    string `env:"HTTP_ADDR, default=127.0.0.1:8082"`
	GRPCAddr    string `env:"GRPC_ADDR, default=127.0.0.1:9082"`
	DatabaseURL string `env:"DATABASE_URL, default=sqlite://.data/video.db"`
	// UserGRPCAddr is the user service, asked about every bearer token.
	UserGRPCAddr string `env:"USER_GRPC_ADDR, default=127.0.0.1:9081"`
}

// App is a wired video service with its listeners bound.
type App struct {
	p          telemetry.Providers
	db         *database.DB
	userConn   *grpc.ClientConn
	health     *httpx.Health
	httpServer *http.Server
	httpLn     net.Listener
	grpcServer *grpc.Server
	grpcHealth *health.Server
	grpcLn     net.Listener
}

// New opens and migrates the database, connects to the user service, builds
// both APIs and binds their listeners, so that HTTPAddr and GRPCAddr are
// known (and connectable) before Run: tests pass ":0" addresses.
func New(ctx context.Context, cfg Config, p telemetry.Providers) (_ *App, err error) {
	a := &App{p: p, health: &httpx.Health{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.close())
		}
	}()

	if a.db, err = database.Open(ctx, cfg.DatabaseURL, store.Migrations(), p); err != nil {
		return nil, fmt.Errorf("video: %w", err)
	}
	// grpc.NewClient connects lazily, so the user service need not be up
	// yet; requests needing authentication answer 503 until it is.
	if a.userConn, err = grpcx.Dial(cfg.UserGRPCAddr, p); err != nil {
		return nil, fmt.Errorf("video: dial user service at %s: %w", cfg.UserGRPCAddr, err)
	}

	svc := domain.NewService(store.New(a.db))
	a.health.AddCheck("database", a.db.PingContext)

	a.httpServer = &http.Server{
		Handler: httpapi.NewServer(httpapi.Deps{
			Service:   svc,
			Auth:      auth.NewGRPCAuthenticator(userv1.NewUserServiceClient(a.userConn)),
			Providers: p,
			Health:    a.health,
		}),
		// Bounds against slow clients holding connections open; the write
		// timeout leaves room for the slowest legitimate response.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// net/http's own complaints (bad TLS handshakes, header parse
		// errors) go to the JSON log like everything else.
		ErrorLog: slog.NewLogLogger(logger(p).Handler(), slog.LevelWarn),
	}
	a.grpcServer, a.grpcHealth = grpcx.NewServer(p)
	grpcapi.Register(a.grpcServer, svc)

	var lc net.ListenConfig
	if a.httpLn, err = lc.Listen(ctx, "tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("video: listen for HTTP on %s: %w", cfg.HTTPAddr, err)
	}
	if a.grpcLn, err = lc.Listen(ctx, "tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("video: listen for gRPC on %s: %w", cfg.GRPCAddr, err)
	}
	return a, nil
}

// HTTPAddr is the bound REST address, e.g. "127.0.0.1:53211".
func (a *App) HTTPAddr() string { return a.httpLn.Addr().String() }

// GRPCAddr is the bound gRPC address.
func (a *App) GRPCAddr() string { return a.grpcLn.Addr().String() }

// close releases what New acquired, in reverse order; listeners are closed
// by their servers once Run has handed them over.
func (a *App) close() error {
	var errs []error
	for _, ln := range []net.Listener{a.grpcLn, a.httpLn} {
		if ln != nil {
			if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, fmt.Errorf("close listener: %w", err))
			}
		}
	}
	if a.userConn != nil {
		if err := a.userConn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close user service connection: %w", err))
		}
	}
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// logger tolerates zero Providers (a test may pass telemetry.Providers{}).
func logger(p telemetry.Providers) *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}
