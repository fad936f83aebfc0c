package grpcapi_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
	"github.com/vidstream/vidstream/services/user/internal/domain"
	"github.com/vidstream/vidstream/services/user/internal/grpcapi"
	"github.com/vidstream/vidstream/services/user/internal/store"
)

var cheapArgon2 = domain.Argon2Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1}

// newStore returns the real store over db with the real outbox, whose events
// no relay publishes here.
func newStore(t *testing.T, db *database.DB) *store.Store {
	t.Helper()
	if err := outbox.Migrate(t.Context(), db); err != nil {
		t.Fatalf("migrate outbox: %v", err)
	}
	return store.New(db, outbox.New(db, "/services/user", telemetry.Noop()))
}

// serve starts the UserService over store on a real 127.0.0.1 listener and
// returns a client for it.
func serve(t *testing.T, st domain.Store) userv1.UserServiceClient {
	t.Helper()
	svc, err := domain.NewService(t.Context(), st, domain.Config{Argon2: cheapArgon2})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	p, _ := telemetrytest.New(t)
	srv, _ := grpcx.NewServer(p)
	grpcapi.Register(srv, svc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})
	conn, err := grpcx.Dial(ln.Addr().String(), p)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	t.Cleanup(func() {
		// Health goes through the same connection, proving grpc.health.v1
		// is served alongside the API.
		resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health = %v, %v; want SERVING", resp.GetStatus(), err)
		}
	})
	return userv1.NewUserServiceClient(conn)
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("code = %s (%v), want %s", got, err, want)
	}
}

func TestErrorCodes(t *testing.T) {
	db := databasetest.OpenSQLite(t, store.Migrations())
	client := serve(t, newStore(t, db))
	ctx := t.Context()

	_, err := client.AuthenticateToken(ctx, &userv1.AuthenticateTokenRequest{})
	wantCode(t, err, codes.InvalidArgument)
	_, err = client.AuthenticateToken(ctx, &userv1.AuthenticateTokenRequest{Token: strings.Repeat("x", 43)})
	wantCode(t, err, codes.Unauthenticated)
	_, err = client.AuthenticateToken(ctx, &userv1.AuthenticateTokenRequest{Token: "garbage"})
	wantCode(t, err, codes.Unauthenticated)

	_, err = client.GetUser(ctx, &userv1.GetUserRequest{Id: "not-a-uuid"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = client.GetUser(ctx, &userv1.GetUserRequest{Id: uuid.NewString()})
	wantCode(t, err, codes.NotFound)

	ids := make([]string, domain.MaxBatchGetUsers+1)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	_, err = client.BatchGetUsers(ctx, &userv1.BatchGetUsersRequest{Ids: ids})
	wantCode(t, err, codes.InvalidArgument)
	_, err = client.BatchGetUsers(ctx, &userv1.BatchGetUsersRequest{Ids: []string{uuid.NewString(), "nope"}})
	wantCode(t, err, codes.InvalidArgument)
	if st, _ := status.FromError(err); !strings.Contains(st.Message(), "ids[1]") {
		t.Errorf("message %q does not name the offending element ids[1]", st.Message())
	}
}

// blockingStore never answers a session lookup until the caller gives up,
// standing in for a stuck database.
type blockingStore struct {
	domain.Store
	entered  chan struct{}
	returned chan error
}

func (s *blockingStore) SessionByTokenHash(ctx context.Context, _ []byte) (domain.Session, error) {
	close(s.entered)
	<-ctx.Done()
	s.returned <- ctx.Err()
	return domain.Session{}, fmt.Errorf("session lookup: %w", ctx.Err())
}

// TestDeadlineHonoured proves the client's deadline reaches the handler's
// context: the call fails with DEADLINE_EXCEEDED and the server-side work is
// released rather than left running.
func TestDeadlineHonoured(t *testing.T) {
	db := databasetest.OpenSQLite(t, store.Migrations())
	bs := &blockingStore{Store: newStore(t, db), entered: make(chan struct{}), returned: make(chan error, 1)}
	client := serve(t, bs)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := client.AuthenticateToken(ctx, &userv1.AuthenticateTokenRequest{Token: strings.Repeat("x", 43)})
	wantCode(t, err, codes.DeadlineExceeded)

	select {
	case <-bs.entered:
	default:
		t.Fatal("the call never reached the store; the test proves nothing")
	}
	select {
	case err := <-bs.returned:
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			t.Errorf("handler context ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler still blocked after the client's deadline: its context is not the call's")
	}
}

func TestHappyPath(t *testing.T) {
	db := databasetest.OpenSQLite(t, store.Migrations())
	st := newStore(t, db)
	svc, err := domain.NewService(t.Context(), st, domain.Config{Argon2: cheapArgon2})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	ctx := t.Context()
	u, err := svc.Register(ctx, domain.RegisterInput{Email: "ann@example.com", Password: "password1", DisplayName: "Ann"})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	sess, err := svc.Login(ctx, domain.LoginInput{Email: "ann@example.com", Password: "password1"})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	client := serve(t, st)

	auth, err := client.AuthenticateToken(ctx, &userv1.AuthenticateTokenRequest{Token: sess.Token})
	if err != nil || auth.GetUserId() != u.ID.String() || !auth.GetExpiresAt().AsTime().Equal(sess.ExpiresAt) {
		t.Errorf("AuthenticateToken = %v, %v", auth, err)
	}
	got, err := client.GetUser(ctx, &userv1.GetUserRequest{Id: u.ID.String()})
	if err != nil || got.GetUser().GetDisplayName() != "Ann" || !got.GetUser().GetCreatedAt().AsTime().Equal(u.CreatedAt) {
		t.Errorf("GetUser = %v, %v", got, err)
	}
	ghost := uuid.NewString()
	batch, err := client.BatchGetUsers(ctx, &userv1.BatchGetUsersRequest{Ids: []string{ghost, u.ID.String()}})
	if err != nil || len(batch.GetUsers()) != 1 || batch.GetUsers()[0].GetId() != u.ID.String() ||
		len(batch.GetMissingIds()) != 1 || batch.GetMissingIds()[0] != ghost {
		t.Errorf("BatchGetUsers = %v, %v", batch, err)
	}
}
