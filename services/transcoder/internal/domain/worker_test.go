package domain_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/transcoder/internal/domain"
)

type renderFunc func(context.Context, domain.Job) error

func (f renderFunc) Render(ctx context.Context, j domain.Job) error { return f(ctx, j) }

// reporter records reports and answers with err.
type reporter struct {
	got []domain.Report
	err error
}

func (r *reporter) Report(_ context.Context, rep domain.Report) error {
	r.got = append(r.got, rep)
	return r.err
}

var errEncoder = errors.New("encoder crashed")

func TestWorker(t *testing.T) {
	ok := renderFunc(func(context.Context, domain.Job) error { return nil })
	broken := renderFunc(func(context.Context, domain.Job) error { return errEncoder })
	job := func(attempt int) domain.Job {
		return domain.Job{ID: "job-1", VideoID: uuid.New(), DurationSeconds: 60, Attempt: attempt}
	}

	t.Run("success reports ready", func(t *testing.T) {
		rep := &reporter{}
		j := job(1)
		if err := domain.NewWorker(ok, rep, 3).Handle(t.Context(), j); err != nil {
			t.Fatal(err)
		}
		if len(rep.got) != 1 || rep.got[0] != (domain.Report{VideoID: j.VideoID, JobID: "job-1", Outcome: domain.Ready}) {
			t.Fatalf("reports = %+v", rep.got)
		}
	})
	t.Run("an unrecorded success is retried", func(t *testing.T) {
		rep := &reporter{err: apperr.New(apperr.Unavailable, "video is down")}
		if err := domain.NewWorker(ok, rep, 3).Handle(t.Context(), job(1)); apperr.KindOf(err) != apperr.Unavailable {
			t.Fatalf("want the report's Unavailable error, got %v", err)
		}
	})
	t.Run("a failure before the last attempt reports nothing", func(t *testing.T) {
		rep := &reporter{}
		err := domain.NewWorker(broken, rep, 3).Handle(t.Context(), job(2))
		if !errors.Is(err, errEncoder) || errors.Is(err, domain.ErrGaveUp) || len(rep.got) != 0 {
			t.Fatalf("err %v, reports %+v", err, rep.got)
		}
	})
	t.Run("a failure on the last attempt reports failed", func(t *testing.T) {
		rep := &reporter{}
		j := job(3)
		err := domain.NewWorker(broken, rep, 3).Handle(t.Context(), j)
		if !errors.Is(err, domain.ErrGaveUp) || !errors.Is(err, errEncoder) {
			t.Fatalf("want ErrGaveUp wrapping the encoder's error, got %v", err)
		}
		if len(rep.got) != 1 || rep.got[0].Outcome != domain.Failed || rep.got[0].VideoID != j.VideoID ||
			!strings.Contains(rep.got[0].Reason, "after 3 attempts") || !strings.Contains(rep.got[0].Reason, errEncoder.Error()) {
			t.Fatalf("reports = %+v", rep.got)
		}
	})
	t.Run("a failure that cannot be reported is not given up", func(t *testing.T) {
		rep := &reporter{err: apperr.New(apperr.Unavailable, "video is down")}
		err := domain.NewWorker(broken, rep, 3).Handle(t.Context(), job(3))
		if errors.Is(err, domain.ErrGaveUp) || apperr.KindOf(err) != apperr.Unavailable {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a deleted video ends the job", func(t *testing.T) {
		rep := &reporter{err: apperr.New(apperr.NotFound, "no such video")}
		if err := domain.NewWorker(ok, rep, 3).Handle(t.Context(), job(1)); err != nil {
			t.Fatalf("want the job done, got %v", err)
		}
	})
	t.Run("an interrupted job reports nothing, even on its last attempt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		rep := &reporter{}
		stuck := renderFunc(func(ctx context.Context, _ domain.Job) error { return ctx.Err() })
		err := domain.NewWorker(stuck, rep, 3).Handle(ctx, job(3))
		if !errors.Is(err, context.Canceled) || errors.Is(err, domain.ErrGaveUp) || len(rep.got) != 0 {
			t.Fatalf("err %v, reports %+v", err, rep.got)
		}
	})
	t.Run("a long reason is cut to the video service's bound on a rune boundary", func(t *testing.T) {
		rep := &reporter{}
		long := renderFunc(func(context.Context, domain.Job) error { return errors.New(strings.Repeat("é", 600)) })
		_ = domain.NewWorker(long, rep, 1).Handle(t.Context(), job(1))
		if len(rep.got) != 1 || len(rep.got[0].Reason) > 1000 || !utf8.ValidString(rep.got[0].Reason) {
			t.Fatalf("reason of %d bytes", len(rep.got[0].Reason))
		}
	})
}
