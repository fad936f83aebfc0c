package telemetry

import (
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
)

// Providers is what every instrumented component takes instead of reading
// OpenTelemetry globals. Passing them explicitly lets one test process run
// several services, each with its own in-memory span recorder, and keeps the
// dependency visible in constructors.
type Providers struct {
	Tracer     trace.TracerProvider
	Meter      metric.MeterProvider
	Propagator propagation.TextMapPropagator
	Logger     *slog.Logger
}

// Log returns p.Logger, or a logger that discards everything when p has
// none (a zero Providers, as some tests pass).
func (p Providers) Log() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

// OrNoop fills p's unset providers with no-ops, never with the otel
// globals: a component given a Providers with a forgotten field records
// nothing there, rather than into someone else's telemetry (otelgrpc and
// otelsql would fall back to the globals).
func (p Providers) OrNoop() Providers {
	noop := Noop()
	if p.Tracer == nil {
		p.Tracer = noop.Tracer
	}
	if p.Meter == nil {
		p.Meter = noop.Meter
	}
	if p.Propagator == nil {
		p.Propagator = noop.Propagator
	}
	if p.Logger == nil {
		p.Logger = noop.Logger
	}
	return p
}

// Noop returns providers that record nothing; useful where telemetry is not
// under test.
func Noop() Providers {
	return Providers{
		Tracer:     nooptrace.NewTracerProvider(),
		Meter:      noopmetric.NewMeterProvider(),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Logger:     slog.New(slog.DiscardHandler),
	}
}
