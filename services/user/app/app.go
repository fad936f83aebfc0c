// Package app is the user service's composition root: its configuration
// and how its domain, store and adapters are wired on the service skeleton
// (services/internal/service), which runs them. It lives outside internal/
// so that cross-service tests can run the real service in-process, with
// their own telemetry providers.
package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"google.golang.org/grpc"

	"github.com/vidstream/vidstream/services/api/events"
	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/user/internal/domain"
	"github.com/vidstream/vidstream/services/user/internal/grpcapi"
	"github.com/vidstream/vidstream/services/user/internal/httpapi"
	"github.com/vidstream/vidstream/services/user/internal/store"
)

// ServiceName names the service in telemetry.
const ServiceName = "user"

// Config is the user service's configuration, loaded from the environment
// by config.Load.
type Config struct {
	service.Base

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

	// Now replaces the clock; tests use it to expire tokens without
	// sleeping. Not read from the environment.
	Now func() time.Time
}

// New wires the user service; see service.New for what it opens and binds.
func New(ctx context.Context, cfg Config, p telemetry.Providers) (*service.App, error) {
	if err := service.ApplyDefaults(ctx, &cfg); err != nil {
		return nil, fmt.Errorf("user: %w", err)
	}
	return service.New(ctx, service.Spec{
		Name:     ServiceName,
		HTTPPort: 8081,
		GRPCPort: 9081,
		// Both other services authenticate their users' tokens here;
		// watch-history is the user lookups' consumer.
		GRPCCallers: map[string][]string{
			userv1.UserService_AuthenticateToken_FullMethodName: {"video", "watch-history"},
			userv1.UserService_GetUser_FullMethodName:           {"watch-history"},
			userv1.UserService_BatchGetUsers_FullMethodName:     {"watch-history"},
		},
		Migrations: store.Migrations(),
		OpenAPI:    httpapi.OpenAPI,
		Produces:   []string{events.UsersTopic},
		Build: func(ctx context.Context, k *service.Kit) (service.Parts, error) {
			svc, err := domain.NewService(ctx, store.New(k.DB, k.Outbox), domain.Config{
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
				return service.Parts{}, err
			}
			return service.Parts{
				HTTP: func(base chi.Router) http.Handler {
					return httpapi.NewServer(base, httpapi.Deps{Service: svc, TrustedProxyHops: cfg.TrustedProxyHops})
				},
				GRPC: func(s *grpc.Server) { grpcapi.Register(s, svc) },
			}, nil
		},
	}, cfg.Base, p)
}
