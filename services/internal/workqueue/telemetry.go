package workqueue

import (
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// instrumentationName scopes this package's spans and metrics.
const instrumentationName = "github.com/vidstream/vidstream/services/internal/workqueue"

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
