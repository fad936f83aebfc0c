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
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/transcoder/app"
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
