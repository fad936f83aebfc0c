package stats_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/loadgen/internal/stats"
)

func TestPercentilesNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := stats.Percentiles(ds)
	want := stats.Latency{P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond, Mean: 50500 * time.Microsecond}
	if got != want {
		t.Errorf("Percentiles = %+v, want %+v", got, want)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("Percentiles sorted its argument")
	}
	if one := stats.Percentiles([]time.Duration{7}); one.P50 != 7 || one.P99 != 7 || one.Max != 7 {
		t.Errorf("one sample: %+v", one)
	}
	if (stats.Percentiles(nil) != stats.Latency{}) {
		t.Error("no samples must give zeros")
	}
}

func TestRecorder(t *testing.T) {
	r := stats.NewRecorder()
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			switch {
			case i < 90:
				r.Record("GET /v1/videos/{id}", 200, nil, time.Duration(i+1)*time.Millisecond)
			case i < 95:
				r.Record("PUT /v1/history/{video_id}", 404, errors.New("PUT /v1/history/{video_id}: 404 Not Found"), time.Millisecond)
			default:
				r.Record("PUT /v1/history/{video_id}", 0, errors.New("connection refused"), time.Second)
			}
		})
	}
	wg.Wait()

	p := r.Interval()
	if p.Requests != 100 || p.Errors != 10 || p.WindowRequests != 100 || p.WindowErrors != 10 {
		t.Errorf("first interval = %+v", p)
	}
	if p = r.Interval(); p.Requests != 100 || p.WindowRequests != 0 {
		t.Errorf("second interval = %+v, want an empty window and the same totals", p)
	}

	tot := r.Totals(10 * time.Second)
	if tot.Requests != 100 || tot.Errors != 10 || tot.Throughput != 10 {
		t.Errorf("totals = %d requests, %d errors, %v/s", tot.Requests, tot.Errors, tot.Throughput)
	}
	if tot.Status["200"] != 90 || tot.Status["404"] != 5 || tot.Status[stats.TransportError] != 5 {
		t.Errorf("status = %v", tot.Status)
	}
	if tot.Latency.Max != 1000 {
		t.Errorf("max latency = %vms, want 1000", tot.Latency.Max)
	}
	if len(tot.Routes) != 2 || tot.Routes[0].Route != "GET /v1/videos/{id}" || tot.Routes[0].Errors != 0 || tot.Routes[1].Errors != 10 {
		t.Errorf("routes = %+v", tot.Routes)
	}
	if tot.Routes[0].Latency.P50 != 45 || tot.Routes[0].Latency.Max != 90 {
		t.Errorf("GET latency = %+v", tot.Routes[0].Latency)
	}
	if len(tot.SampleErrors) != 2 {
		t.Errorf("sample errors = %q, want the two distinct ones", tot.SampleErrors)
	}
}
