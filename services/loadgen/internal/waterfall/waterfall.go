// Package waterfall draws a trace the way Jaeger's timeline does, as text
// for a terminal and as an SVG picture: one row per span, indented under
// its parent, with its service, kind, transport, start offset, duration and
// a bar placed on the trace's time axis.
//
// The Jaeger built from the Go module serves only a placeholder web page
// (docs/architecture.md#running-locally), so this is how `make run` users read their traces; the SVG
// renders the picture in the project's documentation from a real trace.
package waterfall

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vidstream/vidstream/services/internal/jaegerquery"
)

// Options tune the text rendering.
type Options struct {
	// Title heads the output; empty means the root span's name.
	Title string
	// URL, when set, is printed under the title (the trace in Jaeger's UI).
	URL string
	// BarWidth is the timeline's width in columns; zero means 32.
	BarWidth int
	// NameWidth caps the span column; zero means 56.
	NameWidth int
	// Color adds ANSI colours (per service; errors in red).
	Color bool
}

// Row is one line of a waterfall: a span and how to draw it.
type Row struct {
	Span *jaegerquery.Span
	// Tree is the indentation drawn before the name ("│  ├─ ").
	Tree string
	// Offset is the span's start relative to the trace's start.
	Offset time.Duration
}

// Rows lays t out depth first, siblings in start order, with tree guides.
func Rows(t *jaegerquery.Trace) []Row {
	var rows []Row
	start := t.Start()
	var walk func(s *jaegerquery.Span, prefix string, last, root bool)
	walk = func(s *jaegerquery.Span, prefix string, last, root bool) {
		tree, childPrefix := "", ""
		if !root {
			if last {
				tree, childPrefix = prefix+"└─ ", prefix+"   "
			} else {
				tree, childPrefix = prefix+"├─ ", prefix+"│  "
			}
		}
		rows = append(rows, Row{Span: s, Tree: tree, Offset: s.Start.Sub(start)})
		for i, c := range s.Children {
			walk(c, childPrefix, i == len(s.Children)-1, false)
		}
	}
	for _, r := range t.Roots {
		walk(r, "", true, true)
	}
	return rows
}

// Text writes t as a waterfall to w.
func Text(w io.Writer, t *jaegerquery.Trace, opt Options) error {
	if len(t.Spans) == 0 {
		_, err := fmt.Fprintf(w, "trace %s: no spans\n", t.ID)
		return err
	}
	if opt.BarWidth <= 0 {
		opt.BarWidth = 32
	}
	if opt.NameWidth <= 0 {
		opt.NameWidth = 56
	}
	rows := Rows(t)
	total := t.Duration()
	title := opt.Title
	if title == "" {
		title = t.Roots[0].Name
	}

	var b strings.Builder
	services := t.Services()
	fmt.Fprintf(&b, "%s — trace %s: %d spans, %d services (%s), %s\n",
		title, t.ID, len(t.Spans), len(services), strings.Join(services, ", "), FormatDuration(total))
	if opt.URL != "" {
		fmt.Fprintf(&b, "%s\n", opt.URL)
	}
	if len(t.Roots) > 1 {
		fmt.Fprintf(&b, "note: %d spans have no parent in the trace (their parent has not reached Jaeger yet, or was not sampled)\n", len(t.Roots)-1)
	}
	b.WriteString("\n")

	nameWidth := 4
	for _, r := range rows {
		nameWidth = max(nameWidth, utf8.RuneCountInString(r.Tree)+utf8.RuneCountInString(r.Span.Name))
	}
	nameWidth = min(nameWidth, opt.NameWidth)
	svcWidth := len("SERVICE")
	for _, s := range services {
		svcWidth = max(svcWidth, utf8.RuneCountInString(s))
	}
	colors := serviceColors(services)

	fmt.Fprintf(&b, "%-*s  %-*s  %-8s  %-8s  %9s  %9s  %s\n",
		nameWidth, "SPAN", svcWidth, "SERVICE", "KIND", "VIA", "START", "DURATION", axis(total, opt.BarWidth))
	for _, r := range rows {
		s := r.Span
		name := truncate(r.Tree+s.Name, nameWidth)
		pad := strings.Repeat(" ", nameWidth-utf8.RuneCountInString(name))
		svc := fmt.Sprintf("%-*s", svcWidth, s.Service)
		bar := Bar(r.Offset, s.Duration(), total, opt.BarWidth)
		if opt.Color {
			svc = colors[s.Service] + svc + ansiReset
			bar = colors[s.Service] + bar + ansiReset
		}
		mark := ""
		if s.Error {
			mark = "  ✗ error"
			if s.StatusMessage != "" {
				mark += ": " + s.StatusMessage
			}
			if opt.Color {
				mark = ansiRed + mark + ansiReset
			}
		}
		via := string(s.Transport())
		if via == "" {
			via = "-"
		}
		fmt.Fprintf(&b, "%s%s  %s  %-8s  %-8s  %9s  %9s  %s%s\n",
			name, pad, svc, s.Kind, via, FormatDuration(r.Offset), FormatDuration(s.Duration()), bar, mark)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// axis labels the timeline column: 0 on the left, the total on the right.
func axis(total time.Duration, width int) string {
	left, right := "0", FormatDuration(total)
	gap := width - len(left) - len(right)
	if gap < 1 {
		return left + " " + right
	}
	return left + strings.Repeat(" ", gap) + right
}

// eighths are the left-aligned partial blocks, 1/8 to 7/8 of a column.
var eighths = []rune{'▏', '▎', '▍', '▌', '▋', '▊', '▉'}

// Bar draws a span on a timeline of width columns spanning total: spaces
// up to its start, then full blocks and a partial block for its length, so
// short spans stay visible (at least 1/8 of a column) and lengths are
// comparable to an eighth of a column.
func Bar(offset, d, total time.Duration, width int) string {
	if total <= 0 || width <= 0 {
		return ""
	}
	scale := float64(width) / float64(total)
	startCol := min(int(math.Floor(float64(offset)*scale)), width-1)
	startCol = max(startCol, 0)
	eighthsLen := max(int(math.Round(float64(d)*scale*8)), 1)
	eighthsLen = min(eighthsLen, (width-startCol)*8)
	full, part := eighthsLen/8, eighthsLen%8
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", startCol))
	b.WriteString(strings.Repeat("█", full))
	if part > 0 {
		b.WriteRune(eighths[part-1])
	}
	return b.String()
}

// FormatDuration prints a duration with three significant digits, in the
// unit Jaeger's UI uses for it.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func truncate(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

const (
	ansiReset = "\x1b[0m"
	ansiRed   = "\x1b[31m"
)

// serviceColors gives each service an ANSI colour: vidstream's own always
// the same one, so a service is recognised at a glance across traces, any
// other by order of appearance.
func serviceColors(services []string) map[string]string {
	known := map[string]string{
		"loadgen":       "\x1b[90m",
		"user":          "\x1b[34m",
		"video":         "\x1b[35m",
		"watch-history": "\x1b[32m",
	}
	others := []string{"\x1b[33m", "\x1b[36m", "\x1b[94m", "\x1b[95m"}
	out := make(map[string]string, len(services))
	n := 0
	for _, s := range services {
		if c, ok := known[s]; ok {
			out[s] = c
			continue
		}
		out[s] = others[n%len(others)]
		n++
	}
	return out
}
