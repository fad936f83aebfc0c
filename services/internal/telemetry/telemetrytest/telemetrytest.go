// Package telemetrytest provides telemetry.Providers for tests: spans are
// recorded in memory, synchronously, so a test can assert on them as soon as
// the instrumented call returns, and logs go to the test's own output.
package telemetrytest

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// New returns providers whose spans land in the returned recorder.
//
// The recorder is a synchronous span processor, so an ended span is visible
// through Ended() immediately: no flush, no polling. Everything is sampled.
func New(tb testing.TB) (telemetry.Providers, *tracetest.SpanRecorder) {
	tb.Helper()
	p, spans, _ := NewWithMetrics(tb)
	return p, spans
}

// NewWithMetrics is [New] plus a manual metric reader; call its Collect to see
// what the code under test recorded.
func NewWithMetrics(tb testing.TB) (telemetry.Providers, *tracetest.SpanRecorder, *sdkmetric.ManualReader) {
	tb.Helper()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSpanProcessor(spans),
	)
	metrics := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(metrics))
	out := &testWriter{w: tb.Output()}
	tb.Cleanup(func() {
		out.close()
		// Background shutdown errors are not the test's concern; nothing
		// is exported anywhere.
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return telemetry.Providers{
		Tracer:     tp,
		Meter:      mp,
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Logger:     telemetry.NewLogger(out, slog.LevelDebug),
	}, spans, metrics
}

// testWriter forwards to the test's output until the test ends and discards
// afterwards: a server goroutine that logs one last line after the test has
// returned must not make the testing package panic.
type testWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (tw *testWriter) Write(p []byte) (int, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.closed {
		return len(p), nil
	}
	return tw.w.Write(p)
}

func (tw *testWriter) close() {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.closed = true
}
