package workqueue

import (
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// instrumentationName scopes this package's spans and metrics.
const instrumentationName = "github.com/vidstream/vidstream/services/internal/workqueue"

// withDefaults fills unset providers with no-ops, never with the otel
// globals: a forgotten field means "no telemetry", not someone else's.
func withDefaults(p telemetry.Providers) telemetry.Providers {
	noop := telemetry.Noop()
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

// counter only fails on an invalid name or unit, constants here; a no-op
// keeps the data path working and the log says why the metric is missing.
func counter(p telemetry.Providers, name, desc string) metric.Int64Counter {
	c, err := p.Meter.Meter(instrumentationName).Int64Counter(name, metric.WithUnit("{message}"), metric.WithDescription(desc))
	if err != nil {
		p.Logger.Error("create metric instrument", slog.String("name", name), slog.Any("error", err))
		return noopmetric.Int64Counter{}
	}
	return c
}
