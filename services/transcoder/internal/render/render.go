// Package render stands in for a video encoder: it "produces" each
// rendition of a video by waiting its share of a configured duration, and
// fails an attempt with a configured probability. Each rendition is a span,
// so a trace shows where a job's time went, as it would with a real encoder.
package render

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/transcoder/internal/domain"
)

// Renditions are the outputs of every job, smallest first.
var Renditions = []string{"240p", "480p", "720p", "1080p"}

// ErrSimulated is the failure the simulator injects.
var ErrSimulated = errors.New("simulated encoder failure")

// Options configure a Simulator.
type Options struct {
	// Duration is how long a whole job takes, split evenly between the
	// renditions.
	Duration time.Duration
	// FailureRate is the probability, from 0 to 1, that an attempt fails
	// (at a rendition chosen at random).
	FailureRate float64
	// Seed makes the failures reproducible: the same seed fails the same
	// attempts in the same order. Zero means a random seed.
	Seed uint64
}

// Simulator implements domain.Renderer.
type Simulator struct {
	opts   Options
	tracer trace.Tracer

	mu  sync.Mutex
	rng *rand.Rand
}

var _ domain.Renderer = (*Simulator)(nil)

// New returns a Simulator.
func New(opts Options, p telemetry.Providers) (*Simulator, error) {
	if opts.FailureRate < 0 || opts.FailureRate > 1 {
		return nil, fmt.Errorf("failure rate %v: want a probability from 0 to 1", opts.FailureRate)
	}
	if opts.Duration < 0 {
		return nil, fmt.Errorf("duration %v: want zero or more", opts.Duration)
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64() //nolint:gosec // G404: a simulated failure needs no cryptographic randomness
	}
	return &Simulator{
		opts:   opts,
		tracer: p.OrNoop().Tracer.Tracer("github.com/vidstream/vidstream/services/transcoder/internal/render"),
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), //nolint:gosec // G404: as above
	}, nil
}

// draw decides whether this attempt fails and, if so, at which rendition
// (-1: it does not).
func (s *Simulator) draw() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.FailureRate == 0 || s.rng.Float64() >= s.opts.FailureRate {
		return -1
	}
	return s.rng.IntN(len(Renditions))
}

// Render produces every rendition in turn. It returns ctx's error if ctx
// ends first.
func (s *Simulator) Render(ctx context.Context, job domain.Job) error {
	failAt := s.draw()
	each := s.opts.Duration / time.Duration(len(Renditions))
	for i, name := range Renditions {
		err := s.rendition(ctx, job, name, each, i == failAt)
		if err != nil {
			return fmt.Errorf("render %s: %w", name, err)
		}
	}
	return nil
}

func (s *Simulator) rendition(ctx context.Context, job domain.Job, name string, d time.Duration, fail bool) (err error) {
	ctx, span := s.tracer.Start(ctx, "render "+name, trace.WithAttributes(
		attribute.String("vidstream.video.id", job.VideoID.String()),
		attribute.String("vidstream.rendition", name),
		attribute.Int("vidstream.transcode.attempt", job.Attempt),
	))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	if fail {
		// Fails half-way, as an encoder that crashes on a bad frame would.
		d /= 2
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
	}
	if fail {
		return ErrSimulated
	}
	return nil
}
