package grpcx

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// DefaultTimeout is the deadline Dial's connections give a call whose
// context has none. It is generous for an east-west lookup on the request
// path and short enough that a hung dependency cannot hold a request (and
// its goroutine, connection and database transaction) indefinitely.
const DefaultTimeout = 2 * time.Second

// serviceConfig retries calls that failed with UNAVAILABLE, which gRPC
// reports when the server could not be reached or was shutting down, so the
// call never ran: safe to retry even for non-idempotent methods. Attempts
// and backoff stay within the caller's deadline; gRPC draws each backoff at
// random below the current ceiling (full jitter), so callers that failed
// together do not retry together. retryThrottling is the retry budget: each
// failure spends a token, each success earns a tenth of one back, and below
// half the tokens the client stops retrying, so a dependency that is down
// gets one attempt per call rather than four. Calls that did run
// (DEADLINE_EXCEEDED, INTERNAL) are never retried here: only the caller
// knows whether its method is idempotent. round_robin spreads calls
// over every address the name resolves to (every pod behind a headless
// Kubernetes service) instead of pinning to the first.
const serviceConfig = `{
	"loadBalancingConfig": [{"round_robin": {}}],
	"retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
	"methodConfig": [{
		"name": [{}],
		"retryPolicy": {
			"maxAttempts": 4,
			"initialBackoff": "0.05s",
			"maxBackoff": "1s",
			"backoffMultiplier": 2,
			"retryableStatusCodes": ["UNAVAILABLE"]
		}
	}]
}`

// DialOption tunes Dial.
type DialOption func(*dialConfig)

type dialConfig struct {
	defaultTimeout time.Duration
	dependency     string
	resilience     Resilience
	grpcOpts       []grpc.DialOption
}

// WithDefaultTimeout replaces DefaultTimeout; zero or less disables it.
func WithDefaultTimeout(d time.Duration) DialOption {
	return func(c *dialConfig) { c.defaultTimeout = d }
}

// WithGRPCOptions appends raw grpc-go options, applied after ours, for
// example grpc.WithDefaultServiceConfig to change the retry policy.
func WithGRPCOptions(opts ...grpc.DialOption) DialOption {
	return func(c *dialConfig) { c.grpcOpts = append(c.grpcOpts, opts...) }
}

// Dial returns a client connection to target (for example
// "dns:///user:9090" or "127.0.0.1:9081") with tracing, metrics, retries of
// UNAVAILABLE and a default deadline. Like grpc.NewClient it does not
// connect: the first call does, so services can start in any order.
func Dial(target string, p telemetry.Providers, opts ...DialOption) (*grpc.ClientConn, error) {
	p = p.OrNoop()
	cfg := dialConfig{defaultTimeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&cfg)
	}
	base := []grpc.DialOption{
		// Plaintext on purpose: inside the cluster, transport security and
		// workload identity are the service mesh's job (mTLS between
		// sidecars), so every service does not manage certificates. Never
		// point this at a target across an untrusted network.
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithTracerProvider(p.Tracer),
			otelgrpc.WithMeterProvider(p.Meter),
			otelgrpc.WithPropagators(p.Propagator),
		)),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:    clientPingInterval,
			Timeout: 10 * time.Second,
		}),
	}
	if cfg.defaultTimeout > 0 {
		base = append(base, grpc.WithChainUnaryInterceptor(defaultDeadline(cfg.defaultTimeout)))
	}
	if cfg.dependency != "" {
		// Outside gRPC's own retries: the breaker judges a call by its
		// final outcome, and a rejected call costs no attempt at all.
		g, err := newGuard(cfg.dependency, cfg.resilience, p)
		if err != nil {
			return nil, err
		}
		base = append(base, grpc.WithChainUnaryInterceptor(g.unary))
	}
	conn, err := grpc.NewClient(target, append(base, cfg.grpcOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("grpc client for %s: %w", target, err)
	}
	return conn, nil
}

// defaultDeadline bounds calls whose context has no deadline. A caller's own
// deadline, shorter or longer, is left alone: it knows its budget.
func defaultDeadline(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}
