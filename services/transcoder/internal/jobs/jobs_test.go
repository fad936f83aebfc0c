package jobs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/api/events"
	jobsv1 "github.com/vidstream/vidstream/services/api/jobs/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/workqueue"
	"github.com/vidstream/vidstream/services/transcoder/internal/domain"
	"github.com/vidstream/vidstream/services/transcoder/internal/jobs"
)

type renderFunc func(context.Context, domain.Job) error

func (f renderFunc) Render(ctx context.Context, j domain.Job) error { return f(ctx, j) }

type reporter struct {
	got []domain.Report
	err error
}

func (r *reporter) Report(_ context.Context, rep domain.Report) error {
	r.got = append(r.got, rep)
	return r.err
}

func message(t *testing.T, typ string, body proto.Message, attempt int) workqueue.Message {
	t.Helper()
	b, err := proto.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return workqueue.Message{Queue: "vidstream.transcode", ID: "job-1", Type: typ, Body: b, Attempt: attempt}
}

func TestHandler(t *testing.T) {
	videoID := uuid.New()
	ok := renderFunc(func(context.Context, domain.Job) error { return nil })
	var seen domain.Job
	spy := renderFunc(func(_ context.Context, j domain.Job) error { seen = j; return nil })
	log := telemetry.Noop().Log()
	job := &jobsv1.TranscodeRequested{VideoId: videoID.String(), DurationSeconds: 90, Title: "Reel"}

	if got := jobs.TranscodeRequestedType(events.TranscodeQueue); got != "vidstream.transcode.TranscodeRequested" {
		t.Fatalf("the contract's job type is %q", got)
	}
	t.Run("a job is decoded and reported", func(t *testing.T) {
		rep := &reporter{}
		h := jobs.Handler(domain.NewWorker(spy, rep, 5), log)
		if err := h(t.Context(), message(t, jobs.TranscodeRequestedType("vidstream.transcode"), job, 2)); err != nil {
			t.Fatal(err)
		}
		if seen.VideoID != videoID || seen.ID != "job-1" || seen.DurationSeconds != 90 || seen.Title != "Reel" || seen.Attempt != 2 {
			t.Fatalf("job = %+v", seen)
		}
		if len(rep.got) != 1 || rep.got[0].Outcome != domain.Ready {
			t.Fatalf("reports = %+v", rep.got)
		}
	})
	for name, m := range map[string]workqueue.Message{
		"another type":      message(t, "vidstream.transcode.SomethingElse", job, 1),
		"undecodable body":  {ID: "j", Type: jobs.TranscodeRequestedType("vidstream.transcode"), Body: []byte{0xff, 0xff}},
		"malformed videoid": message(t, jobs.TranscodeRequestedType("vidstream.transcode"), &jobsv1.TranscodeRequested{VideoId: "nope"}, 1),
	} {
		t.Run(name+" is dead-lettered at once", func(t *testing.T) {
			rep := &reporter{}
			err := jobs.Handler(domain.NewWorker(ok, rep, 5), log)(t.Context(), m)
			if !workqueue.IsPermanent(err) || len(rep.got) != 0 {
				t.Fatalf("err %v (permanent %t), reports %+v", err, workqueue.IsPermanent(err), rep.got)
			}
		})
	}
	t.Run("a report refused as malformed is dead-lettered at once", func(t *testing.T) {
		rep := &reporter{err: apperr.InvalidField("reason", "too long")}
		err := jobs.Handler(domain.NewWorker(ok, rep, 5), log)(t.Context(), message(t, jobs.TranscodeRequestedType("vidstream.transcode"), job, 1))
		if !workqueue.IsPermanent(err) {
			t.Fatalf("want a permanent error, got %v", err)
		}
	})
	t.Run("video unavailable is retried", func(t *testing.T) {
		rep := &reporter{err: apperr.New(apperr.Unavailable, "down")}
		err := jobs.Handler(domain.NewWorker(ok, rep, 5), log)(t.Context(), message(t, jobs.TranscodeRequestedType("vidstream.transcode"), job, 1))
		if err == nil || workqueue.IsPermanent(err) {
			t.Fatalf("want a retryable error, got %v", err)
		}
	})
	t.Run("the last failed attempt goes to the DLQ, the video told", func(t *testing.T) {
		rep := &reporter{}
		broken := renderFunc(func(context.Context, domain.Job) error { return errors.New("bad frame") })
		err := jobs.Handler(domain.NewWorker(broken, rep, 3), log)(t.Context(), message(t, jobs.TranscodeRequestedType("vidstream.transcode"), job, 3))
		if !errors.Is(err, domain.ErrGaveUp) || len(rep.got) != 1 || rep.got[0].Outcome != domain.Failed {
			t.Fatalf("err %v, reports %+v", err, rep.got)
		}
	})
}
