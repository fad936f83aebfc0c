// Command video runs the video catalog service: REST on HTTP_ADDR, the
// VideoService over gRPC on GRPC_ADDR; it authenticates bearer tokens with
// the user service at USER_GRPC_ADDR, publishes catalog events to Kafka
// (KAFKA_BROKERS) through its outbox and counts views from watch history's
// VideoWatched events. See app.Config for the environment it reads.
package main

import (
	"context"
	"io"

	"github.com/vidstream/vidstream/services/internal/lifecycle"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/video/app"
)

func main() { lifecycle.Main("video", run) }

// run is main without process globals, so it can be tested.
func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	return service.RunFromEnv(ctx, app.ServiceName, getenv, stdout, app.New)
}
