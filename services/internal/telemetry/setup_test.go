package telemetry_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// env is a getenv over a map, so tests configure Setup without touching the
// process environment (and can run in parallel).
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func setup(t *testing.T, getenv func(string) string, out io.Writer) (telemetry.Providers, func(context.Context) error) {
	t.Helper()
	p, shutdown, err := telemetry.Setup(t.Context(), "video", getenv, out)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		if err := shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return p, shutdown
}

// lockedBuffer guards a buffer that exporter goroutines write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestSetupSDKDisabled(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	p, _ := setup(t, env("OTEL_SDK_DISABLED", "TRUE", "OTEL_TRACES_EXPORTER", "console"), &out)

	_, span := p.Tracer.Tracer("t").Start(t.Context(), "op")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("disabled SDK produced a real span")
	}
	span.End()
	if p.Propagator == nil || p.Logger == nil {
		t.Error("disabled SDK must still propagate and log")
	}
	rec := httptest.NewRecorder()
	telemetry.MetricsHandler(p).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("/metrics = %d, want 200", rec.Code)
	}
}

func TestSetupTracesExporterNoneStillTraces(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	p, shutdown := setup(t, env("OTEL_TRACES_EXPORTER", "none"), &out)

	ctx, span := p.Tracer.Tracer("t").Start(t.Context(), "op")
	// Real ids even with nothing exported: logs still correlate.
	if !span.SpanContext().IsValid() {
		t.Error("span has no valid ids")
	}
	p.Logger.InfoContext(ctx, "hello")
	span.End()
	if err := shutdown(t.Context()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	got := out.String()
	if !strings.Contains(got, `"trace_id":"`+span.SpanContext().TraceID().String()+`"`) {
		t.Errorf("log lacks the trace id: %s", got)
	}
	if !strings.Contains(got, `"service":"video"`) {
		t.Errorf("log lacks the service name: %s", got)
	}
	if strings.Contains(got, `"Name":"op"`) {
		t.Errorf("span exported although OTEL_TRACES_EXPORTER=none: %s", got)
	}
}

func TestSetupConsoleExporterAndServiceName(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	p, shutdown := setup(t, env(
		"OTEL_TRACES_EXPORTER", "console",
		"OTEL_SERVICE_NAME", "video-canary",
		"OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored,deployment.environment.name=dev%2Ctest",
	), &out)

	_, span := p.Tracer.Tracer("t").Start(t.Context(), "console-op")
	span.End()
	// The batch processor exports on shutdown at the latest.
	if err := shutdown(t.Context()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	got := out.String()
	for _, want := range []string{`"Name":"console-op"`, `"Value":"video-canary"`, `"Value":"dev,test"`} {
		if !strings.Contains(got, want) {
			t.Errorf("console output lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, `"Value":"ignored"`) {
		t.Error("OTEL_SERVICE_NAME did not override service.name from OTEL_RESOURCE_ATTRIBUTES")
	}
}

func TestSetupSampler(t *testing.T) {
	t.Parallel()
	p, _ := setup(t, env("OTEL_TRACES_EXPORTER", "none", "OTEL_TRACES_SAMPLER", "always_off"), io.Discard)
	_, span := p.Tracer.Tracer("t").Start(t.Context(), "op")
	defer span.End()
	if span.SpanContext().IsSampled() {
		t.Error("always_off sampled a span")
	}
}

func TestSetupServesPrometheusMetrics(t *testing.T) {
	t.Parallel()
	p, _ := setup(t, env("OTEL_TRACES_EXPORTER", "none"), io.Discard)

	counter, err := p.Meter.Meter("test").Int64Counter("videos.uploaded")
	if err != nil {
		t.Fatalf("counter: %v", err)
	}
	counter.Add(t.Context(), 3)

	srv := httptest.NewServer(telemetry.MetricsHandler(p))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	for _, want := range []string{"videos_uploaded_total", "go_goroutines", `service_name="video"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestSetupRejectsBadConfigNamingTheVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		variable string // named in the error
		env      []string
	}{
		{"LOG_LEVEL", []string{"LOG_LEVEL", "loud"}},
		{"OTEL_SDK_DISABLED", []string{"OTEL_SDK_DISABLED", "yes"}},
		{"OTEL_TRACES_EXPORTER", []string{"OTEL_TRACES_EXPORTER", "zipkin"}},
		{"OTEL_TRACES_EXPORTER", []string{"OTEL_TRACES_EXPORTER", "none,console"}},
		{"OTEL_METRICS_EXPORTER", []string{"OTEL_METRICS_EXPORTER", "statsd"}},
		{"OTEL_METRICS_EXPORTER", []string{"OTEL_METRICS_EXPORTER", "none,otlp"}},
		{"OTEL_TRACES_SAMPLER", []string{"OTEL_TRACES_SAMPLER", "sometimes"}},
		{"OTEL_TRACES_SAMPLER_ARG", []string{"OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", "2"}},
		{"OTEL_RESOURCE_ATTRIBUTES", []string{"OTEL_RESOURCE_ATTRIBUTES", "novalue"}},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}},
		{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", []string{"OTEL_TRACES_EXPORTER", "none", "OTEL_METRICS_EXPORTER", "otlp", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "thrift"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, "="), func(t *testing.T) {
			_, _, err := telemetry.Setup(t.Context(), "video", env(tt.env...), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.variable) {
				t.Errorf("Setup(%v) error = %v, want one naming %s", tt.env, err, tt.variable)
			}
		})
	}
}

func TestSetupLogLevel(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	p, _ := setup(t, env("OTEL_TRACES_EXPORTER", "none", "LOG_LEVEL", "debug"), &out)
	p.Logger.Debug("visible")
	if !strings.Contains(out.String(), "visible") {
		t.Error("LOG_LEVEL=debug did not enable debug logs")
	}
}
