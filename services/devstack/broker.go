package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// brokerPort is the embedded broker's port (docs/architecture.md#ports).
const brokerPort = 9092

// runBroker is `devstack broker`: kfake, an in-process implementation of the
// Kafka protocol, on 127.0.0.1 only, persisting topics, records and
// committed offsets under a data directory so a restart resumes where the
// last run stopped. devstack runs it as a child process of its own rather
// than in its own process, so the broker is stopped, and its data saved, in
// the same order and the same way as every other part.
func runBroker(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("devstack broker", flag.ContinueOnError)
	fs.SetOutput(stdout)
	port := fs.Int("port", brokerPort, "port on 127.0.0.1")
	dataDir := fs.String("data", "", "directory keeping the broker's state across restarts (required)")
	logLevel := fs.String("log-level", "warn", "kfake's log level: error, warn, info or debug")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dataDir == "" {
		return errors.New("broker: -data is required")
	}
	levels := map[string]kfake.LogLevel{
		"error": kfake.LogLevelError, "warn": kfake.LogLevelWarn,
		"info": kfake.LogLevelInfo, "debug": kfake.LogLevelDebug,
	}
	level, ok := levels[*logLevel]
	if !ok {
		return fmt.Errorf("broker: -log-level %q is not error, warn, info or debug", *logLevel)
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: slog.LevelDebug}))

	start := time.Now()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(*port),
		kfake.DataDir(*dataDir),
		kfake.WithLogger(kfakeLogger{log: log, level: level}),
	)
	if err != nil {
		return fmt.Errorf("broker: start kfake on 127.0.0.1:%d: %w", *port, err)
	}
	log.InfoContext(ctx, "kfake broker listening",
		slog.Any("addrs", c.ListenAddrs()), slog.String("data", *dataDir),
		slog.String("startup", time.Since(start).Round(time.Millisecond).String()))

	<-ctx.Done()
	// Close writes the cluster's state to the data directory before it
	// returns: this is what makes data survive a restart.
	c.Close()
	log.InfoContext(context.WithoutCancel(ctx), "kfake broker stopped, state saved", slog.String("data", *dataDir))
	return nil
}

// kfakeLogger routes kfake's messages to slog.
type kfakeLogger struct {
	log   *slog.Logger
	level kfake.LogLevel
}

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	if level > l.level || level == kfake.LogLevelNone {
		return
	}
	lvl := map[kfake.LogLevel]slog.Level{
		kfake.LogLevelError: slog.LevelError,
		kfake.LogLevelWarn:  slog.LevelWarn,
		kfake.LogLevelInfo:  slog.LevelInfo,
		kfake.LogLevelDebug: slog.LevelDebug,
	}[level]
	l.log.Log(context.Background(), lvl, fmt.Sprintf(format, args...))
}
