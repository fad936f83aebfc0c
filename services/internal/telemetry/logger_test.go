package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

func spanContext(t *testing.T) (context.Context, trace.SpanContext) {
	t.Helper()
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	t.Cleanup(func() { span.End() })
	return ctx, span.SpanContext()
}

func decodeLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestNewLoggerAddsTraceIDs(t *testing.T) {
	ctx, sc := spanContext(t)
	var buf bytes.Buffer
	logger := telemetry.NewLogger(&buf, slog.LevelInfo)

	logger.InfoContext(ctx, "with span", "k", "v")
	logger.InfoContext(context.Background(), "without span")

	lines := decodeLines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("got %d lines", len(lines))
	}
	if lines[0]["trace_id"] != sc.TraceID().String() || lines[0]["span_id"] != sc.SpanID().String() {
		t.Errorf("line with span = %v, want trace_id %s span_id %s", lines[0], sc.TraceID(), sc.SpanID())
	}
	if lines[0]["k"] != "v" || lines[0]["msg"] != "with span" {
		t.Errorf("record attributes lost: %v", lines[0])
	}
	if _, ok := lines[1]["trace_id"]; ok {
		t.Errorf("line without span has a trace_id: %v", lines[1])
	}
}

func TestNewLoggerKeepsTraceIDsTopLevelInGroups(t *testing.T) {
	ctx, sc := spanContext(t)
	var buf bytes.Buffer
	base := telemetry.NewLogger(&buf, slog.LevelInfo).With("service", "user")
	grouped := base.WithGroup("http").With("method", "GET")
	sibling := base.WithGroup("db") // must not see grouped's attributes

	grouped.InfoContext(ctx, "request", "status", 200)
	sibling.InfoContext(ctx, "query", "rows", 3)
	grouped.InfoContext(context.Background(), "no span", "status", 500)

	lines := decodeLines(t, &buf)
	if lines[0]["trace_id"] != sc.TraceID().String() || lines[0]["span_id"] != sc.SpanID().String() {
		t.Errorf("trace ids not top-level in a group: %v", lines[0])
	}
	http, _ := lines[0]["http"].(map[string]any)
	if lines[0]["service"] != "user" || http["method"] != "GET" || http["status"] != float64(200) {
		t.Errorf("attributes misplaced: %v", lines[0])
	}
	db, _ := lines[1]["db"].(map[string]any)
	if db["rows"] != float64(3) || db["method"] != nil || lines[1]["http"] != nil {
		t.Errorf("sibling logger mixed up: %v", lines[1])
	}
	http, _ = lines[2]["http"].(map[string]any)
	if http["method"] != "GET" || http["status"] != float64(500) || lines[2]["trace_id"] != nil {
		t.Errorf("span-less record in group: %v", lines[2])
	}
}

func TestNewLoggerHonoursLevel(t *testing.T) {
	var buf bytes.Buffer
	logger := telemetry.NewLogger(&buf, slog.LevelWarn)
	logger.Info("dropped")
	logger.Warn("kept")
	if got := buf.String(); strings.Contains(got, "dropped") || !strings.Contains(got, "kept") {
		t.Errorf("output = %q", got)
	}
}
