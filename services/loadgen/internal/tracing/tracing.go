// Package tracing makes loadgen an OpenTelemetry-instrumented client: each
// demo flow is a root span, each request a client span whose context
// travels in the traceparent header, so every flow is one trace that starts
// in loadgen and whose id loadgen knows.
//
// It builds its own tracer provider instead of using the services'
// telemetry.Setup: loadgen needs traces only, exported to one endpoint, and
// must not carry the services' metrics and logging setup.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/loadgen/internal/api"
)

// ServiceName is loadgen's service.name in traces.
const ServiceName = "loadgen"

// Propagator is W3C trace context and baggage, as the services use.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// NewProvider returns a tracer provider exporting over OTLP/HTTP to
// endpoint (e.g. "http://127.0.0.1:4318"), sampling a ratio of the root
// spans (1 for the demo). Shut it down to flush the last spans.
func NewProvider(ctx context.Context, endpoint string, ratio float64) (*sdktrace.TracerProvider, error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(strings.TrimRight(endpoint, "/")+"/v1/traces"))
	if err != nil {
		return nil, fmt.Errorf("otlp exporter for %s: %w", endpoint, err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", ServiceName),
	))
	if err != nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	), nil
}

// Transport wraps base so that each request gets a client span, named after
// the route the api package put in its context (as the server names its
// span), and carries the span's context in traceparent.
func Transport(base http.RoundTripper, tp trace.TracerProvider) http.RoundTripper {
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if route := api.Route(r.Context()); route != "" {
				return route
			}
			return r.Method
		}),
	)
}
