package render_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
	"github.com/vidstream/vidstream/services/transcoder/internal/domain"
	"github.com/vidstream/vidstream/services/transcoder/internal/render"
)

func job() domain.Job {
	return domain.Job{ID: "j", VideoID: uuid.New(), DurationSeconds: 60, Attempt: 1}
}

// outcomes renders n jobs and returns which of them failed.
func outcomes(t *testing.T, opts render.Options, n int) []bool {
	t.Helper()
	s, err := render.New(opts, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]bool, n)
	for i := range out {
		err := s.Render(t.Context(), job())
		if err != nil && !errors.Is(err, render.ErrSimulated) {
			t.Fatalf("render: %v", err)
		}
		out[i] = err != nil
	}
	return out
}

func TestFailureRate(t *testing.T) {
	if got := outcomes(t, render.Options{FailureRate: 0}, 50); slices.Contains(got, true) {
		t.Fatal("rate 0 failed a job")
	}
	if got := outcomes(t, render.Options{FailureRate: 1}, 50); slices.Contains(got, false) {
		t.Fatal("rate 1 let a job succeed")
	}
	// One seed, one sequence of failures: a test can rely on which
	// attempts fail.
	a := outcomes(t, render.Options{FailureRate: 0.5, Seed: 42}, 64)
	b := outcomes(t, render.Options{FailureRate: 0.5, Seed: 42}, 64)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed gave different failures")
	}
	if !slices.Contains(a, true) || !slices.Contains(a, false) {
		t.Fatalf("rate 0.5 over 64 jobs gave %v", a)
	}
	for _, bad := range []float64{-0.1, 1.1} {
		if _, err := render.New(render.Options{FailureRate: bad}, telemetry.Noop()); err == nil {
			t.Errorf("failure rate %v accepted", bad)
		}
	}
}

// Each rendition is a span, the failing one marked as an error, and the
// job stops at it.
func TestRenditionSpans(t *testing.T) {
	p, rec := telemetrytest.New(t)
	s, err := render.New(render.Options{FailureRate: 1, Seed: 7}, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Render(t.Context(), job()); !errors.Is(err, render.ErrSimulated) {
		t.Fatalf("want the simulated failure, got %v", err)
	}
	spans := rec.Ended()
	if len(spans) == 0 || len(spans) > len(render.Renditions) {
		t.Fatalf("%d spans", len(spans))
	}
	for i, sp := range spans {
		if sp.Name() != "render "+render.Renditions[i] {
			t.Errorf("span %d is %q", i, sp.Name())
		}
	}
	if last := spans[len(spans)-1]; last.Status().Code.String() != "Error" {
		t.Errorf("failing rendition's span status %v", last.Status())
	}
}
