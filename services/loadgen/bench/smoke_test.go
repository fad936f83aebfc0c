package bench

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vidstream/vidstream/services/loadgen/internal/benchtable"
)

// TestScenarios runs every benchmark of this package once, with one
// iteration each and the process benchmark's phases shortened (-short),
// in a child process of this test binary, and checks that each reported
// the figures `make bench` tabulates. The benchmarks fail on their own
// when a request fails, an event's view is never counted or a process
// does not start, so this also checks that they measure a working
// system. Nothing here is timed.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system several times and builds the service binaries")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0],
		"-test.run=^$", "-test.bench=.", "-test.benchtime=1x", "-test.short")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("benchmarks: %v\n%s", err, out.String())
	}
	res, err := benchtable.Parse(&out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"BenchmarkPutProgress/db=sqlite/path=bare/load=saturation":    {"req/s", "allocs/op"},
		"BenchmarkPutProgress/db=sqlite/path=service/load=saturation": {"req/s", "allocs/op"},
		"BenchmarkPutProgress/db=sqlite/path=traced/load=saturation":  {"req/s", "allocs/op"},
		"BenchmarkPutProgress/db=sqlite/path=bare/load=half":          {"p50-ms", "p99-ms"},
		"BenchmarkPutProgress/db=sqlite/path=service/load=half":       {"p50-ms", "p99-ms"},
		"BenchmarkPutProgress/db=sqlite/path=traced/load=half":        {"p50-ms", "p99-ms"},
		"BenchmarkGetVideo/db=sqlite/path=bare":                       {"calls/s"},
		"BenchmarkGetVideo/db=sqlite/path=bare-db":                    {"calls/s"},
		"BenchmarkGetVideo/db=sqlite/path=service":                    {"calls/s"},
		"BenchmarkGetVideo/db=sqlite/path=service-cached":             {"calls/s"},
		"BenchmarkEventLatency/db=sqlite/events=1000/s":               {"event-p50-ms", "event-p99-ms", "sampled"},
	}
	for _, svc := range []string{"bare", "user", "video", "watch-history"} {
		want["BenchmarkProcesses/svc="+svc] = []string{"ready-ms", "rss-idle-MiB", "rss-load-MiB"}
	}
	for name, units := range want {
		for _, unit := range units {
			v, n := res.Median(name, unit)
			if n == 0 || v <= 0 {
				t.Errorf("%s: no positive %s (got %v from %d results)", name, unit, v, n)
			}
		}
	}
	if t.Failed() {
		t.Logf("benchmark output:\n%s", out.String())
	}
	for _, r := range res.Rows() {
		if strings.HasPrefix(r.Measured, "-") {
			t.Errorf("table row %q has no figure", r.Scenario)
		}
	}
}
