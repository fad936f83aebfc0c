package auth_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/auth"
)

// fakeUsers is a UserServiceServer with a session table the test controls.
type fakeUsers struct {
	userv1.UnimplementedUserServiceServer

	calls atomic.Int64

	mu       sync.Mutex
	sessions map[string]*userv1.AuthenticateTokenResponse
	fail     error // returned for every call when set
	block    bool  // wait for the caller's deadline
}

func (f *fakeUsers) AuthenticateToken(ctx context.Context, req *userv1.AuthenticateTokenRequest) (*userv1.AuthenticateTokenResponse, error) {
	f.calls.Add(1)
	f.mu.Lock()
	resp, ok := f.sessions[req.GetToken()]
	fail, block := f.fail, f.block
	f.mu.Unlock()
	switch {
	case block:
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	case fail != nil:
		return nil, fail
	case req.GetToken() == "":
		return nil, status.Error(codes.InvalidArgument, "token is required")
	case !ok:
		return nil, status.Error(codes.Unauthenticated, "unknown token")
	}
	return resp, nil
}

func (f *fakeUsers) set(fn func(*fakeUsers)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// startUsers serves fake on a real gRPC server on 127.0.0.1 and returns a
// client connected to it.
func startUsers(t *testing.T, fake *fakeUsers) (userv1.UserServiceClient, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	userv1.RegisterUserServiceServer(srv, fake)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop := sync.OnceFunc(func() {
		srv.Stop()
		// ErrServerStopped means Stop came before Serve got going.
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})
	t.Cleanup(stop)

	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return userv1.NewUserServiceClient(conn), stop
}

func TestGRPCAuthenticator(t *testing.T) {
	userID := uuid.New()
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fake := &fakeUsers{sessions: map[string]*userv1.AuthenticateTokenResponse{
		"good":      {UserId: userID.String(), ExpiresAt: timestamppb.New(expires)},
		"malformed": {UserId: "not-a-uuid"},
	}}
	client, _ := startUsers(t, fake)
	a := auth.NewGRPCAuthenticator(client)
	ctx := t.Context()

	t.Run("valid token", func(t *testing.T) {
		p, err := a.Authenticate(ctx, "good")
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if p.UserID != userID || !p.ExpiresAt.Equal(expires) || p.Token != "good" {
			t.Errorf("principal = %+v", p)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		_, err := a.Authenticate(ctx, "bad")
		if apperr.KindOf(err) != apperr.Unauthenticated {
			t.Errorf("err = %v, want Unauthenticated", err)
		}
	})
	t.Run("empty token is rejected without a call", func(t *testing.T) {
		before := fake.calls.Load()
		_, err := a.Authenticate(ctx, "")
		if apperr.KindOf(err) != apperr.Unauthenticated {
			t.Errorf("err = %v, want Unauthenticated", err)
		}
		if fake.calls.Load() != before {
			t.Error("the user service was called for an empty token")
		}
	})
	t.Run("broken response is internal", func(t *testing.T) {
		_, err := a.Authenticate(ctx, "malformed")
		if apperr.KindOf(err) != apperr.Internal {
			t.Errorf("err = %v, want Internal", err)
		}
	})
}

func TestGRPCAuthenticatorMapsStatusCodes(t *testing.T) {
	tests := []struct {
		code codes.Code
		want apperr.Kind
	}{
		{codes.Unauthenticated, apperr.Unauthenticated},
		{codes.InvalidArgument, apperr.Unauthenticated},
		{codes.Unavailable, apperr.Unavailable},
		{codes.DeadlineExceeded, apperr.Unavailable},
		{codes.ResourceExhausted, apperr.Unavailable},
		{codes.Internal, apperr.Internal},
		{codes.PermissionDenied, apperr.Internal},
	}
	fake := &fakeUsers{}
	client, _ := startUsers(t, fake)
	a := auth.NewGRPCAuthenticator(client)
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			fake.set(func(f *fakeUsers) { f.fail = status.Error(tt.code, "scripted") })
			_, err := a.Authenticate(t.Context(), "tok")
			if got := apperr.KindOf(err); got != tt.want {
				t.Errorf("kind = %v, want %v (err %v)", got, tt.want, err)
			}
		})
	}
}

func TestGRPCAuthenticatorCallerDeadlineIsUnavailable(t *testing.T) {
	fake := &fakeUsers{block: true}
	client, _ := startUsers(t, fake)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := auth.NewGRPCAuthenticator(client).Authenticate(ctx, "tok")
	if apperr.KindOf(err) != apperr.Unavailable {
		t.Errorf("err = %v, want Unavailable", err)
	}
}

func TestGRPCAuthenticatorServerDownIsUnavailable(t *testing.T) {
	client, stop := startUsers(t, &fakeUsers{})
	stop()
	_, err := auth.NewGRPCAuthenticator(client).Authenticate(t.Context(), "tok")
	if apperr.KindOf(err) != apperr.Unavailable {
		t.Errorf("err = %v, want Unavailable", err)
	}
}

// TestGRPCAuthenticatorDoesNotCache pins the logout contract: a token revoked
// in the user service stops working on the very next request.
func TestGRPCAuthenticatorDoesNotCache(t *testing.T) {
	fake := &fakeUsers{sessions: map[string]*userv1.AuthenticateTokenResponse{
		"tok": {UserId: uuid.NewString()},
	}}
	client, _ := startUsers(t, fake)
	a := auth.NewGRPCAuthenticator(client)

	if _, err := a.Authenticate(t.Context(), "tok"); err != nil {
		t.Fatalf("first Authenticate: %v", err)
	}
	fake.set(func(f *fakeUsers) { delete(f.sessions, "tok") }) // logout
	if _, err := a.Authenticate(t.Context(), "tok"); apperr.KindOf(err) != apperr.Unauthenticated {
		t.Errorf("after logout: err = %v, want Unauthenticated", err)
	}
	if got := fake.calls.Load(); got != 2 {
		t.Errorf("user service calls = %d, want 2", got)
	}
}
