// Package benchtable reads Go benchmark output (the format benchstat
// reads) and writes the table of `make bench`: each figure of the system
// benchmarks next to its baseline from the same run, the ratio, and the
// target it is held to. Figures are medians over every run in the input.
package benchtable

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Results are the values of every benchmark in an input, by name (without
// the -GOMAXPROCS suffix) and unit.
type Results struct {
	values map[string]map[string][]float64
	// Config holds the header lines (goos, goarch, cpu, pkg) last seen.
	Config map[string]string
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// Parse reads benchmark output; lines that are not results are skipped,
// except the key: value configuration lines.
func Parse(r io.Reader) (*Results, error) {
	res := &Results{values: map[string]map[string][]float64{}, Config: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, ": "); ok && !strings.Contains(k, " ") && !strings.HasPrefix(k, "Benchmark") {
			res.Config[k] = strings.TrimSpace(v)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procsSuffix.ReplaceAllString(f[0], "")
		units := res.values[name]
		if units == nil {
			units = map[string][]float64{}
			res.values[name] = units
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchtable: %s: value %q: %w", name, f[i], err)
			}
			units[f[i+1]] = append(units[f[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("benchtable: %w", err)
	}
	return res, nil
}

// Median returns the median of a benchmark's values in unit and how many
// there were; n is 0 when there are none.
func (r *Results) Median(name, unit string) (median float64, n int) {
	vs := slices.Clone(r.values[name][unit])
	if len(vs) == 0 {
		return 0, 0
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], len(vs)
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, len(vs)
}

// Has reports whether any result names a benchmark starting with prefix.
func (r *Results) Has(prefix string) bool {
	for name := range r.values {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// Row is one line of the table.
type Row struct {
	Scenario string
	Measured string
	Baseline string
	Ratio    string
	Target   string
	// Met is "yes", "NO" or "" (no target, or nothing measured).
	Met string
}

// figure is a benchmark's median in unit, formatted, or "-".
func (r *Results) figure(name, unit string) (float64, string, bool) {
	v, n := r.Median(name, unit)
	if n == 0 {
		return 0, "-", false
	}
	return v, fmt.Sprintf("%s %s (n=%d)", format(v), unit, n), true
}

func format(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// compare is a row with a ratio: subject over baseline, held to a minimum
// ratio when atLeast > 0.
func (r *Results) compare(scenario, subject, baseline, unit string, atLeast float64) Row {
	s, sf, sok := r.figure(subject, unit)
	b, bf, bok := r.figure(baseline, unit)
	row := Row{Scenario: scenario, Measured: sf, Baseline: bf, Ratio: "-", Target: "-"}
	if atLeast > 0 {
		row.Target = "≥ " + format(atLeast)
	}
	if sok && bok && b != 0 {
		ratio := s / b
		// Three decimals, so that a ratio just under its target
		// (0.897 against 0.9) does not print as meeting it.
		row.Ratio = strconv.FormatFloat(ratio, 'f', 3, 64)
		if atLeast > 0 {
			row.Met = met(ratio >= atLeast)
		}
	}
	return row
}

// limit is a row without a baseline, held to a maximum value.
func (r *Results) limit(scenario, name, unit string, maxValue float64) Row {
	v, f, ok := r.figure(name, unit)
	row := Row{Scenario: scenario, Measured: f, Baseline: "-", Ratio: "-", Target: "-"}
	if maxValue > 0 {
		row.Target = "≤ " + format(maxValue) + " " + unit
		if ok {
			row.Met = met(v <= maxValue)
		}
	}
	return row
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// Rows builds the table of the scenarios found in r.
func (r *Results) Rows() []Row {
	var rows []Row
	for _, db := range []string{"sqlite", "postgres"} {
		put := "BenchmarkPutProgress/db=" + db + "/path="
		if r.Has(put) {
			rows = append(rows,
				r.compare("1. PUT full path vs bare handler, saturation ("+db+")", put+"service/load=saturation", put+"bare/load=saturation", "req/s", 0.5),
				r.compare("1. PUT p99 at half saturation, service vs bare ("+db+")", put+"service/load=half", put+"bare/load=half", "p99-ms", 0),
				r.compare("2. PUT traced vs tracing off, saturation ("+db+")", put+"traced/load=saturation", put+"service/load=saturation", "req/s", 0.9),
				r.compare("2. PUT allocs/request, traced vs off ("+db+")", put+"traced/load=saturation", put+"service/load=saturation", "allocs/op", 0),
			)
		}
		relay := "BenchmarkRelay/" + db
		if r.Has(relay) {
			rows = append(rows, r.compare("3. outbox relay vs bare kafka-go writer ("+db+")", relay, "BenchmarkBareWriter", "events/s", 0.5))
		}
		ev := "BenchmarkEventLatency/db=" + db + "/events=1000/s"
		if r.Has(ev) {
			rows = append(rows,
				r.limit("4. event commit→view counted, p50 ("+db+")", ev, "event-p50-ms", 0),
				r.limit("4. event commit→view counted, p99 ("+db+")", ev, "event-p99-ms", 100),
			)
		}
		grpc := "BenchmarkGetVideo/db=" + db + "/path="
		if r.Has(grpc) {
			rows = append(rows,
				r.compare("5. gRPC GetVideo via service vs bare grpc-go ("+db+")", grpc+"service", grpc+"bare", "calls/s", 0.8),
				r.compare("5. gRPC GetVideo via service vs bare grpc-go + one SELECT ("+db+")", grpc+"service", grpc+"bare-db", "calls/s", 0),
				r.compare("5. gRPC GetVideo from the read cache vs from the database ("+db+")", grpc+"service-cached", grpc+"service", "calls/s", 0),
			)
		}
	}
	if r.Has("BenchmarkProcesses/") {
		for _, svc := range []string{"user", "video", "watch-history"} {
			name := "BenchmarkProcesses/svc=" + svc
			idle := r.limit("6. "+svc+" RSS idle", name, "rss-idle-MiB", 40)
			_, idle.Baseline, _ = r.figure("BenchmarkProcesses/svc=bare", "rss-idle-MiB")
			load := r.compare("6. "+svc+" RSS under load", name, "BenchmarkProcesses/svc=bare", "rss-load-MiB", 0)
			ready := r.compare("6. "+svc+" start to ready", name, "BenchmarkProcesses/svc=bare", "ready-ms", 0)
			rows = append(rows, idle, load, ready)
		}
	}
	return rows
}

// Write prints rows as an aligned table.
func Write(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tMEASURED\tBASELINE\tRATIO\tTARGET\tMET")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Measured, r.Baseline, r.Ratio, r.Target, r.Met)
	}
	return tw.Flush()
}
