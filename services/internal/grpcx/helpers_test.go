package grpcx_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// users is a UserService whose GetUser each test scripts.
type users struct {
	userv1.UnimplementedUserServiceServer
	getUser func(ctx context.Context, req *userv1.GetUserRequest) (*userv1.GetUserResponse, error)
}

func (u *users) GetUser(ctx context.Context, req *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
	return u.getUser(ctx, req)
}

type server struct {
	conn   *grpc.ClientConn
	client userv1.UserServiceClient
	health *health.Server
}

// start serves getUser on a real listener on 127.0.0.1 and dials it with
// grpcx.Dial, so every test goes through the same stack as production.
func start(t *testing.T, p telemetry.Providers, getUser func(context.Context, *userv1.GetUserRequest) (*userv1.GetUserResponse, error), dialOpts ...grpcx.DialOption) server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv, hs := grpcx.NewServer(p)
	userv1.RegisterUserServiceServer(srv, &users{getUser: getUser})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		// ErrServerStopped only means Stop won the race with Serve's start.
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})

	conn, err := grpcx.Dial(ln.Addr().String(), p, dialOpts...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return server{conn: conn, client: userv1.NewUserServiceClient(conn), health: hs}
}

func ok(context.Context, *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
	return &userv1.GetUserResponse{User: &userv1.User{Id: "u1", DisplayName: "Ada"}}, nil
}
