// Command user runs the user service: accounts, sessions and token checks
// over REST (HTTP_ADDR) and gRPC (GRPC_ADDR); it publishes UserCreated and
// UserDeleted to Kafka (KAFKA_BROKERS) through its outbox. See app.Config
// for the environment it reads.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/user/app"
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
func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	return service.RunFromEnv(ctx, app.ServiceName, getenv, stdout, app.New)
}
