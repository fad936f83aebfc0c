package catalog_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	videov1 "github.com/vidstream/vidstream/services/api/video/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/watch-history/internal/catalog"
)

// fakeVideos answers GetVideo with a fixed response or error.
type fakeVideos struct {
	videov1.VideoServiceClient
	resp *videov1.GetVideoResponse
	err  error
}

func (f fakeVideos) GetVideo(context.Context, *videov1.GetVideoRequest, ...grpc.CallOption) (*videov1.GetVideoResponse, error) {
	return f.resp, f.err
}

func TestVideo(t *testing.T) {
	id := uuid.New()
	updated := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	v, err := catalog.New(fakeVideos{resp: &videov1.GetVideoResponse{Video: &videov1.Video{
		Id: id.String(), Title: "Night Train", DurationSeconds: 100, UpdatedAt: timestamppb.New(updated),
	}}}).Video(t.Context(), id)
	if err != nil || v.ID != id || v.Title != "Night Train" || v.DurationSeconds != 100 || !v.UpdatedAt.Equal(updated) {
		t.Fatalf("Video = %+v, %v", v, err)
	}
}

// TestVideoErrors pins how the video service's answers reach the domain:
// what the client may retry (Unavailable), what is its mistake (NotFound),
// and what is ours or video's (Internal).
func TestVideoErrors(t *testing.T) {
	id := uuid.New()
	for _, tc := range []struct {
		name string
		fake fakeVideos
		want apperr.Kind
	}{
		{"not found", fakeVideos{err: status.Error(codes.NotFound, "no such video")}, apperr.NotFound},
		{"unavailable", fakeVideos{err: status.Error(codes.Unavailable, "connection refused")}, apperr.Unavailable},
		{"deadline", fakeVideos{err: status.Error(codes.DeadlineExceeded, "slow")}, apperr.Unavailable},
		{"invalid argument is our bug", fakeVideos{err: status.Error(codes.InvalidArgument, "bad id")}, apperr.Internal},
		{"no video in response", fakeVideos{resp: &videov1.GetVideoResponse{}}, apperr.Internal},
		{"another video", fakeVideos{resp: &videov1.GetVideoResponse{Video: &videov1.Video{Id: uuid.NewString(), DurationSeconds: 1}}}, apperr.Internal},
		{"zero duration", fakeVideos{resp: &videov1.GetVideoResponse{Video: &videov1.Video{Id: id.String()}}}, apperr.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := catalog.New(tc.fake).Video(t.Context(), id)
			if err == nil || apperr.KindOf(err) != tc.want {
				t.Fatalf("err = %v, want kind %v", err, tc.want)
			}
		})
	}
}
