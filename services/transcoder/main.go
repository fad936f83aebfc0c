// Command transcoder works transcode jobs off the RabbitMQ work queue
// vidstream.transcode (RABBITMQ_URL): it renders each video's renditions
// (simulated: TRANSCODE_DURATION, TRANSCODE_FAILURE_RATE) and reports the
// outcome to the video service (VIDEO_GRPC_ADDR) with CompleteTranscode,
// acknowledging a job only once video has recorded it. Its REST port
// (HTTP_ADDR) serves the ops endpoints. See app.Config for the environment
// it reads.
package main

import (
	"context"
	"io"

	"github.com/vidstream/vidstream/services/internal/lifecycle"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/transcoder/app"
)

func main() { lifecycle.Main("transcoder", run) }

// run is main without process globals, so it can be tested.
func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	return service.RunFromEnv(ctx, app.ServiceName, getenv, stdout, app.New)
}
