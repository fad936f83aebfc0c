package grpcx_test

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
)

func TestClientAndServerSpansShareTheTrace(t *testing.T) {
	p, spans := telemetrytest.New(t)
	var handlerSpan trace.SpanContext
	srv := start(t, p, func(ctx context.Context, req *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
		handlerSpan = trace.SpanContextFromContext(ctx)
		return ok(ctx, req)
	})

	ctx, parent := p.Tracer.Tracer("test").Start(t.Context(), "request")
	if _, err := srv.client.GetUser(ctx, &userv1.GetUserRequest{Id: "u1"}); err != nil {
		t.Fatalf("call: %v", err)
	}
	parent.End()

	const name = "vidstream.user.v1.UserService/GetUser"
	// The server span ends when the server has finished sending, which may
	// be just after the client has its answer: wait for it.
	var client, server sdktrace.ReadOnlySpan
	waitFor(t, func() bool {
		client, server = nil, nil
		for _, s := range spans.Ended() {
			if s.Name() != name {
				continue
			}
			switch s.SpanKind() {
			case trace.SpanKindClient:
				client = s
			case trace.SpanKindServer:
				server = s
			}
		}
		return client != nil && server != nil
	})

	traceID := parent.SpanContext().TraceID()
	if client.SpanContext().TraceID() != traceID || server.SpanContext().TraceID() != traceID {
		t.Fatalf("trace ids: request %s, client %s, server %s; want one trace",
			traceID, client.SpanContext().TraceID(), server.SpanContext().TraceID())
	}
	if client.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Error("client span is not a child of the request span")
	}
	if server.Parent().SpanID() != client.SpanContext().SpanID() {
		t.Error("server span is not a child of the client span")
	}
	if handlerSpan.SpanID() != server.SpanContext().SpanID() {
		t.Error("the handler's context does not carry the server span")
	}
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		<-tick.C
	}
}
