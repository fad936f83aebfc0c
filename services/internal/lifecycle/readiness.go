package lifecycle

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc/health"
)

// Readiness is told when the process starts and stops wanting traffic.
// *httpx.Health implements it.
type Readiness interface {
	SetReady(ready bool)
}

// ReadinessFunc adapts a function to Readiness.
type ReadinessFunc func(ready bool)

// SetReady calls f.
func (f ReadinessFunc) SetReady(ready bool) { f(ready) }

// GRPCHealth drives a grpc.health.v1 server: NOT_SERVING for every service
// once shutdown starts, so gRPC clients and Kubernetes' grpc probes move
// away before the server stops accepting.
func GRPCHealth(h *health.Server) Readiness {
	return ReadinessFunc(func(ready bool) {
		if ready {
			h.Resume()
		} else {
			h.Shutdown()
		}
	})
}

// Listen binds a TCP listener on addr, naming the address in the error:
// "address already in use" alone does not say which of a service's two
// ports is taken.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}
