package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/vidstream/vidstream/services/internal/buildinfo"
)

// parseResourceAttributes parses OTEL_RESOURCE_ATTRIBUTES ("k1=v1,k2=v2",
// values percent-encoded). The SDK has a parser, but only behind
// resource.WithFromEnv, which reads the process environment and so would
// ignore the getenv Setup was given.
func parseResourceAttributes(v string) ([]attribute.KeyValue, error) {
	var attrs []attribute.KeyValue
	for pair := range strings.SplitSeq(v, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		key, value, ok := strings.Cut(pair, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("telemetry: OTEL_RESOURCE_ATTRIBUTES: %q is not key=value", pair)
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTEL_RESOURCE_ATTRIBUTES: value of %q: %w", key, err)
		}
		attrs = append(attrs, attribute.String(key, decoded))
	}
	return attrs, nil
}

// resolveServiceName applies the OTel precedence: OTEL_SERVICE_NAME, then
// service.name in OTEL_RESOURCE_ATTRIBUTES, then the name the code passes.
func resolveServiceName(fallback string, attrs []attribute.KeyValue, envName string) string {
	if envName != "" {
		return envName
	}
	for _, kv := range attrs {
		if kv.Key == semconv.ServiceNameKey && kv.Value.AsString() != "" {
			return kv.Value.AsString()
		}
	}
	return fallback
}

func newResource(ctx context.Context, serviceName string, attrs []attribute.KeyValue) (*resource.Resource, error) {
	// Later attributes win, so service.name is appended last to override a
	// service.name from OTEL_RESOURCE_ATTRIBUTES when OTEL_SERVICE_NAME is set,
	// and the binary's own version comes first, for the environment to
	// override.
	attrs = append(append([]attribute.KeyValue{semconv.ServiceVersion(buildinfo.Version())}, attrs...), semconv.ServiceName(serviceName))
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithAttributes(attrs...),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: build resource: %w", err)
	}
	return res, nil
}
