package grpcx_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// breakerState reads the rpc.client.breaker.state gauge for dependency.
func breakerState(t *testing.T, r *sdkmetric.ManualReader, dependency string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "rpc.client.breaker.state" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
				if v, ok := dp.Attributes.Value("rpc.dependency"); ok && v.AsString() == dependency {
					return dp.Value
				}
			}
		}
	}
	t.Fatalf("no breaker state for %s", dependency)
	return -1
}

func TestBreakerOpensFailsFastAndClosesByItself(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	p := telemetry.Noop()
	p.Meter = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	var down atomic.Bool
	var served atomic.Int64
	getUser := func(context.Context, *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
		served.Add(1)
		if down.Load() {
			// INTERNAL is not retried by the client, so every call is
			// exactly one server hit and the counts below are exact.
			return nil, status.Error(codes.Internal, "database gone")
		}
		return ok(context.Background(), nil)
	}
	s := start(t, p, getUser, grpcx.WithDependency("user", grpcx.Resilience{
		MaxConcurrent: 8, FailureThreshold: 3, OpenFor: 100 * time.Millisecond, HalfOpenProbes: 1,
	}))
	ctx := t.Context()
	call := func() error {
		_, err := s.client.GetUser(ctx, &userv1.GetUserRequest{Id: "u1"})
		return err
	}

	if err := call(); err != nil {
		t.Fatalf("healthy call: %v", err)
	}
	if got := breakerState(t, reader, "user"); got != 0 {
		t.Fatalf("breaker state = %d, want 0 (closed)", got)
	}

	down.Store(true)
	for i := range 3 {
		if code := status.Code(call()); code != codes.Internal {
			t.Fatalf("failing call %d: code %v, want Internal from the server", i, code)
		}
	}
	hits := served.Load()
	err := call()
	if code := status.Code(err); code != codes.Unavailable {
		t.Fatalf("call with breaker open: code %v, want Unavailable", code)
	}
	if served.Load() != hits {
		t.Fatalf("an open breaker let a call through to the server")
	}
	if got := grpcx.RetryAfterSeconds(err); got != 1 {
		t.Fatalf("RetryAfterSeconds = %d, want 1 (OpenFor rounded up)", got)
	}
	if got := breakerState(t, reader, "user"); got != 2 {
		t.Fatalf("breaker state = %d, want 2 (open)", got)
	}

	// Recovery needs no action: once the dependency is back, the first
	// probe after OpenFor closes the breaker.
	down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for call() != nil {
		if time.Now().After(deadline) {
			t.Fatal("breaker did not close after the dependency recovered")
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	if got := breakerState(t, reader, "user"); got != 0 {
		t.Fatalf("breaker state = %d, want 0 (closed again)", got)
	}
}

func TestBreakerIgnoresAnswersOfAHealthyServer(t *testing.T) {
	var served atomic.Int64
	notFound := func(context.Context, *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
		served.Add(1)
		return nil, status.Error(codes.NotFound, "no such user")
	}
	s := start(t, telemetry.Noop(), notFound, grpcx.WithDependency("user", grpcx.Resilience{
		MaxConcurrent: 8, FailureThreshold: 2, OpenFor: time.Hour, HalfOpenProbes: 1,
	}))
	for i := range 10 {
		_, err := s.client.GetUser(t.Context(), &userv1.GetUserRequest{Id: "x"})
		if code := status.Code(err); code != codes.NotFound {
			t.Fatalf("call %d: code %v, want NotFound (breaker must stay closed)", i, code)
		}
	}
	if served.Load() != 10 {
		t.Fatalf("server saw %d calls, want 10", served.Load())
	}
}

func TestBulkheadFailsFastWhenFull(t *testing.T) {
	release := make(chan struct{})
	var inFlight atomic.Int64
	slow := func(ctx context.Context, _ *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
		inFlight.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return ok(ctx, nil)
	}
	s := start(t, telemetry.Noop(), slow, grpcx.WithDependency("user", grpcx.Resilience{
		MaxConcurrent: 2, FailureThreshold: 100, OpenFor: time.Second, HalfOpenProbes: 1,
	}))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := s.client.GetUser(ctx, &userv1.GetUserRequest{Id: "u1"})
			done <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for inFlight.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the two slow calls never reached the server")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}

	_, err := s.client.GetUser(ctx, &userv1.GetUserRequest{Id: "u1"})
	if code := status.Code(err); code != codes.Unavailable {
		t.Fatalf("third concurrent call: code %v, want Unavailable", code)
	}
	if grpcx.RetryAfterSeconds(err) < 1 {
		t.Fatalf("a rejected call carries no retry hint: %v", err)
	}
	if inFlight.Load() != 2 {
		t.Fatalf("the rejected call reached the server")
	}

	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("slow call: %v", err)
		}
	}
	if _, err := s.client.GetUser(ctx, &userv1.GetUserRequest{Id: "u1"}); err != nil {
		t.Fatalf("call after the bulkhead drained: %v", err)
	}
}
