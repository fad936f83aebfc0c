package app_test

import (
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
)

// waitSpan polls the recorder until a span matching ok has ended: the server
// span ends after the response has reached the client, so it may lag the
// client's return by a moment.
func waitSpan(t *testing.T, rec *tracetest.SpanRecorder, ok func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range rec.Ended() {
			if ok(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("span never recorded")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func hasAttr(s sdktrace.ReadOnlySpan, key attribute.Key) bool {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return true
		}
	}
	return false
}

// TestGetVideoTrace checks that a REST read shows up as one trace: the
// caller's trace context is continued, the server span is named after the
// route, and the database spans hang below it.
func TestGetVideoTrace(t *testing.T) {
	p, rec := telemetrytest.New(t)
	e := newEnvWith(t, sqliteBackend, p)
	u := e.newUser(t)
	v := e.create(t, u.token, movieReq("Traced"))

	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		parent  = "00f067aa0ba902b7"
	)
	r := e.video(t, http.MethodGet, "/v1/videos/"+v.ID, "", nil, "traceparent", "00-"+traceID+"-"+parent+"-01")
	if r.Status != http.StatusOK {
		t.Fatalf("get: %d %s", r.Status, r.Body)
	}

	server := waitSpan(t, rec, func(s sdktrace.ReadOnlySpan) bool {
		return s.SpanKind() == trace.SpanKindServer && s.SpanContext().TraceID().String() == traceID
	})
	if got := server.Name(); got != "GET /v1/videos/{id}" {
		t.Fatalf("server span name = %q", got)
	}
	if server.Parent().SpanID().String() != parent || !server.Parent().IsRemote() {
		t.Fatalf("server span parent = %v, want the remote caller's %s", server.Parent(), parent)
	}

	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		byID[s.SpanContext().SpanID()] = s
	}
	var dbSpans int
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() != traceID || !hasAttr(s, "db.system.name") {
			continue
		}
		dbSpans++
		// Walk up the parent chain; it must reach the server span.
		cur, reached := s, false
		for range 10 {
			if cur.Parent().SpanID() == server.SpanContext().SpanID() {
				reached = true
				break
			}
			next, ok := byID[cur.Parent().SpanID()]
			if !ok {
				break
			}
			cur = next
		}
		if !reached {
			t.Fatalf("database span %q is not below the server span", s.Name())
		}
		if s.SpanKind() != trace.SpanKindClient {
			t.Fatalf("database span %q has kind %v, want client", s.Name(), s.SpanKind())
		}
	}
	if dbSpans == 0 {
		var names []string
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID().String() == traceID {
				names = append(names, s.Name())
			}
		}
		t.Fatalf("no database spans in the trace; spans: %v", names)
	}
}
