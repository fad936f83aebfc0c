// Command user runs the user service: accounts, sessions and token checks
// over REST (HTTP_ADDR) and gRPC (GRPC_ADDR); it publishes UserCreated and
// UserDeleted to Kafka (KAFKA_BROKERS) through its outbox. See app.Config
// for the environment it reads.
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
	"github.com/vidstream/vidstream/services/user/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout)
	stop() // before os.Exit, which skips deferred calls
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
