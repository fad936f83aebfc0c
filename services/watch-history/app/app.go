// Package app is the watch-history service's composition root: its
// configuration and how its domain, store, consumers, the clients of the
// user and video services and its adapters are wired on the service
// skeleton (services/internal/service), which runs them. It lives outside
// internal/ so that cross-service tests can run the real service
// in-process, with their own telemetry providers.
package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	"google.golang.org/grpc"

	"github.com/vidstream/vidstream/services/api/events"
	historyv1 "github.com/vidstream/vidstream/services/api/history/v1"
	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	videov1 "github.com/vidstream/vidstream/services/api/video/v1"
	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/watch-history/internal/catalog"
	"github.com/vidstream/vidstream/services/watch-history/internal/consumers"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
	"github.com/vidstream/vidstream/services/watch-history/internal/grpcapi"
	"github.com/vidstream/vidstream/services/watch-history/internal/httpapi"
	"github.com/vidstream/vidstream/services/watch-history/internal/store"
)

// ServiceName names the service in telemetry.
const ServiceName = "watch-history"

// Config is the service's configuration, loaded from the environment by
// config.Load.
type Config struct {
	service.Base
	// UserGRPCAddr is the user service, asked about every bearer token.
	UserGRPCAddr string `env:"USER_GRPC_ADDR, default=127.0.0.1:9081"`
	// VideoGRPCAddr is the video service, asked about the video of every
	// progress report.
	VideoGRPCAddr string `env:"VIDEO_GRPC_ADDR, default=127.0.0.1:9082"`
}

// New wires the watch-history service; see service.New for what it opens
// and binds. Nothing here needs Kafka, the user service or the video
// service to be up: clients connect lazily, events wait in the outbox and
// consumers keep retrying, so it serves as soon as its database does.
func New(ctx context.Context, cfg Config, p telemetry.Providers) (*service.App, error) {
	if err := service.ApplyDefaults(ctx, &cfg); err != nil {
		return nil, fmt.Errorf("watch-history: %w", err)
	}
	return service.New(ctx, service.Spec{
		Name:     ServiceName,
		HTTPPort: 8083,
		GRPCPort: 9083,
		// No service reads histories over gRPC yet, so ListHistory is
		// open to none: name a caller here when one needs it.
		GRPCCallers: map[string][]string{
			historyv1.WatchHistoryService_ListHistory_FullMethodName: {},
		},
		Migrations: store.Migrations(),
		OpenAPI:    httpapi.OpenAPI,
		Produces:   []string{events.WatchTopic},
		Build: func(_ context.Context, k *service.Kit) (service.Parts, error) {
			userConn, err := k.Dial("user", cfg.UserGRPCAddr)
			if err != nil {
				return service.Parts{}, err
			}
			videoConn, err := k.Dial("video", cfg.VideoGRPCAddr)
			if err != nil {
				return service.Parts{}, err
			}
			st := store.New(k.DB, k.Outbox)
			svc := domain.NewService(st, catalog.New(videov1.NewVideoServiceClient(videoConn)))
			handlers := consumers.New(svc, st)
			return service.Parts{
				HTTP: func(base chi.Router) http.Handler {
					return httpapi.NewServer(base, httpapi.Deps{
						Service: svc,
						Auth:    auth.NewGRPCAuthenticator(userv1.NewUserServiceClient(userConn)),
					})
				},
				GRPC: func(s *grpc.Server) { grpcapi.Register(s, svc) },
				Consumers: []service.Consumer{
					{Topic: events.UsersTopic, Group: events.HistoryUsersGroup, Handle: handlers.Users},
					{Topic: events.VideosTopic, Group: events.HistoryVideosGroup, Handle: handlers.Videos},
				},
			}, nil
		},
	}, cfg.Base, p)
}
