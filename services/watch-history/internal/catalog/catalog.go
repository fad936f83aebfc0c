// Package catalog looks videos up in the video service over gRPC, as
// domain.Catalog. It is the only place that knows how the video service
// answers, and turns those answers into the domain's vocabulary.
package catalog

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	videov1 "github.com/vidstream/vidstream/services/api/video/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
)

// Client implements domain.Catalog with a VideoService client. Deadlines
// and retries of transient failures come from the connection (grpcx.Dial).
type Client struct {
	videos videov1.VideoServiceClient
}

var _ domain.Catalog = (*Client)(nil)

// New returns a Catalog backed by videos.
func New(videos videov1.VideoServiceClient) *Client {
	return &Client{videos: videos}
}

// Video returns the catalog's current view of one video.
func (c *Client) Video(ctx context.Context, id uuid.UUID) (domain.Video, error) {
	resp, err := c.videos.GetVideo(ctx, &videov1.GetVideoRequest{Id: id.String()})
	if err != nil {
		return domain.Video{}, fromStatus(id, err)
	}
	v := resp.GetVideo()
	// The checks below guard the domain against a video service that breaks
	// its contract; none of them is the caller's fault.
	if v == nil || v.GetId() != id.String() {
		return domain.Video{}, contractError(id, fmt.Errorf("asked for video %s, got %q", id, v.GetId()))
	}
	if v.GetDurationSeconds() <= 0 {
		return domain.Video{}, contractError(id, fmt.Errorf("video %s has duration %d", id, v.GetDurationSeconds()))
	}
	return domain.Video{
		ID:              id,
		Title:           v.GetTitle(),
		DurationSeconds: int(v.GetDurationSeconds()),
		UpdatedAt:       v.GetUpdatedAt().AsTime(),
	}, nil
}

// fromStatus maps the video service's status codes. It is narrower than a
// generic mapping: INVALID_ARGUMENT, for instance, can only mean we sent a
// malformed id, which is our bug, not the client's.
func fromStatus(id uuid.UUID, err error) error {
	st, _ := status.FromError(err)
	wrapped := fmt.Errorf("video service GetVideo %s: %w", id, err)
	switch st.Code() {
	case codes.NotFound:
		return &apperr.Error{Kind: apperr.NotFound, Message: fmt.Sprintf("video %s not found", id), Err: wrapped}
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Canceled:
		return &apperr.Error{Kind: apperr.Unavailable, Message: "the video catalog is temporarily unavailable", Err: wrapped,
			RetryAfterSeconds: max(grpcx.RetryAfterSeconds(err), 1)}
	default:
		return contractError(id, wrapped)
	}
}

func contractError(id uuid.UUID, err error) error {
	return &apperr.Error{Kind: apperr.Internal, Message: fmt.Sprintf("look up video %s", id), Err: err}
}
