package domain

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

// Limits on what the transcoder reports.
const (
	MaxJobIDLen  = 200
	MaxReasonLen = 1000
)

// TranscodeJob asks for a video's renditions. The domain only says that
// one is needed; how it reaches a transcoder (a work queue, through the
// outbox) is the store's business.
type TranscodeJob struct {
	VideoID uuid.UUID
	// DurationSeconds and Title are what the work needs to know of the
	// video, so the transcoder never has to ask for them.
	DurationSeconds int
	Title           string
	RequestedAt     time.Time
}

// TranscodeResult is a transcoder's report on one job.
type TranscodeResult struct {
	VideoID uuid.UUID
	// JobID names the job the report is about (its message id), for
	// logs and traces; it decides nothing.
	JobID string
	// Outcome is StatusReady or StatusFailed.
	Outcome Status
	// Reason says why a transcode failed; required when it did.
	Reason string
}

func (r TranscodeResult) validate() error {
	var fe fieldErrors
	switch {
	case r.JobID == "":
		fe.add("job_id", "is required")
	case len(r.JobID) > MaxJobIDLen:
		fe.add("job_id", "must be at most %d bytes", MaxJobIDLen)
	}
	if !r.Outcome.Finished() {
		fe.add("outcome", "must be %q or %q", StatusReady, StatusFailed)
	}
	switch {
	case !utf8.ValidString(r.Reason):
		fe.add("reason", "must be valid UTF-8")
	case len(r.Reason) > MaxReasonLen:
		fe.add("reason", "must be at most %d bytes", MaxReasonLen)
	case r.Outcome == StatusFailed && r.Reason == "":
		fe.add("reason", "is required when the outcome is %q", StatusFailed)
	}
	if len(fe) == 0 {
		return nil
	}
	return &apperr.Error{Kind: apperr.Invalid, Message: "invalid transcode result", Fields: fe}
}

// CompleteTranscode records a transcoder's outcome: a processing video
// becomes ready, and VideoPublished is emitted in the same transaction, or
// it becomes failed, and nothing is announced. A video that has already
// finished is left as it is, whatever the report says, so a transcoder
// that reports twice (a job redelivered after its report was recorded but
// before it was acknowledged) changes nothing the second time. changed
// tells the two apart. A video deleted meanwhile is NotFound.
func (s *Service) CompleteTranscode(ctx context.Context, r TranscodeResult) (v Video, changed bool, err error) {
	if err := r.validate(); err != nil {
		return Video{}, false, err
	}
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Tx) error {
		cur, err := tx.GetForUpdate(ctx, r.VideoID)
		if err != nil {
			return err
		}
		if cur.Status.Finished() {
			v, changed = cur, false
			return nil
		}
		now := s.timestamp()
		if err := tx.SetStatus(ctx, cur.ID, r.Outcome, now); err != nil {
			return err
		}
		cur.Status, cur.UpdatedAt = r.Outcome, now
		if r.Outcome == StatusReady {
			if err := tx.Emit(ctx, published(cur, now)); err != nil {
				return err
			}
		}
		v, changed = cur, true
		return nil
	})
	if err != nil {
		return Video{}, false, fmt.Errorf("complete transcode of video %s: %w", r.VideoID, err)
	}
	return v, changed, nil
}

// published is the event that announces v to other services, once it is
// playable.
func published(v Video, at time.Time) VideoPublished {
	return VideoPublished{
		VideoID:         v.ID,
		OwnerID:         v.OwnerID,
		Title:           v.Title,
		Kind:            v.Kind,
		DurationSeconds: v.DurationSeconds,
		PublishedAt:     at,
	}
}
