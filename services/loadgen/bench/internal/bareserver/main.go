// Command bareserver serves package bare's baseline handler as a process
// of its own, so that the process benchmarks can compare each service's
// memory and start-up time with the least a Go service on the same
// libraries (chi, database/sql and the same drivers) needs.
//
// Environment: HTTP_ADDR (default 127.0.0.1:8089) and DATABASE_URL (a
// vidstream database URL, default sqlite://.data/bare.db).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/lifecycle"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/loadgen/bench/internal/bare"
)

func main() { lifecycle.Main("bareserver", run) }

func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	db, err := database.Open(ctx, env("DATABASE_URL", "sqlite://.data/bare.db"), nil, telemetry.Noop())
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	if err := bare.Migrate(ctx, db.DB); err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", env("HTTP_ADDR", "127.0.0.1:8089"))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: bare.NewHandler(db.DB), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "bareserver listening on %s\n", ln.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
