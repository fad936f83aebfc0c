// Package app is the transcoder's composition root: its configuration and
// how its worker, renderer and video client are wired on the service
// skeleton (services/internal/service), which runs them. It lives outside
// internal/ so that cross-service tests can run the real service
// in-process, with their own telemetry providers.
package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	videov1 "github.com/vidstream/vidstream/services/api/video/v1"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/transcoder/internal/domain"
	"github.com/vidstream/vidstream/services/transcoder/internal/httpapi"
	"github.com/vidstream/vidstream/services/transcoder/internal/jobs"
	"github.com/vidstream/vidstream/services/transcoder/internal/render"
	"github.com/vidstream/vidstream/services/transcoder/internal/videoclient"
)

// ServiceName names the service in telemetry and in the tokens it signs.
const ServiceName = "transcoder"

// Config is the transcoder's configuration, loaded from the environment by
// config.Load.
type Config struct {
	service.Base
	// VideoGRPCAddr is the video service, told the outcome of every job.
	VideoGRPCAddr string `env:"VIDEO_GRPC_ADDR, default=127.0.0.1:9082"`
	// Queue is the work queue the jobs come from, the one video sends to.
	Queue string `env:"TRANSCODE_QUEUE, default=vidstream.transcode"`
	// Duration is how long a simulated job takes, all renditions together.
	Duration time.Duration `env:"TRANSCODE_DURATION, default=3s"`
	// FailureRate is the probability, 0 to 1, that an attempt fails.
	FailureRate float64 `env:"TRANSCODE_FAILURE_RATE, default=0"`
	// Seed makes the simulated failures reproducible; 0 means random.
	Seed uint64 `env:"TRANSCODE_SEED, default=0"`
	// Prefetch is how many jobs one replica works on at once.
	Prefetch int `env:"TRANSCODE_PREFETCH, default=2"`
	// MaxAttempts is how often a job is tried before it is dead-lettered
	// (the last attempt reports FAILED to video first).
	MaxAttempts int `env:"TRANSCODE_MAX_ATTEMPTS, default=5"`
	// RetryDelay is how long a failed job waits before its next attempt.
	RetryDelay time.Duration `env:"TRANSCODE_RETRY_DELAY, default=5s"`
}

// New wires the transcoder; see service.New for what it opens and binds.
func New(ctx context.Context, cfg Config, p telemetry.Providers) (*service.App, error) {
	if err := service.ApplyDefaults(ctx, &cfg); err != nil {
		return nil, fmt.Errorf("transcoder: %w", err)
	}
	if cfg.RabbitMQURL == "" {
		return nil, errors.New("transcoder: RABBITMQ_URL is required: the transcoder works jobs off RabbitMQ")
	}
	if cfg.Prefetch < 1 || cfg.MaxAttempts < 1 || cfg.RetryDelay <= 0 {
		return nil, fmt.Errorf("transcoder: TRANSCODE_PREFETCH (%d) and TRANSCODE_MAX_ATTEMPTS (%d) must be at least 1, TRANSCODE_RETRY_DELAY (%v) positive",
			cfg.Prefetch, cfg.MaxAttempts, cfg.RetryDelay)
	}
	renderer, err := render.New(render.Options{Duration: cfg.Duration, FailureRate: cfg.FailureRate, Seed: cfg.Seed}, p)
	if err != nil {
		return nil, fmt.Errorf("transcoder: TRANSCODE_*: %w", err)
	}
	return service.New(ctx, service.Spec{
		Name:     ServiceName,
		HTTPPort: 8084,
		// No database: the video service's CompleteTranscode is
		// idempotent, which is all the deduplication at-least-once
		// delivery needs here.
		OpenAPI: httpapi.OpenAPI,
		Build: func(_ context.Context, k *service.Kit) (service.Parts, error) {
			// Connects lazily: while video is down, jobs fail and wait
			// out the retry delay in the queue.
			videoConn, err := k.Dial("video", cfg.VideoGRPCAddr)
			if err != nil {
				return service.Parts{}, err
			}
			worker := domain.NewWorker(renderer, videoclient.New(videov1.NewVideoServiceClient(videoConn)), cfg.MaxAttempts)
			return service.Parts{
				HTTP: httpapi.NewServer,
				Jobs: []service.JobConsumer{{
					Queue:       cfg.Queue,
					Handle:      jobs.Handler(worker, k.Log),
					Prefetch:    cfg.Prefetch,
					MaxAttempts: cfg.MaxAttempts,
					RetryDelay:  cfg.RetryDelay,
				}},
			}, nil
		},
	}, cfg.Base, p)
}
