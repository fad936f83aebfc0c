package waterfall_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vidstream/vidstream/services/internal/jaegerquery"
	"github.com/vidstream/vidstream/services/loadgen/internal/waterfall"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// realTraceFile is Jaeger v2's /api/v3 answer for a real trace: the PUT
// /v1/history of `loadgen demo`'s "watch to the end" flow against `make
// run`, crossing loadgen, watch-history, user and video over HTTP, gRPC,
// Kafka and SQLite. The real traces the tests share live with the package
// that parses them. The end-to-end test (make e2e) checks the same
// rendering against a trace fresh from Jaeger.
const realTraceFile = "../../../internal/jaegerquery/testdata/watch-to-the-end.json"

func realTrace(t *testing.T) *jaegerquery.Trace {
	t.Helper()
	f, err := os.Open(realTraceFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts, err := jaegerquery.ParseTraces(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || len(ts[0].Roots) != 1 {
		t.Fatalf("fixture: want one connected trace")
	}
	return ts[0]
}

func TestTextMatchesGolden(t *testing.T) {
	tr := realTrace(t)
	var out bytes.Buffer
	if err := waterfall.Text(&out, tr, waterfall.Options{Title: "demo: watch to the end", URL: "http://127.0.0.1:16686/trace/" + tr.ID}); err != nil {
		t.Fatal(err)
	}
	golden := "testdata/watch-to-the-end.txt"
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("waterfall differs from %s (go test -update rewrites it):\n%s", golden, out.String())
	}
}

// TestTextRowsFollowTheTree checks the rendering's structure against the
// trace rather than a golden copy: a row per span in depth-first order,
// indented by depth, with the span's service, kind and transport, and its
// bar starting where the span starts on the time axis.
func TestTextRowsFollowTheTree(t *testing.T) {
	tr := realTrace(t)
	const width = 40
	var out bytes.Buffer
	if err := waterfall.Text(&out, tr, waterfall.Options{BarWidth: width, NameWidth: 200}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	header := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "SPAN ") })
	rows := lines[header+1:]
	if len(rows) != len(tr.Spans) {
		t.Fatalf("%d rows for %d spans", len(rows), len(tr.Spans))
	}
	barColumn := utf8.RuneCountInString(lines[header]) - width
	i := 0
	tr.Walk(func(s *jaegerquery.Span) {
		row := rows[i]
		i++
		indent := utf8.RuneCountInString(row) - utf8.RuneCountInString(strings.TrimLeft(row, " │├└─"))
		if indent != 3*s.Depth() || !strings.HasPrefix(strings.TrimLeft(row, " │├└─"), s.Name+" ") {
			t.Errorf("row %q: want %q indented %d", row, s.Name, 3*s.Depth())
		}
		via := string(s.Transport())
		if via == "" {
			via = "-"
		}
		fields := strings.Fields(string([]rune(row)[:barColumn]))
		n := len(fields)
		if fields[n-5] != s.Service || fields[n-4] != string(s.Kind) || fields[n-3] != via {
			t.Errorf("row %q: want service %s, kind %s, via %s", row, s.Service, s.Kind, via)
		}
		bar := []rune(row)[barColumn:]
		lead := len(bar) - len([]rune(strings.TrimLeft(string(bar), " ")))
		want := int(float64(s.Start.Sub(tr.Start())) / float64(tr.Duration()) * width)
		if lead != min(want, width-1) {
			t.Errorf("row %q: bar starts at column %d, want %d", row, lead, want)
		}
	})
}

func TestColorsOnlyWhenAsked(t *testing.T) {
	tr := realTrace(t)
	var plain, colored bytes.Buffer
	if err := waterfall.Text(&plain, tr, waterfall.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := waterfall.Text(&colored, tr, waterfall.Options{Color: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") || !strings.Contains(colored.String(), "\x1b[") {
		t.Error("ANSI colours must appear with Color and only then")
	}
}

func TestBar(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		offset, d, total time.Duration
		width            int
		want             string
	}{
		{0, 10 * ms, 10 * ms, 4, "████"},
		{5 * ms, 5 * ms, 10 * ms, 4, "  ██"},
		{0, 5 * ms, 8 * ms, 4, "██▌"},                   // 2.5 columns
		{2 * ms, 1 * time.Microsecond, 8 * ms, 4, " ▏"}, // too short to see: 1/8 column
		{10 * ms, 0, 10 * ms, 4, "   ▏"},                // at the very end: still on the axis
		{0, 20 * ms, 10 * ms, 4, "████"},                // clock skew: clamped
		{0, 1 * ms, 0, 4, ""},                           // empty trace
		{-1 * ms, 1 * ms, 10 * ms, 10, "█"},             // starts before the trace (skew)
		{0, 1 * ms, 8 * ms, 8, "█"},
	} {
		if got := waterfall.Bar(tt.offset, tt.d, tt.total, tt.width); got != tt.want {
			t.Errorf("Bar(%s, %s, %s, %d) = %q, want %q", tt.offset, tt.d, tt.total, tt.width, got, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                         "0µs",
		999 * time.Microsecond:    "999µs",
		1234 * time.Microsecond:   "1.23ms",
		12345 * time.Microsecond:  "12.3ms",
		123456 * time.Microsecond: "123ms",
		1500 * time.Millisecond:   "1.50s",
	} {
		if got := waterfall.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// The SVG is a standalone picture: well-formed XML, a bar (with a tooltip)
// per span, every name present and escaped.
func TestSVG(t *testing.T) {
	tr := realTrace(t)
	var out bytes.Buffer
	if err := waterfall.SVG(&out, tr, `PUT /v1/history & "friends" <one trace>`); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(out.Bytes()))
	var texts []string
	bars := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if el.Name.Local == "title" {
				bars++
			}
		case xml.CharData:
			texts = append(texts, string(el))
		}
	}
	if bars != len(tr.Spans) {
		t.Errorf("%d bars for %d spans", bars, len(tr.Spans))
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{`PUT /v1/history & "friends" <one trace>`, tr.ID, "process vidstream.watch.v1", "consumer · kafka", "client · grpc"} {
		if !strings.Contains(all, want) {
			t.Errorf("SVG text lacks %q", want)
		}
	}
	if err := waterfall.SVG(io.Discard, &jaegerquery.Trace{ID: "x"}, ""); err == nil {
		t.Error("SVG of an empty trace succeeded")
	}
}
