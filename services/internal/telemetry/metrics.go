package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// MetricsHandler returns the Prometheus exposition handler for providers built
// by [Setup], to mount at /metrics. For any other providers (Noop, test
// providers, OTEL_SDK_DISABLED) it serves an empty exposition, so a service can
// mount it unconditionally and scrapers never see a 404.
//
// The handler travels inside Providers.Meter rather than in a new Providers
// field so that Setup's signature and the Providers struct every component
// takes stay as they are.
func MetricsHandler(p Providers) http.Handler {
	if mp, ok := p.Meter.(*meterProviderWithHandler); ok {
		return mp.handler
	}
	return emptyMetricsHandler()
}

// meterProviderWithHandler is a MeterProvider that also knows its exposition
// handler. Embedding the interface forwards every MeterProvider method.
type meterProviderWithHandler struct {
	metric.MeterProvider
	handler http.Handler
}

func withMetricsHandler(mp metric.MeterProvider, h http.Handler) metric.MeterProvider {
	return &meterProviderWithHandler{MeterProvider: mp, handler: h}
}

func emptyMetricsHandler() http.Handler {
	return promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{})
}

// newMeterProvider builds the SDK meter provider and its /metrics handler.
//
// Each provider gets its own Prometheus registry instead of the client
// library's global default one, so that several services in one test process
// do not collide registering the same metric names.
func newMeterProvider(ctx context.Context, res *resource.Resource, getenv func(string) string, logOut io.Writer) (*sdkmetric.MeterProvider, http.Handler, error) {
	names := parseList(getenv("OTEL_METRICS_EXPORTER"))
	if len(names) == 0 {
		names = []string{"prometheus"}
	}
	if contains(names, "none") {
		if len(names) > 1 {
			return nil, nil, errors.New(`telemetry: OTEL_METRICS_EXPORTER: "none" cannot be combined with other exporters`)
		}
		return sdkmetric.NewMeterProvider(sdkmetric.WithResource(res)), emptyMetricsHandler(), nil
	}

	registry := prometheus.NewRegistry()
	if err := registry.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, fmt.Errorf("telemetry: register Go collector: %w", err)
	}
	if err := registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, fmt.Errorf("telemetry: register process collector: %w", err)
	}
	promReader, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: create Prometheus exporter: %w", err)
	}
	opts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promReader)}
	var created []sdkmetric.Exporter
	for _, name := range names {
		var exp sdkmetric.Exporter
		switch name {
		case "prometheus":
			continue // always present, see Setup
		case "console":
			exp, err = stdoutmetric.New(stdoutmetric.WithWriter(logOut))
		case "otlp":
			exp, err = newOTLPMetricExporter(ctx, getenv)
		default:
			err = fmt.Errorf("unsupported exporter %q (want prometheus, otlp, console or none)", name)
		}
		if err != nil {
			err = fmt.Errorf("telemetry: OTEL_METRICS_EXPORTER: %w", err)
			for _, e := range created {
				err = errors.Join(err, e.Shutdown(ctx))
			}
			return nil, nil, err
		}
		created = append(created, exp)
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
	}
	handler := promhttp.HandlerFor(registry, promhttp.HandlerOpts{})
	return sdkmetric.NewMeterProvider(opts...), handler, nil
}

func newOTLPMetricExporter(ctx context.Context, getenv func(string) string) (sdkmetric.Exporter, error) {
	switch proto, key := otlpProtocol(getenv, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"); proto {
	case "grpc":
		return otlpmetricgrpc.New(ctx)
	case "http/protobuf":
		return otlpmetrichttp.New(ctx)
	default:
		return nil, unsupportedProtocol(key, proto)
	}
}
