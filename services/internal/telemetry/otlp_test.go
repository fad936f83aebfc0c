package telemetry_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// TestSetupExportsOTLPOverHTTP checks the default exporter end to end
// against a stand-in collector on 127.0.0.1. The endpoint must be set in the
// process environment because the OTLP exporter reads it from there (see
// Setup), so this test cannot run in parallel.
func TestSetupExportsOTLPOverHTTP(t *testing.T) {
	var received atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" && len(body) > 0 {
			received.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(collector.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)

	p, shutdown, err := telemetry.Setup(t.Context(), "video", env("OTEL_METRICS_EXPORTER", "prometheus"), io.Discard)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	_, span := p.Tracer.Tracer("t").Start(t.Context(), "exported")
	span.End()
	// Shutdown flushes the batch synchronously: no waiting needed.
	if err := shutdown(t.Context()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if received.Load() == 0 {
		t.Error("the collector received no trace export")
	}
}
