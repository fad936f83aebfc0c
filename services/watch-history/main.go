// Command watch-history runs the watch-history service: playback positions
// over REST (HTTP_ADDR) and gRPC (GRPC_ADDR), WatchProgressed and
// VideoWatched events through the outbox to Kafka, and the consumers that
// forget deleted users and videos and keep titles fresh. See app.Config for
// the environment it reads.
package main

import (
	"context"
	"io"

	"github.com/vidstream/vidstream/services/internal/lifecycle"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/watch-history/app"
)

func main() { lifecycle.Main("watch-history", run) }

// run is main without process globals, so it can be tested.
func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	return service.RunFromEnv(ctx, app.ServiceName, getenv, stdout, app.New)
}
