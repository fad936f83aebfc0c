package domain_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/api/events"
	jobsv1 "github.com/vidstream/vidstream/services/api/jobs/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/outbox/outboxtest"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// With transcoding on, a new video waits in processing with exactly one
// transcode job and no announcement; the transcoder's report makes it ready
// (announced in the same transaction) or failed (never announced), once:
// every later report is a no-op.
func TestTranscodeLifecycle(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		ob := outboxtest.NewTable(t, db)
		svc := domain.NewService(store.New(db, ob, store.WithTranscodeQueue(events.TranscodeQueue)), domain.WithTranscoding())
		owner := uuid.New()
		create := func(title string) domain.Video {
			t.Helper()
			v, err := svc.Create(ctx, owner, domain.NewVideo{Title: title, Kind: domain.KindMovie, DurationSeconds: 5400})
			if err != nil {
				t.Fatal(err)
			}
			if v.Status != domain.StatusProcessing {
				t.Fatalf("new video status = %q, want processing", v.Status)
			}
			return v
		}
		// Jobs and events share the outbox; the queue or topic tells
		// them apart.
		byTopic := func(id uuid.UUID, topic string) []string {
			t.Helper()
			var out []string
			for _, e := range ob.Events(t, id) {
				if e.Topic == topic {
					out = append(out, e.Type)
				}
			}
			return out
		}
		complete := func(id uuid.UUID, outcome domain.Status, reason string) (domain.Video, bool) {
			t.Helper()
			v, changed, err := svc.CompleteTranscode(ctx, domain.TranscodeResult{VideoID: id, JobID: "job-" + id.String(), Outcome: outcome, Reason: reason})
			if err != nil {
				t.Fatalf("CompleteTranscode(%s, %s): %v", id, outcome, err)
			}
			return v, changed
		}

		v := create("Metropolis")
		if got := byTopic(v.ID, events.TranscodeQueue); !slices.Equal(got, []string{"TranscodeRequested"}) {
			t.Fatalf("jobs after Create = %q, want one TranscodeRequested", got)
		}
		if got := byTopic(v.ID, events.VideosTopic); len(got) != 0 {
			t.Fatalf("events after Create = %q, want none until the transcode is done", got)
		}
		job := ob.Events(t, v.ID)[0]
		var req jobsv1.TranscodeRequested
		if err := proto.Unmarshal(job.Payload, &req); err != nil {
			t.Fatal(err)
		}
		if req.GetVideoId() != v.ID.String() || req.GetDurationSeconds() != 5400 || req.GetTitle() != "Metropolis" ||
			!req.GetRequestedAt().AsTime().Equal(v.CreatedAt) {
			t.Fatalf("job = %v, want the video's id, duration, title and creation time", &req)
		}
		if ob.Notified() != 1 {
			t.Fatalf("outbox notified %d times after Create, want 1", ob.Notified())
		}

		got, changed := complete(v.ID, domain.StatusReady, "")
		if !changed || got.Status != domain.StatusReady || got.UpdatedAt.Before(v.UpdatedAt) {
			t.Fatalf("READY: changed %v, video %+v", changed, got)
		}
		if got := byTopic(v.ID, events.VideosTopic); !slices.Equal(got, []string{"VideoPublished"}) {
			t.Fatalf("events after READY = %q, want VideoPublished", got)
		}
		// A redelivered job reports again; a late failure report too.
		for _, outcome := range []domain.Status{domain.StatusReady, domain.StatusFailed} {
			again, changed := complete(v.ID, outcome, "late")
			if changed || again.Status != domain.StatusReady {
				t.Fatalf("second report %s: changed %v, status %q", outcome, changed, again.Status)
			}
		}
		if got := byTopic(v.ID, events.VideosTopic); len(got) != 1 {
			t.Fatalf("events after repeated reports = %q, want the one VideoPublished", got)
		}
		if stored, _ := svc.Get(ctx, v.ID); stored.Status != domain.StatusReady {
			t.Fatalf("stored status %q, want ready", stored.Status)
		}

		f := create("Lost reel")
		if got, changed := complete(f.ID, domain.StatusFailed, "decoder gave up"); !changed || got.Status != domain.StatusFailed {
			t.Fatalf("FAILED: changed %v, status %q", changed, got.Status)
		}
		if got, changed := complete(f.ID, domain.StatusReady, ""); changed || got.Status != domain.StatusFailed {
			t.Fatalf("READY after FAILED: changed %v, status %q; a failed video stays failed", changed, got.Status)
		}
		if got := byTopic(f.ID, events.VideosTopic); len(got) != 0 {
			t.Fatalf("a failed video was announced: %q", got)
		}

		if _, _, err := svc.CompleteTranscode(ctx, domain.TranscodeResult{VideoID: uuid.New(), JobID: "j", Outcome: domain.StatusReady}); apperr.KindOf(err) != apperr.NotFound {
			t.Fatalf("unknown video: want NotFound, got %v", err)
		}
		p := create("Pending")
		for name, tc := range map[string]struct {
			r    domain.TranscodeResult
			want string
		}{
			"no outcome":         {domain.TranscodeResult{JobID: "j"}, "outcome"},
			"processing outcome": {domain.TranscodeResult{JobID: "j", Outcome: domain.StatusProcessing}, "outcome"},
			"failed, no reason":  {domain.TranscodeResult{JobID: "j", Outcome: domain.StatusFailed}, "reason"},
			"no job id":          {domain.TranscodeResult{Outcome: domain.StatusReady}, "job_id"},
			"reason too long":    {domain.TranscodeResult{JobID: "j", Outcome: domain.StatusFailed, Reason: strings.Repeat("x", domain.MaxReasonLen+1)}, "reason"},
			"reason not UTF-8":   {domain.TranscodeResult{JobID: "j", Outcome: domain.StatusFailed, Reason: "\xff"}, "reason"},
			"job id too long":    {domain.TranscodeResult{JobID: strings.Repeat("j", domain.MaxJobIDLen+1), Outcome: domain.StatusReady}, "job_id"},
		} {
			tc.r.VideoID = p.ID
			_, _, err := svc.CompleteTranscode(ctx, tc.r)
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.Invalid || len(e.Fields) != 1 || e.Fields[0].Field != tc.want {
				t.Errorf("%s: want Invalid on %s, got %v", name, tc.want, err)
			}
		}
		if stored, _ := svc.Get(ctx, p.ID); stored.Status != domain.StatusProcessing {
			t.Fatalf("rejected reports changed the video: %q", stored.Status)
		}
	})
}

// Transcoding on without a job queue behind the store is a wiring error:
// creating a video fails and leaves nothing behind, rather than leaving a
// video processing forever.
func TestTranscodeWithoutQueue(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ob := outboxtest.NewTable(t, db)
		svc := domain.NewService(store.New(db, ob), domain.WithTranscoding())
		_, err := svc.Create(t.Context(), uuid.New(), domain.NewVideo{Title: "Orphan", Kind: domain.KindMovie, DurationSeconds: 60})
		if err == nil {
			t.Fatal("Create succeeded without a job queue")
		}
		page, err := svc.List(t.Context(), domain.ListQuery{})
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("videos after a failed Create: %v %v", page.Items, err)
		}
	})
}
