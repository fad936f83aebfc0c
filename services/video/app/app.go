// Package app is the video service's composition root: its configuration
// and how its domain, store, view counter and adapters are wired on the
// service skeleton (services/internal/service), which runs them. It lives
// outside internal/ so that cross-service tests can run the real service
// in-process, with their own telemetry providers.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"google.golang.org/grpc"

	"github.com/vidstream/vidstream/services/api/events"
	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	videov1 "github.com/vidstream/vidstream/services/api/video/v1"
	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/internal/consumers"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/grpcapi"
	"github.com/vidstream/vidstream/services/video/internal/httpapi"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// ServiceName names the service in telemetry.
const ServiceName = "video"

// Config is the video service's configuration, loaded from the environment
// by config.Load.
type Config struct {
	service.Base
	// UserGRPCAddr is the user service, asked about every bearer token.
	UserGRPCAddr string `env:"USER_GRPC_ADDR, default=127.0.0.1:9081"`

	// RedisURL is where replicas tell each other to drop cached videos;
	// empty turns the read cache off (see readCache).
	RedisURL string `env:"REDIS_URL"`
	// VideoCacheSize bounds the read cache in entries; VideoCacheTTL is a
	// safety net only, invalidation is what keeps it current.
	VideoCacheSize int           `env:"VIDEO_CACHE_SIZE, default=10000"`
	VideoCacheTTL  time.Duration `env:"VIDEO_CACHE_TTL, default=5m"`
	// CacheChannel replaces the invalidation channel. Not read from the
	// environment: only tests sharing one Redis need it.
	CacheChannel string

	// TranscodeQueue is the work queue transcode jobs go to when the job
	// queue is on (RABBITMQ_URL); the transcoder works the same one off.
	TranscodeQueue string `env:"TRANSCODE_QUEUE, default=vidstream.transcode"`
}

// New wires the video service; see service.New for what it opens and binds.
func New(ctx context.Context, cfg Config, p telemetry.Providers) (*service.App, error) {
	if err := service.ApplyDefaults(ctx, &cfg); err != nil {
		return nil, fmt.Errorf("video: %w", err)
	}
	return service.New(ctx, service.Spec{
		Name:     ServiceName,
		HTTPPort: 8082,
		GRPCPort: 9082,
		// watch-history checks the video of every progress report; the
		// transcoder reports the outcome of every transcode job.
		GRPCCallers: map[string][]string{
			videov1.VideoService_GetVideo_FullMethodName:          {"watch-history"},
			videov1.VideoService_BatchGetVideos_FullMethodName:    {"watch-history"},
			videov1.VideoService_CompleteTranscode_FullMethodName: {"transcoder"},
		},
		Migrations: store.Migrations(),
		OpenAPI:    httpapi.OpenAPI,
		Produces:   []string{events.VideosTopic},
		Sends:      []string{cfg.TranscodeQueue},
		Build: func(_ context.Context, k *service.Kit) (service.Parts, error) {
			// Connects lazily: until the user service is up, authenticated
			// requests answer 503 and reads work.
			userConn, err := k.Dial("user", cfg.UserGRPCAddr)
			if err != nil {
				return service.Parts{}, err
			}
			var (
				storeOpts  []store.Option
				domainOpts []domain.Option
			)
			if k.Jobs != nil {
				// With a job queue, a new video waits for the transcoder;
				// without, it is ready at once.
				storeOpts = append(storeOpts, store.WithTranscodeQueue(cfg.TranscodeQueue))
				domainOpts = append(domainOpts, domain.WithTranscoding())
			}
			st, workers, err := readCache(k, cfg, store.New(k.DB, k.Outbox, storeOpts...))
			if err != nil {
				return service.Parts{}, err
			}
			svc := domain.NewService(st, domainOpts...)
			viewCounter := consumers.NewViewCounter(svc, st, k.Log.With(slog.String("component", "view-counter")))
			return service.Parts{
				HTTP: func(base chi.Router) http.Handler {
					return httpapi.NewServer(base, httpapi.Deps{
						Service: svc,
						// No caching in front of the user service: a logout
						// must take effect here at once.
						Auth: auth.NewGRPCAuthenticator(userv1.NewUserServiceClient(userConn)),
					})
				},
				GRPC: func(s *grpc.Server) { grpcapi.Register(s, svc) },
				Consumers: []service.Consumer{
					{Topic: events.WatchTopic, Group: events.ViewCounterGroup, Handle: viewCounter.Handle},
				},
				Workers: workers,
			}, nil
		},
	}, cfg.Base, p)
}
