package service_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/peerauth"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// authBase is a test configuration with east-west authentication on.
func authBase(t *testing.T, key, peers string) service.Base {
	t.Helper()
	b := servicetest.Base(t, "", []string{"127.0.0.1:1"})
	b.ServiceAuth, b.ServiceKey, b.ServicePeers = service.ServiceAuthRequired, key, peers
	if err := service.ApplyDefaults(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func routes(r chi.Router) http.Handler { return r }

// TestEastWestAuth: a service built on the skeleton signs its calls to
// another with its key; the other admits it for the methods that name it,
// refuses it others, and refuses calls carrying no token.
func TestEastWestAuth(t *testing.T) {
	_, callerKey, callerPub, err := peerauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, calleeKey, _, err := peerauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	callee, err := service.New(t.Context(), service.Spec{
		Name: "callee", GRPCPort: 19091,
		GRPCCallers: map[string][]string{"/grpc.testing.TestService/EmptyCall": {"caller"}},
		Build: func(context.Context, *service.Kit) (service.Parts, error) {
			return service.Parts{HTTP: routes, GRPC: func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, testService{}) }}, nil
		},
	}, authBase(t, calleeKey, "caller="+callerPub), telemetry.Noop())
	if err != nil {
		t.Fatalf("callee: %v", err)
	}
	servicetest.Run(t, "callee", callee.Run)

	var conn *grpc.ClientConn
	caller, err := service.New(t.Context(), service.Spec{
		Name: "caller",
		Build: func(_ context.Context, k *service.Kit) (service.Parts, error) {
			c, err := k.Dial("callee", callee.GRPCAddr())
			conn = c
			return service.Parts{HTTP: routes}, err
		},
	}, authBase(t, callerKey, ""), telemetry.Noop())
	if err != nil {
		t.Fatalf("caller: %v", err)
	}
	servicetest.Run(t, "caller", caller.Run)

	client := testpb.NewTestServiceClient(conn)
	if _, err := client.EmptyCall(t.Context(), &testpb.Empty{}); err != nil {
		t.Fatalf("allowed call: %v", err)
	}
	if _, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("call to a method not open to the caller = %v, want PermissionDenied", err)
	}

	anon, err := grpcx.Dial(callee.GRPCAddr(), telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = anon.Close() })
	if _, err := testpb.NewTestServiceClient(anon).EmptyCall(t.Context(), &testpb.Empty{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("call without a token = %v, want Unauthenticated", err)
	}
	if _, err := healthpb.NewHealthClient(anon).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health check needs no token: %v", err)
	}
}

// A service that calls another but has no key is refused at start, not at
// its first call.
func TestEastWestAuthNeedsAKeyToCall(t *testing.T) {
	_, err := service.New(t.Context(), service.Spec{
		Name: "caller",
		Build: func(_ context.Context, k *service.Kit) (service.Parts, error) {
			_, err := k.Dial("callee", "127.0.0.1:1")
			return service.Parts{HTTP: routes}, err
		},
	}, authBase(t, "", ""), telemetry.Noop())
	if err == nil || !strings.Contains(err.Error(), "SERVICE_KEY") {
		t.Fatalf("New = %v, want an error naming SERVICE_KEY", err)
	}
}
