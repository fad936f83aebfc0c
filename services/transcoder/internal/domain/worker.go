// Package domain is the transcoder's one use case: work a transcode job
// off and tell the video service how it ended. It knows nothing of AMQP or
// gRPC: a Renderer does the work, a Reporter carries the outcome, and the
// adapter around it decides what an error means for the message.
package domain

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

// Job is one transcode request, as delivered.
type Job struct {
	// ID is the job's identity across retries and redeliveries (its
	// message id); the video service sees it with the report.
	ID              string
	VideoID         uuid.UUID
	DurationSeconds int
	Title           string
	// Attempt is which attempt this delivery is, from 1.
	Attempt int
}

// Outcome is how a job ended.
type Outcome int

const (
	// Ready: every rendition was produced.
	Ready Outcome = iota + 1
	// Failed: the job failed on its last attempt.
	Failed
)

func (o Outcome) String() string {
	switch o {
	case Ready:
		return "ready"
	case Failed:
		return "failed"
	default:
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
}

// Report is what the video service is told about a job.
type Report struct {
	VideoID uuid.UUID
	JobID   string
	Outcome Outcome
	// Reason says why a job failed.
	Reason string
}

// Renderer produces a video's renditions.
type Renderer interface {
	Render(ctx context.Context, job Job) error
}

// Reporter records a job's outcome with the owner of the video. It must be
// idempotent (a redelivered job reports again) and return an apperr
// NotFound error when the video no longer exists.
type Reporter interface {
	Report(ctx context.Context, r Report) error
}

// Worker handles transcode jobs.
type Worker struct {
	render      Renderer
	report      Reporter
	maxAttempts int
}

// NewWorker returns a Worker. maxAttempts is the attempt after which the
// queue gives a job up; the Worker reports a failure to the video service
// on that attempt only, so the video never stays processing for good and
// is never failed while a retry could still succeed.
func NewWorker(r Renderer, rep Reporter, maxAttempts int) *Worker {
	return &Worker{render: r, report: rep, maxAttempts: max(maxAttempts, 1)}
}

// ErrGaveUp marks the error of a job's last attempt, after which its
// failure has been reported to the video service and the job goes to the
// dead-letter queue.
var ErrGaveUp = errors.New("transcode failed on its last attempt")

// Handle works one job off. It returns nil once the video service has
// recorded the outcome (or the video is gone), so the job may be
// acknowledged; any error leaves the job to the queue's retries. A
// failure the video service has been told of, on the last attempt, wraps
// ErrGaveUp.
func (w *Worker) Handle(ctx context.Context, job Job) error {
	err := w.render.Render(ctx, job)
	switch {
	case err == nil:
		return w.send(ctx, Report{VideoID: job.VideoID, JobID: job.ID, Outcome: Ready})
	case ctx.Err() != nil:
		// Cut short (a forced shutdown), not a transcode failure: the job
		// is redelivered and nothing is reported.
		return fmt.Errorf("transcode of video %s interrupted: %w", job.VideoID, err)
	case job.Attempt < w.maxAttempts:
		return fmt.Errorf("transcode of video %s, attempt %d of %d: %w", job.VideoID, job.Attempt, w.maxAttempts, err)
	}
	reason := fmt.Sprintf("gave up after %d attempts: %v", job.Attempt, err)
	if rerr := w.send(ctx, Report{VideoID: job.VideoID, JobID: job.ID, Outcome: Failed, Reason: truncate(reason, maxReason)}); rerr != nil {
		return fmt.Errorf("transcode of video %s failed (%w) and the failure could not be reported: %w", job.VideoID, err, rerr)
	}
	return fmt.Errorf("%w: video %s: %w", ErrGaveUp, job.VideoID, err)
}

// send reports r; a video deleted while its job waited is nothing to
// report to, and the job is done.
func (w *Worker) send(ctx context.Context, r Report) error {
	err := w.report.Report(ctx, r)
	if apperr.KindOf(err) == apperr.NotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("report %s for video %s: %w", r.Outcome, r.VideoID, err)
	}
	return nil
}

// maxReason is the video service's bound on a failure reason.
const maxReason = 1000

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the reason stays valid UTF-8.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
