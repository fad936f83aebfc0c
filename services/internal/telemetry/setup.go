package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
)

// Setup builds the providers of one service process from the standard OTEL_*
// environment, read through getenv so that tests can configure it without
// touching the process environment:
//
//   - OTEL_SERVICE_NAME overrides serviceName (so does service.name in
//     OTEL_RESOURCE_ATTRIBUTES, with lower precedence, as the OTel spec says);
//   - OTEL_SDK_DISABLED=true yields no-op tracer and meter providers;
//   - OTEL_TRACES_EXPORTER: otlp (default), console (JSON lines on logOut) or none;
//   - OTEL_METRICS_EXPORTER: prometheus (default), otlp, console or none; every
//     value but none keeps the Prometheus reader behind [MetricsHandler],
//     because /metrics is part of every service's contract;
//   - OTEL_EXPORTER_OTLP_PROTOCOL (and the per-signal variants): grpc or
//     http/protobuf (default);
//   - OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG;
//   - LOG_LEVEL: debug, info (default), warn or error.
//
// Exporter details (endpoint, headers, timeouts, export interval) are left to
// the OTLP exporters, which read OTEL_EXPORTER_OTLP_* from the process
// environment themselves; duplicating their parsing here would drift from
// the SDK.
//
// Setup also installs the providers as the OpenTelemetry globals, for
// third-party code that only knows those; this codebase never reads them.
//
// The returned shutdown flushes and stops every exporter; call it once the
// servers have drained so the last spans are not lost. It is safe to call more
// than once.
func Setup(ctx context.Context, serviceName string, getenv func(string) string, logOut io.Writer) (Providers, func(context.Context) error, error) {
	level, err := parseLogLevel(getenv("LOG_LEVEL"))
	if err != nil {
		return Providers{}, nil, err
	}
	attrs, err := parseResourceAttributes(getenv("OTEL_RESOURCE_ATTRIBUTES"))
	if err != nil {
		return Providers{}, nil, err
	}
	serviceName = resolveServiceName(serviceName, attrs, getenv("OTEL_SERVICE_NAME"))
	logger := NewLogger(logOut, level).With(slog.String("service", serviceName))
	propagator := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

	if disabled, err := parseBool("OTEL_SDK_DISABLED", getenv("OTEL_SDK_DISABLED")); err != nil {
		return Providers{}, nil, err
	} else if disabled {
		// Keeping the propagator means a disabled process still passes
		// incoming trace context on, so it does not break other services'
		// traces, and its logs still carry the caller's trace_id.
		p := Providers{
			Tracer:     nooptrace.NewTracerProvider(),
			Meter:      withMetricsHandler(noopmetric.NewMeterProvider(), emptyMetricsHandler()),
			Propagator: propagator,
			Logger:     logger,
		}
		return p, func(context.Context) error { return nil }, nil
	}

	res, err := newResource(ctx, serviceName, attrs)
	if err != nil {
		return Providers{}, nil, err
	}
	sampler, err := newSampler(getenv("OTEL_TRACES_SAMPLER"), getenv("OTEL_TRACES_SAMPLER_ARG"))
	if err != nil {
		return Providers{}, nil, err
	}
	tp, err := newTracerProvider(ctx, res, sampler, getenv, logOut)
	if err != nil {
		return Providers{}, nil, err
	}
	mp, metrics, err := newMeterProvider(ctx, res, getenv, logOut)
	if err != nil {
		// Nothing has been exported yet; shutting down only releases the
		// exporters' connections.
		return Providers{}, nil, errors.Join(err, tp.Shutdown(ctx))
	}

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagator)
	// Export failures happen in background goroutines with nobody to return
	// them to; without this they would go to the standard library's default
	// logger as unstructured text.
	// The handler outlives Setup's ctx; WithoutCancel keeps its values only.
	logCtx := context.WithoutCancel(ctx)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.LogAttrs(logCtx, slog.LevelWarn, "opentelemetry export failed", slog.Any("err", err))
	}))

	p := Providers{
		Tracer:     tp,
		Meter:      withMetricsHandler(mp, metrics),
		Propagator: propagator,
		Logger:     logger,
	}
	var (
		once        sync.Once
		shutdownErr error
	)
	shutdown := func(ctx context.Context) error {
		once.Do(func() {
			// Traces first: they are what an operator misses most after a
			// crash-looping deploy, and the meter provider's final collection
			// must not eat the deadline they need.
			shutdownErr = errors.Join(
				wrapErr("shut down tracer provider", tp.Shutdown(ctx)),
				wrapErr("shut down meter provider", mp.Shutdown(ctx)),
			)
		})
		return shutdownErr
	}
	return p, shutdown, nil
}

func parseLogLevel(v string) (slog.Level, error) {
	var level slog.Level
	if v == "" {
		return slog.LevelInfo, nil
	}
	if err := level.UnmarshalText([]byte(v)); err != nil {
		return 0, fmt.Errorf("telemetry: LOG_LEVEL: %q is not one of debug, info, warn, error", v)
	}
	return level, nil
}

// parseBool accepts what the OTel spec calls a boolean: "true" in any case is
// true; empty and "false" are false. Anything else is rejected instead of
// silently read as false, because a typo must not re-enable exporting.
func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "", "false":
		return false, nil
	default:
		return false, fmt.Errorf("telemetry: %s: %q is not true or false", name, v)
	}
}

// parseList splits a comma-separated OTEL_*_EXPORTER value, lower-cased,
// without empty items and duplicates.
func parseList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		if item != "" && !contains(out, item) {
			out = append(out, item)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func wrapErr(msg string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", msg, err)
}
