package grpcapi_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	videov1 "github.com/vidstream/vidstream/services/api/video/v1"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/outbox/outboxtest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/grpcapi"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// stuckStore blocks every read until the request's context ends and reports
// that it saw the end, standing in for a database that does not answer.
type stuckStore struct {
	domain.Store
	gaveUp chan error
}

func (s stuckStore) Get(ctx context.Context, _ uuid.UUID) (domain.Video, error) {
	<-ctx.Done()
	s.gaveUp <- context.Cause(ctx)
	return domain.Video{}, ctx.Err()
}

func serve(t *testing.T, svc *domain.Service) videov1.VideoServiceClient {
	t.Helper()
	srv, _ := grpcx.NewServer(telemetry.Noop())
	grpcapi.Register(srv, svc)
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})
	conn, err := grpcx.Dial(ln.Addr().String(), telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return videov1.NewVideoServiceClient(conn)
}

// TestServerHonoursDeadline proves the caller's deadline reaches the domain
// and store: the stuck read is abandoned when the deadline passes, instead of
// holding a server goroutine and a database connection forever.
func TestServerHonoursDeadline(t *testing.T) {
	store := stuckStore{gaveUp: make(chan error, 1)}
	client := serve(t, domain.NewService(store))

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := client.GetVideo(ctx, &videov1.GetVideoRequest{Id: uuid.NewString()})
	if code := status.Code(err); code != codes.DeadlineExceeded {
		t.Fatalf("code = %v, want DeadlineExceeded (%v)", code, err)
	}
	select {
	case cause := <-store.gaveUp:
		if !errors.Is(cause, context.DeadlineExceeded) && !errors.Is(cause, context.Canceled) {
			t.Fatalf("store gave up because of %v", cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept working after the caller's deadline")
	}
}

// CompleteTranscode over the wire: each outcome, the codes for bad input
// and unknown videos, and a repeated report answered OK without a change.
func TestCompleteTranscode(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		ob := outboxtest.NewTable(t, db)
		svc := domain.NewService(store.New(db, ob, store.WithTranscodeQueue("vidstream.transcode")), domain.WithTranscoding())
		client := serve(t, svc)
		newVideo := func() string {
			t.Helper()
			v, err := svc.Create(ctx, uuid.New(), domain.NewVideo{Title: "Reel", Kind: domain.KindMovie, DurationSeconds: 60})
			if err != nil {
				t.Fatal(err)
			}
			return v.ID.String()
		}
		call := func(id string, outcome videov1.TranscodeOutcome, reason string) (*videov1.CompleteTranscodeResponse, error) {
			return client.CompleteTranscode(ctx, &videov1.CompleteTranscodeRequest{VideoId: id, JobId: "job-1", Outcome: outcome, Reason: reason})
		}
		ready, failed := videov1.TranscodeOutcome_TRANSCODE_OUTCOME_READY, videov1.TranscodeOutcome_TRANSCODE_OUTCOME_FAILED

		id := newVideo()
		resp, err := call(id, ready, "")
		if err != nil || !resp.GetChanged() || resp.GetVideo().GetStatus() != videov1.VideoStatus_VIDEO_STATUS_READY {
			t.Fatalf("READY: %v %v", resp, err)
		}
		resp, err = call(id, failed, "too late")
		if err != nil || resp.GetChanged() || resp.GetVideo().GetStatus() != videov1.VideoStatus_VIDEO_STATUS_READY {
			t.Fatalf("FAILED after READY: want OK, unchanged and ready; got %v %v", resp, err)
		}
		id = newVideo()
		resp, err = call(id, failed, "corrupt source")
		if err != nil || !resp.GetChanged() || resp.GetVideo().GetStatus() != videov1.VideoStatus_VIDEO_STATUS_FAILED {
			t.Fatalf("FAILED: %v %v", resp, err)
		}

		pending := newVideo()
		for name, tc := range map[string]struct {
			id      string
			outcome videov1.TranscodeOutcome
			reason  string
			want    codes.Code
		}{
			"unknown video":     {uuid.NewString(), ready, "", codes.NotFound},
			"malformed id":      {"not-a-uuid", ready, "", codes.InvalidArgument},
			"no outcome":        {pending, videov1.TranscodeOutcome_TRANSCODE_OUTCOME_UNSPECIFIED, "", codes.InvalidArgument},
			"unknown outcome":   {pending, videov1.TranscodeOutcome(42), "", codes.InvalidArgument},
			"failed, no reason": {pending, failed, "", codes.InvalidArgument},
		} {
			if _, err := call(tc.id, tc.outcome, tc.reason); status.Code(err) != tc.want {
				t.Errorf("%s: code %v, want %v (%v)", name, status.Code(err), tc.want, err)
			}
		}
	})
}
