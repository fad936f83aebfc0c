package service

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/vidstream/vidstream/services/internal/config"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// RunFromEnv is the body of a service's run(ctx, args, getenv, stdout): it
// loads the configuration C from getenv (config.Load), sets up telemetry
// (exporters chosen by the OTEL_* variables, logs to stdout), builds the
// service with newApp and serves until ctx ends.
func RunFromEnv[C any](ctx context.Context, name string, getenv func(string) string, stdout io.Writer,
	newApp func(context.Context, C, telemetry.Providers) (*App, error),
) (err error) {
	var cfg C
	if err := config.Load(ctx, getenv, &cfg); err != nil {
		return err
	}
	p, shutdown, err := telemetry.Setup(ctx, name, getenv, stdout)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	// Telemetry is flushed last, after the servers have drained and the
	// workers stopped, so the spans and logs of the final requests survive.
	defer func() {
		if serr := shutdown(context.WithoutCancel(ctx)); serr != nil {
			err = errors.Join(err, fmt.Errorf("telemetry shutdown: %w", serr))
		}
	}()

	a, err := newApp(ctx, cfg, p)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
