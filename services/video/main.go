// Command video runs the video catalog service: REST on HTTP_ADDR, the
// VideoService over gRPC on GRPC_ADDR; it authenticates bearer tokens with
// the user service at USER_GRPC_ADDR, publishes catalog events to Kafka
// (KAFKA_BROKERS) through its outbox and counts views from watch history's
// VideoWatched events. See app.Config for the environment it reads.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vidstream/vidstream/services/internal/service"
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
func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	return service.RunFromEnv(ctx, app.ServiceName, getenv, stdout, app.New)
}
