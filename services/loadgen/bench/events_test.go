package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/loadgen/internal/stats"
	videoapp "github.com/vidstream/vidstream/services/video/app"
	historyapp "github.com/vidstream/vidstream/services/watch-history/app"
)

const (
	// eventRate is the events a second the event benchmark publishes.
	// Each progress report that completes a video for the first time
	// publishes two, WatchProgressed then VideoWatched (which the view
	// counter counts), so reports are sent at half this rate.
	eventRate       = 1000
	eventsPerReport = 2
	// eventUsers is how many users report; each report completes a new
	// (user, video) pair, so every one yields a view.
	eventUsers = 50
	// sampleEvery: one report in this many is traced (it carries a
	// sampled traceparent; the services sample nothing else), and its
	// event's latency taken from its spans.
	sampleEvery = 5
	// effectTimeout bounds the wait for the last sampled view to be
	// counted after the load ends.
	effectTimeout = 60 * time.Second
)

// BenchmarkEventLatency measures how long an event takes from the
// progress report's commit to its effect in another service: the
// transaction that stores the entry and its events in watch history's
// outbox commits, the relay publishes them, the broker delivers them, and
// the video service's view counter commits the view (from then on GET
// /v1/videos/{id} shows it). b.N events are published at eventRate a
// second (open model); one report in sampleEvery is traced, and for
// those the latency is the end of the view counter's "process" span of
// VideoWatched minus the end of watch history's COMMIT span, read from
// span processors in this process: event-p50-ms, event-p99-ms. The
// reports' own latency is put-p99-ms.
//
// Tracing is otherwise off (ParentBased(NeverSample)), so the sampled
// fifth pays for its spans and the rest do not.
//
//	go test ./services/loadgen/bench -run '^$' -bench EventLatency -benchtime 20000x
func BenchmarkEventLatency(b *testing.B) {
	for _, d := range dialects() {
		b.Run("db="+d.String(), func(b *testing.B) {
			commits := newSpanEnds("COMMIT")
			effects := newSpanEnds("process vidstream.watch.v1")
			sys := startSystem(b, systemConfig{db: d, telemetry: func(tb testing.TB, service string) telemetry.Providers {
				p := providers(tb, service, tracingOff)
				opts := []sdktrace.TracerProviderOption{sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample()))}
				switch service {
				case historyapp.ServiceName:
					opts = append(opts, sdktrace.WithSpanProcessor(commits))
				case videoapp.ServiceName:
					opts = append(opts, sdktrace.WithSpanProcessor(effects))
				}
				tp := sdktrace.NewTracerProvider(opts...)
				tb.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
				p.Tracer = tp
				return p
			}})
			fx := newFixture(b, sys.client, eventUsers, 0)
			var next atomic.Int64 // the next (user, video) pair

			b.Run(fmt.Sprintf("events=%d/s", eventRate), func(b *testing.B) {
				reports := max(1, b.N/eventsPerReport)
				first := int(next.Load())
				if need := (first+reports)/eventUsers + 1 - len(fx.videos); need > 0 {
					fx.addVideos(b, sys.client, need)
				}
				var (
					mu      sync.Mutex
					sampled []trace.TraceID
				)
				report := func(ctx context.Context) error {
					i := int(next.Add(1) - 1)
					u, v := i%eventUsers, fx.videos[i/eventUsers]
					var tid trace.TraceID
					if i%sampleEvery == 0 {
						var tp string
						tid, tp = newTraceparent()
						ctx = withTraceparent(ctx, tp)
					}
					_, err := sys.client.PutProgress(ctx, fx.tokens[u], v.id, v.duration)
					// A failed report (counted by openRun) published
					// nothing: there is no view to wait for.
					if err == nil && tid.IsValid() {
						mu.Lock()
						sampled = append(sampled, tid)
						mu.Unlock()
					}
					return err
				}

				b.ReportAllocs()
				b.ResetTimer()
				puts := openRun(b, eventRate/eventsPerReport, reports, report)
				// Every sampled report has two events, each processed
				// in its own "process" span; the view is counted in
				// the second (VideoWatched follows WatchProgressed on
				// the user's partition).
				err := poll(b.Context(), effectTimeout, 5*time.Millisecond, func(context.Context) error {
					if n := effects.complete(sampled, eventsPerReport); n < len(sampled) {
						return fmt.Errorf("%d of %d sampled views counted", n, len(sampled))
					}
					return nil
				})
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				var latencies []time.Duration
				for _, tid := range sampled {
					c, e := commits.get(tid), effects.get(tid)
					if len(c) == 0 {
						b.Fatalf("trace %s: no COMMIT span in watch history", tid)
					}
					latencies = append(latencies, slices.MaxFunc(e, time.Time.Compare).Sub(slices.MinFunc(c, time.Time.Compare)))
				}
				l := stats.Percentiles(latencies)
				b.ReportMetric(ms(l.P50), "event-p50-ms")
				b.ReportMetric(ms(l.P99), "event-p99-ms")
				b.ReportMetric(ms(puts.P99), "put-p99-ms")
				b.ReportMetric(float64(len(latencies)), "sampled")
			})
		})
	}
}

// newTraceparent returns a new trace id and a W3C traceparent header
// naming it, sampled.
func newTraceparent() (trace.TraceID, string) {
	var tid trace.TraceID
	var sid trace.SpanID
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	return tid, "00-" + hex.EncodeToString(tid[:]) + "-" + hex.EncodeToString(sid[:]) + "-01"
}

// spanEnds is a span processor remembering when the spans of one name
// ended, by trace.
type spanEnds struct {
	name string
	mu   sync.Mutex
	ends map[trace.TraceID][]time.Time
}

var _ sdktrace.SpanProcessor = (*spanEnds)(nil)

func newSpanEnds(name string) *spanEnds {
	return &spanEnds{name: name, ends: map[trace.TraceID][]time.Time{}}
}

func (s *spanEnds) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (s *spanEnds) OnEnd(span sdktrace.ReadOnlySpan) {
	if span.Name() != s.name {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tid := span.SpanContext().TraceID()
	s.ends[tid] = append(s.ends[tid], span.EndTime())
}

func (s *spanEnds) Shutdown(context.Context) error   { return nil }
func (s *spanEnds) ForceFlush(context.Context) error { return nil }

func (s *spanEnds) get(tid trace.TraceID) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ends[tid])
}

// complete counts the traces among tids with at least n spans ended.
func (s *spanEnds) complete(tids []trace.TraceID, n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := 0
	for _, tid := range tids {
		if len(s.ends[tid]) >= n {
			c++
		}
	}
	return c
}
