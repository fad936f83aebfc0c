package bench

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/loadgen/internal/loadmodel"
	"github.com/vidstream/vidstream/services/loadgen/internal/stats"
)

// saturationWorkers is the closed model's concurrency when it looks for a
// path's throughput limit: enough requests in flight that neither the
// database nor the CPUs wait for the client (raising it further changes
// the figures by less than their noise on two cores).
const saturationWorkers = 32

// maxErrorRate is the share of failed requests above which a run is
// reported as failed rather than measured: a path that errors is not the
// path being measured.
const maxErrorRate = 0.01

// outcome counts a run's failures and keeps one for the report.
type outcome struct {
	errors atomic.Int64
	mu     sync.Mutex
	first  error
}

func (o *outcome) record(err error) {
	if err == nil {
		return
	}
	o.errors.Add(1)
	o.mu.Lock()
	if o.first == nil {
		o.first = err
	}
	o.mu.Unlock()
}

func (o *outcome) check(b *testing.B, n int) {
	b.Helper()
	if errs := o.errors.Load(); float64(errs) > maxErrorRate*float64(n) {
		b.Fatalf("%d of %d requests failed, first: %v", errs, n, o.first)
	}
}

// saturate sends b.N requests from saturationWorkers loops (closed model)
// and reports the throughput in unit ("req/s"). It returns that
// throughput.
func saturate(b *testing.B, unit string, do func(context.Context) error) float64 {
	b.Helper()
	b.ReportAllocs()
	var (
		sent atomic.Int64
		out  outcome
	)
	b.ResetTimer()
	loadmodel.Closed(b.Context(), saturationWorkers, time.Hour, func(ctx context.Context, _ time.Time) bool {
		if sent.Add(1) > int64(b.N) {
			return false
		}
		out.record(do(ctx))
		return true
	})
	b.StopTimer()
	out.check(b, b.N)
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, unit)
	return rate
}

// openLoad sends b.N requests at rate a second (open model: on schedule,
// whether or not earlier ones are answered) and reports latency from each
// request's scheduled time: p50-ms and p99-ms, and the rate offered.
func openLoad(b *testing.B, rate float64, do func(context.Context) error) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	l := openRun(b, rate, b.N, do)
	b.StopTimer()
	b.ReportMetric(rate, "offered-req/s")
	b.ReportMetric(ms(l.P50), "p50-ms")
	b.ReportMetric(ms(l.P99), "p99-ms")
}

// openRun sends n requests at rate a second and returns their latencies,
// failing b if more than maxErrorRate of them failed or were dropped.
func openRun(b *testing.B, rate float64, n int, do func(context.Context) error) stats.Latency {
	b.Helper()
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, n)
		out       outcome
	)
	dropped, wait := loadmodel.Open(b.Context(), loadmodel.RealClock{}, rate,
		time.Duration(n)*loadmodel.Interval(rate), 4096,
		func(ctx context.Context, at time.Time) {
			err := do(ctx)
			d := time.Since(at)
			out.record(err)
			mu.Lock()
			latencies = append(latencies, d)
			mu.Unlock()
		})
	wait()
	out.check(b, n)
	if float64(dropped) > maxErrorRate*float64(n) {
		b.Fatalf("%d of %d sends dropped: the path cannot keep up with %.0f req/s", dropped, n, rate)
	}
	return stats.Percentiles(latencies)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// saturation remembers each path's measured throughputs, by the name of
// the benchmark above its "load=" level, for its half-load run.
var saturation = struct {
	sync.Mutex
	rates map[string][]float64
}{rates: map[string][]float64{}}

func parentName(b *testing.B) string {
	name := b.Name()
	return name[:strings.LastIndex(name, "/")]
}

func rememberSaturation(b *testing.B, rate float64) {
	saturation.Lock()
	defer saturation.Unlock()
	saturation.rates[parentName(b)] = append(saturation.rates[parentName(b)], rate)
}

// halfRate is half the median of the path's saturation runs in this
// process; with none (the half-load run picked alone with -bench), it
// measures saturation first, for a few seconds, untimed.
func halfRate(b *testing.B, do func(context.Context) error) float64 {
	b.Helper()
	saturation.Lock()
	rates := slices.Clone(saturation.rates[parentName(b)])
	saturation.Unlock()
	if len(rates) == 0 {
		var n atomic.Int64
		start := time.Now()
		loadmodel.Closed(b.Context(), saturationWorkers, 3*time.Second, func(ctx context.Context, _ time.Time) bool {
			if do(ctx) == nil {
				n.Add(1)
			}
			return true
		})
		rates = []float64{float64(n.Load()) / time.Since(start).Seconds()}
	}
	slices.Sort(rates)
	return rates[len(rates)/2] / 2
}
