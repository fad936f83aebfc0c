package benchtable_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vidstream/vidstream/services/loadgen/internal/benchtable"
)

const sample = `goos: linux
cpu: AMD EPYC
BenchmarkPutProgress/db=sqlite/path=bare/load=saturation-2   5000   2000 ns/op   4000 req/s   180 allocs/op
BenchmarkPutProgress/db=sqlite/path=bare/load=saturation-2   5000   2000 ns/op   5000 req/s   182 allocs/op
BenchmarkPutProgress/db=sqlite/path=bare/load=saturation-2   5000   2000 ns/op   6000 req/s   184 allocs/op
BenchmarkPutProgress/db=sqlite/path=service/load=saturation-2   5000   9000 ns/op   1000 req/s   1500 allocs/op
BenchmarkPutProgress/db=sqlite/path=traced/load=saturation-2   5000   9000 ns/op   950 req/s   1900 allocs/op
BenchmarkEventLatency/db=sqlite/events=1000/s-2   20000   1000 ns/op   40 event-p50-ms   150 event-p99-ms
BenchmarkProcesses/svc=user-2   1   1000 ns/op   30 ready-ms   29.5 rss-idle-MiB   50 rss-load-MiB
BenchmarkProcesses/svc=bare-2   1   1000 ns/op   15 ready-ms   19 rss-idle-MiB   25 rss-load-MiB
PASS
`

func TestMedianAndRatios(t *testing.T) {
	res, err := benchtable.Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if m, n := res.Median("BenchmarkPutProgress/db=sqlite/path=bare/load=saturation", "req/s"); m != 5000 || n != 3 {
		t.Errorf("median = %v of %d, want 5000 of 3", m, n)
	}
	if res.Config["cpu"] != "AMD EPYC" {
		t.Errorf("config = %v", res.Config)
	}
	rows := map[string]benchtable.Row{}
	for _, r := range res.Rows() {
		rows[r.Scenario] = r
	}
	for scenario, want := range map[string]benchtable.Row{
		// 1000 / 5000 misses 0.5; 950 / 1000 meets 0.9.
		"1. PUT full path vs bare handler, saturation (sqlite)": {Measured: "1000 req/s (n=1)", Baseline: "5000 req/s (n=3)", Ratio: "0.200", Target: "≥ 0.50", Met: "NO"},
		"2. PUT traced vs tracing off, saturation (sqlite)":     {Measured: "950 req/s (n=1)", Baseline: "1000 req/s (n=1)", Ratio: "0.950", Target: "≥ 0.90", Met: "yes"},
		"4. event commit→view counted, p99 (sqlite)":            {Measured: "150 event-p99-ms (n=1)", Baseline: "-", Ratio: "-", Target: "≤ 100 event-p99-ms", Met: "NO"},
		"6. user RSS idle":       {Measured: "29.5 rss-idle-MiB (n=1)", Baseline: "19.0 rss-idle-MiB (n=1)", Ratio: "-", Target: "≤ 40.0 rss-idle-MiB", Met: "yes"},
		"6. user start to ready": {Measured: "30.0 ready-ms (n=1)", Baseline: "15.0 ready-ms (n=1)", Ratio: "2.000", Target: "-"},
	} {
		want.Scenario = scenario
		if got := rows[scenario]; got != want {
			t.Errorf("row %q:\n got %+v\nwant %+v", scenario, got, want)
		}
	}
	for scenario := range rows {
		if strings.Contains(scenario, "GetVideo") || strings.Contains(scenario, "relay") {
			t.Errorf("row %q for a scenario not in the input", scenario)
		}
	}
	var out bytes.Buffer
	if err := benchtable.Write(&out, res.Rows()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "SCENARIO") || strings.Count(out.String(), "\n") != len(rows)+1 {
		t.Errorf("table:\n%s", out.String())
	}
}
