package grpcx

import (
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// Keepalive settings, shared by server and client so they agree: a client
// pinging more often than the server's MinTime gets its connection closed
// with ENHANCE_YOUR_CALM.
const (
	clientPingInterval = 30 * time.Second
	serverMinPingTime  = 15 * time.Second
)

// handshakeTimeout bounds a new connection's HTTP/2 handshake; loopback
// and in-cluster clients finish it in milliseconds.
const handshakeTimeout = 5 * time.Second

// NewServer returns a gRPC server with tracing, metrics, panic recovery and
// apperr→status mapping installed, and grpc.health.v1 and reflection
// registered. Register the service implementations on it, then Serve.
//
// The health server starts SERVING for the overall service (""). Mark it
// NOT_SERVING on shutdown (health.Server.Shutdown) so load balancers and
// Kubernetes' grpc probes stop sending traffic before the server drains.
//
// opts are appended, so a caller can add interceptors (they run inside ours)
// or override limits.
func NewServer(p telemetry.Providers, opts ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	p = p.OrNoop()
	ic := interceptors{logger: p.Logger}
	base := []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(p.Tracer),
			otelgrpc.WithMeterProvider(p.Meter),
			otelgrpc.WithPropagators(p.Propagator),
		)),
		// Recovery is outermost so that a panic anywhere inside, including
		// in the error mapping, still becomes a status.
		grpc.ChainUnaryInterceptor(ic.recoverUnary, ic.statusUnary),
		grpc.ChainStreamInterceptor(ic.recoverStream, ic.statusStream),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			// Refuse clients that ping abusively; ours ping every 30 s.
			MinTime:             serverMinPingTime,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			// Closing connections after a while makes clients reconnect
			// and re-resolve, so new replicas get traffic after a scale-up
			// instead of every client staying pinned to the old pods.
			MaxConnectionAge:      5 * time.Minute,
			MaxConnectionAgeGrace: 30 * time.Second,
			MaxConnectionIdle:     15 * time.Minute,
			// Detect dead peers (a node gone without a FIN) in a minute
			// or so rather than at the kernel's TCP timeout.
			Time:    time.Minute,
			Timeout: 20 * time.Second,
		}),
		// A connection that has not finished the HTTP/2 handshake within
		// this is dropped. grpc-go's default is 120 s, and Server.Stop
		// waits for such half-open connections: one stray TCP connect
		// (a port scan, a probe that never speaks) held shutdown for two
		// minutes, past any orchestrator's grace period.
		grpc.ConnectionTimeout(handshakeTimeout),
	}
	srv := grpc.NewServer(append(base, opts...)...)

	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	// Reflection lets grpcurl and Postman discover the API without the
	// .proto files; the API is not secret (the protos are in the repo).
	reflection.Register(srv)
	return srv, hs
}
