package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// redisPort is the embedded Redis's port (docs/architecture.md#ports).
const redisPort = 6379

// runRedis is `devstack redis`: miniredis, an in-process server speaking
// the Redis protocol, on 127.0.0.1 only. Its data lives in memory: all the
// stack keeps there is the video replicas' cache invalidation channel,
// which holds nothing between messages. A process of its own, like the
// broker, so that it stops in order with everything else.
func runRedis(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("devstack redis", flag.ContinueOnError)
	fs.SetOutput(stdout)
	port := fs.Int("port", redisPort, "port on 127.0.0.1")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := miniredis.NewMiniRedis()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(*port))
	if err := m.StartAddr(addr); err != nil {
		return fmt.Errorf("redis: start miniredis on %s: %w", addr, err)
	}
	log.InfoContext(ctx, "embedded Redis listening", slog.String("addr", m.Addr()))
	<-ctx.Done()
	m.Close()
	log.InfoContext(context.WithoutCancel(ctx), "embedded Redis stopped")
	return nil
}

// probeRedis is ready when the server at url answers PING.
func probeRedis(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		opts.DialTimeout, opts.MaxRetries, opts.DisableIdentity = 2*time.Second, -1, true
		c := redis.NewClient(opts)
		defer func() { _ = c.Close() }()
		if err := c.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis at %s: %w", opts.Addr, err)
		}
		return nil
	}
}
