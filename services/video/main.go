// Command video runs the video catalog service: REST on HTTP_ADDR, the
// VideoService over gRPC on GRPC_ADDR; it authenticates bearer tokens with
// the user service at USER_GRPC_ADDR, publishes catalog events to Kafka
// (KAFKA_BROKERS) through its outbox and counts views from watch history's
// VideoWatched events. See app.Config for the environment it reads.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vidstream/vidstream/services/internal/config"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout)
	// Not deferred: os.Exit would skip it.
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run is main without process globals, so it can be tested.
func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) (err error) {
	var cfg app.Config
	if err := config.Load(ctx, getenv, &cfg); err != nil {
		return err
	}
	p, shutdown, err := telemetry.Setup(ctx, app.ServiceName, getenv, stdout)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	// Telemetry is flushed last, after the servers have drained, so the
	// spans and logs of the final requests are not lost.
	defer func() {
		if serr := shutdown(context.WithoutCancel(ctx)); serr != nil {
			err = errors.Join(err, fmt.Errorf("telemetry shutdown: %w", serr))
		}
	}()

	a, err := app.New(ctx, cfg, p)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
