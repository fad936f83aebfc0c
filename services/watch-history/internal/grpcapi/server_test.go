package grpcapi_test

import (
	"context"
	"database/sql"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	historyv1 "github.com/vidstream/vidstream/services/api/history/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
	"github.com/vidstream/vidstream/services/watch-history/internal/grpcapi"
	"github.com/vidstream/vidstream/services/watch-history/internal/store"
)

type discard struct{}

func (discard) Enqueue(context.Context, *sql.Tx, ...outbox.Event) error { return nil }
func (discard) Notify()                                                 {}

type catalog map[uuid.UUID]domain.Video

func (c catalog) Video(_ context.Context, id uuid.UUID) (domain.Video, error) {
	v, ok := c[id]
	if !ok {
		return domain.Video{}, apperr.New(apperr.NotFound, "video %s not found", id)
	}
	return v, nil
}

// start serves the WatchHistoryService on 127.0.0.1 with the production
// server stack (grpcx) over a real SQLite store, and returns a client
// connection plus the service to seed data through.
func start(t *testing.T, videos catalog) (historyv1.WatchHistoryServiceClient, healthpb.HealthClient, *domain.Service) {
	t.Helper()
	db := databasetest.OpenSQLite(t, store.Migrations())
	svc := domain.NewService(store.New(db, discard{}), videos)

	srv, _ := grpcx.NewServer(telemetry.Noop())
	grpcapi.Register(srv, svc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	conn, err := grpcx.Dial(ln.Addr().String(), telemetry.Noop())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return historyv1.NewWatchHistoryServiceClient(conn), healthpb.NewHealthClient(conn), svc
}

func TestListHistoryPages(t *testing.T) {
	videos := catalog{}
	client, _, svc := start(t, videos)
	ctx := t.Context()
	user, stranger := uuid.New(), uuid.New()
	for i := range 5 {
		v := domain.Video{ID: uuid.New(), Title: "Episode", DurationSeconds: 100, UpdatedAt: time.Now()}
		videos[v.ID] = v
		if _, err := svc.RecordProgress(ctx, user, v.ID, 10*i); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := svc.RecordProgress(ctx, stranger, v.ID, 95); err != nil {
				t.Fatal(err)
			}
		}
	}

	all, err := client.ListHistory(ctx, &historyv1.ListHistoryRequest{UserId: user.String()})
	if err != nil {
		t.Fatalf("ListHistory: %v", err)
	}
	if len(all.GetEntries()) != 5 || all.GetNextPageToken() != "" {
		t.Fatalf("default page: %d entries, next %q; want all 5 and no next page", len(all.GetEntries()), all.GetNextPageToken())
	}
	for i, e := range all.GetEntries() {
		if e.GetTitle() != "Episode" || e.GetDurationSeconds() != 100 || e.GetUpdatedAt() == nil {
			t.Fatalf("entry %d = %v", i, e)
		}
		if i > 0 && e.GetUpdatedAt().AsTime().After(all.GetEntries()[i-1].GetUpdatedAt().AsTime()) {
			t.Fatalf("entries not newest first at %d", i)
		}
	}
	// The newest report was at 40 seconds.
	if got := all.GetEntries()[0].GetPositionSeconds(); got != 40 {
		t.Fatalf("first entry at %d s, want the most recent report (40 s)", got)
	}

	var paged []string
	token := ""
	for range 10 {
		resp, err := client.ListHistory(ctx, &historyv1.ListHistoryRequest{UserId: user.String(), PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListHistory page: %v", err)
		}
		for _, e := range resp.GetEntries() {
			paged = append(paged, e.GetVideoId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	for i, e := range all.GetEntries() {
		if i >= len(paged) || paged[i] != e.GetVideoId() {
			t.Fatalf("paged listing %v differs from the full one at %d", paged, i)
		}
	}
	if len(paged) != 5 {
		t.Fatalf("paged through %d entries, want 5", len(paged))
	}

	empty, err := client.ListHistory(ctx, &historyv1.ListHistoryRequest{UserId: uuid.NewString()})
	if err != nil || len(empty.GetEntries()) != 0 || empty.GetNextPageToken() != "" {
		t.Fatalf("unknown user: %v, %v; want an empty page", empty, err)
	}
}

func TestListHistoryRejects(t *testing.T) {
	client, _, _ := start(t, catalog{})
	user := uuid.NewString()
	tests := []struct {
		name string
		req  *historyv1.ListHistoryRequest
	}{
		{"missing user", &historyv1.ListHistoryRequest{}},
		{"malformed user", &historyv1.ListHistoryRequest{UserId: "alice"}},
		{"negative page size", &historyv1.ListHistoryRequest{UserId: user, PageSize: -1}},
		{"page size too big", &historyv1.ListHistoryRequest{UserId: user, PageSize: domain.MaxPageSize + 1}},
		{"malformed token", &historyv1.ListHistoryRequest{UserId: user, PageToken: "garbage!"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.ListHistory(t.Context(), tt.req)
			if code := status.Code(err); code != codes.InvalidArgument {
				t.Fatalf("code = %v (%v), want InvalidArgument", code, err)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	_, health, _ := start(t, catalog{})
	resp, err := health.Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING", resp, err)
	}
}
