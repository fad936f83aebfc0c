package kafkabus

import (
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// instrumentationName scopes this package's spans and metrics.
const instrumentationName = "github.com/vidstream/vidstream/services/internal/kafkabus"

func tracer(p telemetry.Providers) trace.Tracer { return p.Tracer.Tracer(instrumentationName) }

func meter(p telemetry.Providers) metric.Meter { return p.Meter.Meter(instrumentationName) }

// The instrument constructors below only fail on an invalid name or unit,
// which are constants here. Falling back to a no-op keeps the caller working
// (telemetry must never take the data path down) and the log says why the
// metric is missing.

func counter(p telemetry.Providers, name, unit, desc string) metric.Int64Counter {
	c, err := meter(p).Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil {
		p.Logger.Error("create metric instrument", slog.String("name", name), slog.Any("error", err))
		return noopmetric.Int64Counter{}
	}
	return c
}

func histogram(p telemetry.Providers, name, unit, desc string, bounds ...float64) metric.Float64Histogram {
	opts := []metric.Float64HistogramOption{metric.WithUnit(unit), metric.WithDescription(desc)}
	if len(bounds) > 0 {
		opts = append(opts, metric.WithExplicitBucketBoundaries(bounds...))
	}
	h, err := meter(p).Float64Histogram(name, opts...)
	if err != nil {
		p.Logger.Error("create metric instrument", slog.String("name", name), slog.Any("error", err))
		return noopmetric.Float64Histogram{}
	}
	return h
}
