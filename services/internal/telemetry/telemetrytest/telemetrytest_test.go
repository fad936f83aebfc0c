package telemetrytest_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
)

func TestNewRecordsSpansSynchronously(t *testing.T) {
	p, rec := telemetrytest.New(t)
	ctx, span := p.Tracer.Tracer("t").Start(context.Background(), "op")
	p.Logger.InfoContext(ctx, "inside the span")
	span.End()
	// No flush: the recorder sees the span the moment it ends.
	ended := rec.Ended()
	if len(ended) != 1 || ended[0].Name() != "op" {
		t.Fatalf("ended spans = %v", ended)
	}
}

func TestNewWithMetricsCollects(t *testing.T) {
	p, _, reader := telemetrytest.NewWithMetrics(t)
	c, err := p.Meter.Meter("t").Int64Counter("things")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 2)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if len(rm.ScopeMetrics) != 1 || rm.ScopeMetrics[0].Metrics[0].Name != "things" {
		t.Errorf("collected %+v", rm.ScopeMetrics)
	}
}

// TestLoggerOutlivesTest guards against a server goroutine logging after its
// test has finished: that must be dropped, not panic the test binary.
func TestLoggerOutlivesTest(t *testing.T) {
	var logger func()
	t.Run("inner", func(t *testing.T) {
		p, _ := telemetrytest.New(t)
		logger = func() { p.Logger.Info("late line") }
	})
	logger()
}
