package grpcx

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// Resilience configures the circuit breaker and bulkhead that Dial puts in
// front of one dependency (WithDependency).
type Resilience struct {
	// MaxConcurrent bounds the calls in flight to the dependency (the
	// bulkhead). A slow dependency then costs at most this many goroutines
	// and connections of the caller; the next call fails fast instead of
	// queueing behind them until its own deadline.
	MaxConcurrent int
	// FailureThreshold consecutive failures open the breaker.
	FailureThreshold uint32
	// OpenFor is how long an open breaker rejects calls before letting a
	// probe through (half-open). It is also the Retry-After that rejected
	// calls carry.
	OpenFor time.Duration
	// HalfOpenProbes is how many calls a half-open breaker lets through;
	// that many successes close it, one failure opens it again.
	HalfOpenProbes uint32
}

// DefaultResilience suits an east-west lookup on the request path.
var DefaultResilience = Resilience{
	MaxConcurrent:    64,
	FailureThreshold: 5,
	OpenFor:          5 * time.Second,
	HalfOpenProbes:   1,
}

// WithDependency names the service the connection talks to and puts a
// circuit breaker and a bulkhead (see Resilience) in front of it. The name
// labels the breaker's metric and span events.
func WithDependency(name string, r Resilience) DialOption {
	return func(c *dialConfig) {
		c.dependency = name
		c.resilience = r
	}
}

// Breaker state values of the rpc.client.breaker.state gauge.
const (
	breakerClosed   = 0
	breakerHalfOpen = 1
	breakerOpen     = 2
)

func stateValue(s gobreaker.State) int64 {
	switch s {
	case gobreaker.StateOpen:
		return breakerOpen
	case gobreaker.StateHalfOpen:
		return breakerHalfOpen
	default:
		return breakerClosed
	}
}

// guard is the breaker and bulkhead of one dependency.
type guard struct {
	name    string
	openFor time.Duration
	slots   chan struct{}
	breaker *gobreaker.CircuitBreaker[struct{}]
	rejects metric.Int64Counter
}

func newGuard(name string, r Resilience, p telemetry.Providers) (*guard, error) {
	if r.MaxConcurrent <= 0 || r.FailureThreshold == 0 || r.OpenFor <= 0 {
		return nil, fmt.Errorf("resilience for %s: MaxConcurrent, FailureThreshold and OpenFor must be positive", name)
	}
	g := &guard{name: name, openFor: r.OpenFor, slots: make(chan struct{}, r.MaxConcurrent)}
	g.breaker = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: max(r.HalfOpenProbes, 1),
		Timeout:     r.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= r.FailureThreshold
		},
		IsSuccessful: dependencyHealthy,
		OnStateChange: func(_ string, from, to gobreaker.State) {
			p.Log().Warn("circuit breaker changed state",
				"rpc.dependency", name, "from", from.String(), "to", to.String())
		},
	})

	meter := p.Meter.Meter(instrumentationName)
	attrs := metric.WithAttributes(attribute.String("rpc.dependency", name))
	if _, err := meter.Int64ObservableGauge("rpc.client.breaker.state",
		metric.WithDescription("Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(stateValue(g.breaker.State()), attrs)
			return nil
		})); err != nil {
		return nil, fmt.Errorf("breaker state gauge for %s: %w", name, err)
	}
	rejects, err := meter.Int64Counter("rpc.client.rejected",
		metric.WithDescription("Calls refused locally, without reaching the dependency, by an open breaker or a full bulkhead."),
		metric.WithUnit("{call}"))
	if err != nil {
		return nil, fmt.Errorf("rejected-calls counter for %s: %w", name, err)
	}
	g.rejects = rejects
	return g, nil
}

const instrumentationName = "github.com/vidstream/vidstream/services/internal/grpcx"

// dependencyHealthy tells the breaker which outcomes say nothing bad about
// the dependency: a NOT_FOUND or INVALID_ARGUMENT is a healthy server
// answering, and a caller giving up (CANCELED) is not the server's fault.
// Only signs of an unreachable, overloaded or broken server count.
func dependencyHealthy(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted,
		codes.Internal, codes.Unknown, codes.DataLoss:
		return false
	default:
		return true
	}
}

func (g *guard) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	select {
	case g.slots <- struct{}{}:
		defer func() { <-g.slots }()
	default:
		return g.reject(ctx, "bulkhead full", time.Second)
	}
	before := g.breaker.State()
	var callErr error
	_, err := g.breaker.Execute(func() (struct{}, error) {
		callErr = invoker(ctx, method, req, reply, cc, opts...)
		return struct{}{}, callErr
	})
	if after := g.breaker.State(); after != before {
		trace.SpanFromContext(ctx).AddEvent("circuit breaker state change", trace.WithAttributes(
			attribute.String("rpc.dependency", g.name),
			attribute.String("from", before.String()),
			attribute.String("to", after.String()),
		))
	}
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return g.reject(ctx, "circuit breaker open", g.openFor)
	}
	// The call's own error, untouched, so its status and details survive.
	return callErr
}

// reject fails a call locally with UNAVAILABLE carrying a RetryInfo, so
// the REST layer can answer 503 with a Retry-After (see RetryAfter).
func (g *guard) reject(ctx context.Context, why string, after time.Duration) error {
	g.rejects.Add(ctx, 1, metric.WithAttributes(
		attribute.String("rpc.dependency", g.name), attribute.String("reason", why)))
	trace.SpanFromContext(ctx).AddEvent("call rejected", trace.WithAttributes(
		attribute.String("rpc.dependency", g.name),
		attribute.String("reason", why),
		attribute.String("circuit_breaker.state", g.breaker.State().String()),
	))
	st := status.New(codes.Unavailable, fmt.Sprintf("%s: %s", g.name, why))
	if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(after)}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// RetryAfterSeconds is the whole number of seconds (at least 1) a failed
// call's status suggests waiting, from its RetryInfo detail, or 0 when it
// has none.
func RetryAfterSeconds(err error) int {
	st, ok := status.FromError(err)
	if !ok {
		return 0
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			secs := math.Ceil(ri.GetRetryDelay().AsDuration().Seconds())
			return int(max(secs, 1))
		}
	}
	return 0
}
