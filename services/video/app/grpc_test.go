package app_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	videov1 "github.com/vidstream/vidstream/services/api/video/v1"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

func dialVideo(t *testing.T, e *env) *grpc.ClientConn {
	t.Helper()
	conn, err := grpcx.Dial(e.grpcAddr, telemetry.Noop())
	if err != nil {
		t.Fatalf("dial video gRPC: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code = %v, want %v (err %v)", got, want, err)
	}
}

func TestGRPC(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := b.db
			e := newEnv(t, db)
			u := e.newUser(t)
			m := e.create(t, u.token, movieReq("Over gRPC"))
			ep := e.create(t, u.token, episodeReq("Episode over gRPC"))
			conn := dialVideo(t, e)
			client := videov1.NewVideoServiceClient(conn)

			t.Run("GetVideo", func(t *testing.T) {
				resp, err := client.GetVideo(t.Context(), &videov1.GetVideoRequest{Id: ep.ID})
				if err != nil {
					t.Fatal(err)
				}
				v := resp.GetVideo()
				if v.GetId() != ep.ID || v.GetTitle() != ep.Title || v.GetKind() != videov1.VideoKind_VIDEO_KIND_EPISODE ||
					v.GetDurationSeconds() != 1500 || v.GetSeriesTitle() != "The Show" || v.GetSeason() != 1 || v.GetEpisode() != 3 ||
					v.ReleaseYear != nil || v.GetOwnerId() != u.id || v.GetStatus() != videov1.VideoStatus_VIDEO_STATUS_READY ||
					!v.GetCreatedAt().AsTime().Equal(ep.CreatedAt) {
					t.Fatalf("unexpected video %v", v)
				}
				resp, err = client.GetVideo(t.Context(), &videov1.GetVideoRequest{Id: m.ID})
				if err != nil || resp.GetVideo().GetKind() != videov1.VideoKind_VIDEO_KIND_MOVIE || resp.GetVideo().GetReleaseYear() != 2001 ||
					resp.GetVideo().Season != nil {
					t.Fatalf("movie: %v %v", resp, err)
				}
			})

			t.Run("GetVideo errors", func(t *testing.T) {
				_, err := client.GetVideo(t.Context(), &videov1.GetVideoRequest{Id: uuid.NewString()})
				wantCode(t, err, codes.NotFound)
				for _, bad := range []string{"", "nope", "{" + m.ID + "}"} {
					_, err = client.GetVideo(t.Context(), &videov1.GetVideoRequest{Id: bad})
					wantCode(t, err, codes.InvalidArgument)
				}
			})

			t.Run("BatchGetVideos", func(t *testing.T) {
				unknown := uuid.NewString()
				resp, err := client.BatchGetVideos(t.Context(), &videov1.BatchGetVideosRequest{Ids: []string{ep.ID, unknown, m.ID, ep.ID}})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, v := range resp.GetVideos() {
					got = append(got, v.GetId())
				}
				if !slices.Equal(got, []string{ep.ID, m.ID}) || !slices.Equal(resp.GetMissingIds(), []string{unknown}) {
					t.Fatalf("batch: videos %v missing %v", got, resp.GetMissingIds())
				}
				resp, err = client.BatchGetVideos(t.Context(), &videov1.BatchGetVideosRequest{})
				if err != nil || len(resp.GetVideos()) != 0 || len(resp.GetMissingIds()) != 0 {
					t.Fatalf("empty batch: %v %v", resp, err)
				}
			})

			t.Run("BatchGetVideos errors", func(t *testing.T) {
				ids := make([]string, 101)
				for i := range ids {
					ids[i] = uuid.NewString()
				}
				_, err := client.BatchGetVideos(t.Context(), &videov1.BatchGetVideosRequest{Ids: ids})
				wantCode(t, err, codes.InvalidArgument)
				_, err = client.BatchGetVideos(t.Context(), &videov1.BatchGetVideosRequest{Ids: ids[:100]})
				wantCode(t, err, codes.OK)
				_, err = client.BatchGetVideos(t.Context(), &videov1.BatchGetVideosRequest{Ids: []string{m.ID, "bad"}})
				wantCode(t, err, codes.InvalidArgument)
			})

			t.Run("deadline", func(t *testing.T) {
				// An expired deadline is not retried or ignored: the call fails with
				// DEADLINE_EXCEEDED. (grpcapi's tests prove the server side stops
				// work when the caller's deadline passes.)
				dctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
				defer cancel()
				_, err := client.GetVideo(dctx, &videov1.GetVideoRequest{Id: m.ID})
				wantCode(t, err, codes.DeadlineExceeded)
				// And the connection is still good afterwards.
				if _, err := client.GetVideo(t.Context(), &videov1.GetVideoRequest{Id: m.ID}); err != nil {
					t.Fatal(err)
				}
			})

			t.Run("deleted video is NOT_FOUND", func(t *testing.T) {
				v := e.create(t, u.token, movieReq("Short-lived"))
				if r := e.video(t, http.MethodDelete, "/v1/videos/"+v.ID, u.token, nil); r.Status != http.StatusNoContent {
					t.Fatalf("delete: %d", r.Status)
				}
				_, err := client.GetVideo(t.Context(), &videov1.GetVideoRequest{Id: v.ID})
				wantCode(t, err, codes.NotFound)
			})

			t.Run("health", func(t *testing.T) {
				resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
				if err != nil {
					t.Fatal(err)
				}
				if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					t.Fatalf("health = %v", resp.GetStatus())
				}
			})
		})
	}
}
