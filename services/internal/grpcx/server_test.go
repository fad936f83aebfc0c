package grpcx_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

func TestKindsBecomeStatusCodes(t *testing.T) {
	tests := []struct {
		kind apperr.Kind
		code codes.Code
	}{
		{apperr.Invalid, codes.InvalidArgument},
		{apperr.Unauthenticated, codes.Unauthenticated},
		{apperr.Forbidden, codes.PermissionDenied},
		{apperr.NotFound, codes.NotFound},
		{apperr.Conflict, codes.AlreadyExists},
		{apperr.TooManyRequests, codes.ResourceExhausted},
		{apperr.Unavailable, codes.Unavailable},
		{apperr.Internal, codes.Internal},
	}
	var current atomic.Pointer[apperr.Error]
	srv := start(t, telemetry.Noop(), func(context.Context, *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
		return nil, current.Load()
	})
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			sent := &apperr.Error{Kind: tt.kind, Message: "user u1 said no", Err: errors.New("secret cause")}
			current.Store(sent)
			_, err := srv.client.GetUser(t.Context(), &userv1.GetUserRequest{Id: "u1"})
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v, want %v (err %v)", got, tt.code, err)
			}
			if strings.Contains(err.Error(), "secret cause") {
				t.Errorf("status leaks the cause: %v", err)
			}
			if tt.kind == apperr.Internal && status.Convert(err).Message() != "internal error" {
				t.Errorf("internal message = %q, want the generic one", status.Convert(err).Message())
			}
			// Unavailable is retried; the same error comes back after the
			// last attempt.
			back, ok := apperr.As(grpcx.FromStatus(err))
			if !ok || back.Kind != tt.kind {
				t.Fatalf("FromStatus: got %v, want kind %v", back, tt.kind)
			}
		})
	}
}

func TestFieldsAndRetryHintSurviveTheWire(t *testing.T) {
	srv := start(t, telemetry.Noop(), func(context.Context, *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
		e := apperr.InvalidField("id", "must be a UUID")
		e.RetryAfterSeconds = 7
		return nil, e
	})
	_, err := srv.client.GetUser(t.Context(), &userv1.GetUserRequest{Id: "nope"})
	e, ok := apperr.As(grpcx.FromStatus(err))
	if !ok {
		t.Fatalf("FromStatus(%v): not an apperr", err)
	}
	if len(e.Fields) != 1 || e.Fields[0] != (apperr.FieldError{Field: "id", Detail: "must be a UUID"}) {
		t.Errorf("fields = %+v", e.Fields)
	}
	if e.RetryAfterSeconds != 7 {
		t.Errorf("retry after = %d, want 7", e.RetryAfterSeconds)
	}
	if status.Code(e) != codes.InvalidArgument {
		t.Errorf("status.Code on the converted error = %v: the status must stay in the chain", status.Code(e))
	}
}

func TestPanicBecomesInternal(t *testing.T) {
	var calls atomic.Int32
	srv := start(t, telemetry.Noop(), func(ctx context.Context, req *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
		if calls.Add(1) == 1 {
			panic("handler bug")
		}
		return ok(ctx, req)
	})
	_, err := srv.client.GetUser(t.Context(), &userv1.GetUserRequest{Id: "u1"})
	if status.Code(err) != codes.Internal {
		t.Fatalf("panicking handler: code %v, want Internal (err %v)", status.Code(err), err)
	}
	// The process, server and connection survived.
	if _, err := srv.client.GetUser(t.Context(), &userv1.GetUserRequest{Id: "u1"}); err != nil {
		t.Fatalf("call after panic: %v", err)
	}
}

func TestDefaultDeadline(t *testing.T) {
	serverHadDeadline := make(chan bool, 1)
	srv := start(t, telemetry.Noop(), func(ctx context.Context, _ *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
		_, ok := ctx.Deadline()
		serverHadDeadline <- ok
		<-ctx.Done()
		return nil, ctx.Err()
	}, grpcx.WithDefaultTimeout(100*time.Millisecond))

	// No deadline on the caller's context: the default applies and
	// propagates to the server.
	_, err := srv.client.GetUser(context.Background(), &userv1.GetUserRequest{Id: "u1"})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("code = %v, want DeadlineExceeded (err %v)", status.Code(err), err)
	}
	if !<-serverHadDeadline {
		t.Error("the server saw no deadline")
	}
	if back := grpcx.FromStatus(err); apperr.KindOf(back) != apperr.Unavailable {
		t.Errorf("FromStatus(DeadlineExceeded) kind = %v, want unavailable", apperr.KindOf(back))
	}
}

func TestRetriesUnavailable(t *testing.T) {
	var attempts atomic.Int32
	failures := int32(2)
	srv := start(t, telemetry.Noop(), func(ctx context.Context, req *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
		if attempts.Add(1) <= atomic.LoadInt32(&failures) {
			return nil, apperr.New(apperr.Unavailable, "warming up")
		}
		return ok(ctx, req)
	})

	resp, err := srv.client.GetUser(t.Context(), &userv1.GetUserRequest{Id: "u1"})
	if err != nil {
		t.Fatalf("call with two UNAVAILABLE attempts: %v", err)
	}
	if resp.GetUser().GetId() != "u1" {
		t.Errorf("response = %v", resp)
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("server saw %d attempts, want 3", n)
	}

	attempts.Store(0)
	atomic.StoreInt32(&failures, 100)
	_, err = srv.client.GetUser(t.Context(), &userv1.GetUserRequest{Id: "u1"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("always UNAVAILABLE: code %v, want Unavailable", status.Code(err))
	}
	if n := attempts.Load(); n != 4 {
		t.Errorf("server saw %d attempts, want 4 (maxAttempts)", n)
	}
}

func TestOtherCodesAreNotRetried(t *testing.T) {
	var attempts atomic.Int32
	srv := start(t, telemetry.Noop(), func(context.Context, *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
		attempts.Add(1)
		return nil, errors.New("database on fire")
	})
	_, err := srv.client.GetUser(t.Context(), &userv1.GetUserRequest{Id: "u1"})
	if status.Code(err) != codes.Internal {
		t.Fatalf("code = %v, want Internal", status.Code(err))
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("server saw %d attempts, want 1: only UNAVAILABLE is retried", n)
	}
}

func TestHealth(t *testing.T) {
	srv := start(t, telemetry.Noop(), ok)
	hc := healthpb.NewHealthClient(srv.conn)
	resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("status = %v, want SERVING", resp.GetStatus())
	}

	// What lifecycle does on shutdown, before draining.
	srv.health.Shutdown()
	resp, err = hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("check after shutdown: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("status after Shutdown = %v, want NOT_SERVING", resp.GetStatus())
	}
}

func TestReflectionListsServices(t *testing.T) {
	srv := start(t, telemetry.Noop(), ok)
	stream, err := reflectionpb.NewServerReflectionClient(srv.conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatalf("open reflection stream: %v", err)
	}
	req := &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}
	if err := stream.Send(req); err != nil {
		t.Fatalf("send: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("close send: %v", err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream end: %v", err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"vidstream.user.v1.UserService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
}
