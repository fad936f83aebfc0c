// Command watch-history runs the watch-history service: playback positions
// over REST (HTTP_ADDR) and gRPC (GRPC_ADDR), WatchProgressed and
// VideoWatched events through the outbox to Kafka, and the consumers that
// forget deleted users and videos and keep titles fresh. See app.Config for
// the environment it reads.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/watch-history/app"
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
