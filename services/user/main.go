// Command user runs the user service: accounts, sessions and token checks
// over REST (HTTP_ADDR) and gRPC (GRPC_ADDR); it publishes UserCreated and
// UserDeleted to Kafka (KAFKA_BROKERS) through its outbox. See app.Config
// for the environment it reads.
package main

import (
	"context"
	"io"

	"github.com/vidstream/vidstream/services/internal/lifecycle"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/user/app"
)

func main() { lifecycle.Main("user", run) }

// run is main without process globals, so it can be tested.
func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	return service.RunFromEnv(ctx, app.ServiceName, getenv, stdout, app.New)
}
