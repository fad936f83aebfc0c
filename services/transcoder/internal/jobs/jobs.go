// Package jobs is the transcoder's work-queue adapter: it decodes a
// delivery from vidstream.transcode into a domain.Job and tells the queue
// what the domain's answer means for the message (done, retry, or
// dead-letter at once).
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/api/events"
	jobsv1 "github.com/vidstream/vidstream/services/api/jobs/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/workqueue"
	"github.com/vidstream/vidstream/services/transcoder/internal/domain"
)

// TranscodeRequestedType is the CloudEvents type of the one job the
// transcode queue carries: "vidstream.transcode.TranscodeRequested" (the
// queue's name and the message's; a test's queue of its own changes the
// first part).
func TranscodeRequestedType(queue string) string {
	return events.Type(queue, &jobsv1.TranscodeRequested{})
}

// Handler returns the workqueue handler of the transcode queue.
//
// A job of another type, an undecodable body or an invalid video id is a
// producer's bug no retry can fix: dead-lettered at once. A failure the
// video service has been told of (the last attempt) goes to the
// dead-letter queue as the queue does with any last attempt. Everything
// else is retried after the queue's delay.
func Handler(w *domain.Worker, log *slog.Logger) workqueue.Handler {
	return func(ctx context.Context, m workqueue.Message) error {
		job, err := decode(m)
		if err != nil {
			return workqueue.Permanent(err)
		}
		log := log.With(slog.String("video_id", job.VideoID.String()), slog.String("job_id", job.ID),
			slog.Int("attempt", job.Attempt))
		log.InfoContext(ctx, "transcode started", slog.Bool("redelivered", m.Redelivered))
		err = w.Handle(ctx, job)
		switch {
		case err == nil:
			log.InfoContext(ctx, "transcode done")
		case errors.Is(err, domain.ErrGaveUp):
			log.ErrorContext(ctx, "transcode failed for good; video told", slog.Any("error", err))
		case apperr.KindOf(err) == apperr.Invalid:
			// The video service refused the report as malformed: ours
			// to fix, not the next attempt's.
			return workqueue.Permanent(err)
		}
		return err
	}
}

func decode(m workqueue.Message) (domain.Job, error) {
	if want := TranscodeRequestedType(m.Queue); m.Type != want {
		return domain.Job{}, fmt.Errorf("job %s: type %q is not %q", m.ID, m.Type, want)
	}
	var req jobsv1.TranscodeRequested
	if err := proto.Unmarshal(m.Body, &req); err != nil {
		return domain.Job{}, fmt.Errorf("job %s: decode %s: %w", m.ID, m.Type, err)
	}
	id, err := uuid.Parse(req.GetVideoId())
	if err != nil {
		return domain.Job{}, fmt.Errorf("job %s: video id %q: %w", m.ID, req.GetVideoId(), err)
	}
	return domain.Job{
		ID:              m.ID,
		VideoID:         id,
		DurationSeconds: int(req.GetDurationSeconds()),
		Title:           req.GetTitle(),
		Attempt:         max(m.Attempt, 1),
	}, nil
}
