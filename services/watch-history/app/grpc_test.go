package app_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	historyv1 "github.com/vidstream/vidstream/services/api/history/v1"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// TestGRPC reads over gRPC what was written over REST: both transports are
// adapters over the same domain service and database.
func TestGRPC(t *testing.T) {
	e := newEnv(t, sqliteBackend)
	owner, viewer := e.newUser(t), e.newUser(t)
	v := e.newVideo(t, owner, "Night Train", 100)
	saved := e.put(t, viewer, v.ID, 95)

	conn, err := grpcx.Dial(e.historyGRPC, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := historyv1.NewWatchHistoryServiceClient(conn)

	resp, err := client.ListHistory(t.Context(), &historyv1.ListHistoryRequest{UserId: viewer.id})
	if err != nil {
		t.Fatalf("ListHistory: %v", err)
	}
	if len(resp.GetEntries()) != 1 {
		t.Fatalf("entries = %v, want one", resp.GetEntries())
	}
	got := resp.GetEntries()[0]
	if got.GetVideoId() != v.ID || got.GetTitle() != "Night Train" || got.GetPositionSeconds() != 95 ||
		got.GetDurationSeconds() != 100 || !got.GetCompleted() || !got.GetUpdatedAt().AsTime().Equal(saved.UpdatedAt) {
		t.Fatalf("entry = %v, want what REST returned: %+v", got, saved)
	}

	_, err = client.ListHistory(t.Context(), &historyv1.ListHistoryRequest{UserId: "nobody"})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("malformed user id: %v, want InvalidArgument", err)
	}

	h, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", h, err)
	}
}
