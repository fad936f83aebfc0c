// Package videoclient reports transcode outcomes to the video service
// over gRPC (VideoService/CompleteTranscode), as domain.Reporter.
package videoclient

import (
	"context"
	"fmt"

	videov1 "github.com/vidstream/vidstream/services/api/video/v1"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/transcoder/internal/domain"
)

// Client implements domain.Reporter. Deadlines, retries of calls that
// never reached the server and the circuit breaker come from the
// connection (service.Kit.Dial).
type Client struct {
	videos videov1.VideoServiceClient
}

var _ domain.Reporter = (*Client)(nil)

// New returns a Reporter backed by videos.
func New(videos videov1.VideoServiceClient) *Client { return &Client{videos: videos} }

// Report calls CompleteTranscode. The answer's error is an apperr error
// (grpcx.FromStatus): NotFound when the video is gone.
func (c *Client) Report(ctx context.Context, r domain.Report) error {
	outcome := videov1.TranscodeOutcome_TRANSCODE_OUTCOME_READY
	if r.Outcome == domain.Failed {
		outcome = videov1.TranscodeOutcome_TRANSCODE_OUTCOME_FAILED
	}
	_, err := c.videos.CompleteTranscode(ctx, &videov1.CompleteTranscodeRequest{
		VideoId: r.VideoID.String(),
		JobId:   r.JobID,
		Outcome: outcome,
		Reason:  r.Reason,
	})
	if err != nil {
		return fmt.Errorf("video service CompleteTranscode %s: %w", r.VideoID, grpcx.FromStatus(err))
	}
	return nil
}
