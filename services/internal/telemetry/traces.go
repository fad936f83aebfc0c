package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// newTracerProvider always returns an SDK provider, even for
// OTEL_TRACES_EXPORTER=none: spans are then still created with real ids, so
// logs keep their trace_id and the context propagated to other services stays
// intact; they just go nowhere.
func newTracerProvider(ctx context.Context, res *resource.Resource, sampler sdktrace.Sampler, getenv func(string) string, logOut io.Writer) (*sdktrace.TracerProvider, error) {
	names := parseList(getenv("OTEL_TRACES_EXPORTER"))
	if len(names) == 0 {
		names = []string{"otlp"}
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler)}
	var exporters []sdktrace.SpanExporter
	for _, name := range names {
		var (
			exp sdktrace.SpanExporter
			err error
		)
		switch name {
		case "none":
			if len(names) > 1 {
				err = errors.New(`"none" cannot be combined with other exporters`)
			}
		case "console":
			exp, err = stdouttrace.New(stdouttrace.WithWriter(logOut))
		case "otlp":
			exp, err = newOTLPSpanExporter(ctx, getenv)
		default:
			err = fmt.Errorf("unsupported exporter %q (want otlp, console or none)", name)
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER: %w", err), shutdownAll(ctx, exporters))
		}
		if exp != nil {
			exporters = append(exporters, exp)
			// Batching keeps exporting off the request path; the shutdown
			// func flushes what is still queued.
			opts = append(opts, sdktrace.WithBatcher(exp))
		}
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

func newOTLPSpanExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	switch proto, key := otlpProtocol(getenv, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"); proto {
	case "grpc":
		return otlptracegrpc.New(ctx)
	case "http/protobuf":
		return otlptracehttp.New(ctx)
	default:
		return nil, unsupportedProtocol(key, proto)
	}
}

// otlpProtocol resolves the per-signal protocol variable, then the general
// one, then the spec's default; it also says which variable decided.
func otlpProtocol(getenv func(string) string, signalKey string) (proto, key string) {
	for _, key := range []string{signalKey, "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return strings.ToLower(v), key
		}
	}
	return "http/protobuf", ""
}

func unsupportedProtocol(key, proto string) error {
	return fmt.Errorf("%s: unsupported OTLP protocol %q (want grpc or http/protobuf)", key, proto)
}

func shutdownAll(ctx context.Context, exporters []sdktrace.SpanExporter) error {
	var errs []error
	for _, e := range exporters {
		errs = append(errs, e.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
